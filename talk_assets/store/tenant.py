"""One DuckDB file per tenant: source snapshots and flow outputs (written by the IO manager)
plus the engine's own state tables (schema `state`) and the sync log.

DuckDB lets one process open a file read-write and no other process open it at all meanwhile
(STACK_NOTES). So every connection here is short-lived, and opening retries for a bounded time
when another process holds the file, instead of failing at once.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path

import duckdb
import polars as pl
from tenacity import Retrying, retry_if_exception, stop_after_delay, wait_exponential

from talk_assets.store import cursors
from talk_assets.store.locks import file_lock
from talk_assets.store.names import STATE_SCHEMA, q

__all__ = ["STATE_SCHEMA", "Keyed", "StateLocked", "TenantStore", "home", "q", "tenant_path"]

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_held: dict[str, duckdb.DuckDBPyConnection] = {}
_held_lock = threading.Lock()


Keyed = tuple[pl.DataFrame, Sequence[str]]
"""Rows and the columns that key them, for `TenantStore.write_tables` upserts and removals."""


class StateLocked(RuntimeError):
    """Another process holds the tenant's state file for longer than we are willing to wait."""


def _locked(exc: BaseException) -> bool:
    """DuckDB refused the file because another process holds its lock."""
    return isinstance(exc, duckdb.IOException) and "lock" in str(exc).lower()


def home() -> Path:
    return Path(os.environ.get("TALK_ASSETS_HOME", ".talk_assets"))


def tenant_path(tenant: str = "default", base: Path | None = None) -> Path:
    if not _IDENT.match(tenant.replace("-", "_")):
        raise ValueError(f"tenant name {tenant!r}: use letters, digits, '-' and '_' only")
    return (base or home()) / f"{tenant}.duckdb"


class TenantStore:
    """Short-lived connections to one tenant's DuckDB file, and atomic table writes."""

    def __init__(
        self, path: str | Path, *, lock_timeout: float = 60.0, read_only: bool = False
    ) -> None:
        self.path = Path(path)
        self.lock_timeout = lock_timeout
        self.readonly = read_only

    def __repr__(self) -> str:
        return f"TenantStore({str(self.path)!r})"

    @contextmanager
    def held(self) -> Iterator[None]:
        """Keep one read-write connection to the file open for a while (a run).

        Opening a DuckDB file costs ~10 ms and a run opens it hundreds of times (every IO
        manager load and store, every state read); while held, `connect` hands out cheap
        cursors of this connection instead. The file is locked against other processes
        meanwhile, as it is anyway while a run writes.
        """
        key = str(self.path.resolve())
        with _held_lock:
            nested = key in _held
        if nested:  # an outer `held` of this process owns the connection
            yield
            return
        with self._open(read_only=False) as con:
            with _held_lock:
                _held[key] = con
            try:
                yield
            finally:
                with _held_lock:
                    _held.pop(key, None)
                write_back(con)

    @contextmanager
    def connect(self, *, read_only: bool | None = None) -> Iterator[duckdb.DuckDBPyConnection]:
        """A connection: a cursor of the held one if this process holds the file, else new."""
        with _held_lock:
            shared = _held.get(str(self.path.resolve())) if self.path.exists() else None
        if shared is not None:
            cursor = shared.cursor()
            try:
                yield cursor
            finally:
                cursor.close()
            return
        with self._open(read_only=self.readonly if read_only is None else read_only) as con:
            yield con

    @contextmanager
    def _open(self, *, read_only: bool) -> Iterator[duckdb.DuckDBPyConnection]:
        if read_only and not self.path.exists():
            raise FileNotFoundError(f"no state yet at {self.path}: run `talk-assets sync` first")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if not self.path.exists():
            self._create()
        connect = Retrying(
            retry=retry_if_exception(_locked),
            stop=stop_after_delay(self.lock_timeout),
            wait=wait_exponential(multiplier=0.05, max=1.0),
            reraise=True,
        )
        try:
            con = connect(duckdb.connect, str(self.path), read_only=read_only)
        except duckdb.IOException as exc:
            if not _locked(exc):
                raise
            raise StateLocked(
                f"{self.path} is held by another process (a running sync?) "
                f"for more than {self.lock_timeout:.0f} s"
            ) from None
        try:
            yield con
        finally:
            con.close()

    def _create(self) -> None:
        """Create the file, one process at a time: two first syncs at once must not both."""
        with file_lock(self.path.with_name(f"{self.path.name}.create.lock"), timeout=60):
            if not self.path.exists():
                duckdb.connect(str(self.path)).close()

    def read_only(self, lock_timeout: float = 2.0) -> TenantStore:
        """The same file for readers that must not wait long (sensors, `lineage`)."""
        return TenantStore(self.path, lock_timeout=lock_timeout, read_only=True)

    def exists(self) -> bool:
        return self.path.exists()

    @staticmethod
    def tables(con: duckdb.DuckDBPyConnection, schema: str) -> set[str]:
        # fetchall: duckdb 2 keeps a half-read result open and refuses further work meanwhile
        rows = con.execute(
            "select table_name from duckdb_tables() where schema_name = ?", [schema]
        ).fetchall()
        return {r[0] for r in rows}

    @classmethod
    def has_table(cls, con: duckdb.DuckDBPyConnection, schema: str, table: str) -> bool:
        return table in cls.tables(con, schema)

    @staticmethod
    def columns(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> list[str]:
        """A table's columns in order; empty when it does not exist (yet)."""
        rows = con.execute(
            "select column_name from duckdb_columns() "
            "where schema_name = ? and table_name = ? order by column_index",
            [schema, table],
        ).fetchall()
        return [r[0] for r in rows]

    def column_names(self, schema: str, table: str) -> list[str]:
        """`columns` of a table of the file (empty before the file exists)."""
        if not self.exists():
            return []
        with self.connect() as con:
            return self.columns(con, schema, table)

    def read_table(self, schema: str, table: str) -> pl.DataFrame | None:
        """A table as a polars frame, or None when it does not exist (yet)."""
        return self.read_tables(schema, [table])[table]

    def read_tables(self, schema: str, names: Iterable[str]) -> dict[str, pl.DataFrame | None]:
        """Several tables of one schema through one connection; None for missing ones."""
        names = list(names)
        if not self.exists():
            return dict.fromkeys(names)
        with self.connect() as con:
            present = self.tables(con, schema)
            return {
                n: con.sql(f"select * from {q(schema)}.{q(n)}").pl() if n in present else None
                for n in names
            }

    def table_names(self, schema: str) -> set[str]:
        if not self.exists():
            return set()
        with self.connect() as con:
            return self.tables(con, schema)

    def query(self, sql: str, **frames: pl.DataFrame) -> pl.DataFrame:
        """SQL against the file, with polars frames visible under their keyword names: for
        questions whose answer is small when the table is not."""
        with self.connect() as con:
            for name, frame in frames.items():
                con.register(name, frame.to_arrow())
            return con.sql(sql).pl()

    def newest(self, schema: str, table: str, column: str) -> str | None:
        """The value of a timestamp text column (ISO 8601) that is the latest instant, as
        written; None when the table is missing or empty. The cursor kept beside the snapshot
        (`cursors.py`), else one scan of the column."""
        if not self.exists():
            return None
        with self.connect() as con:
            if not self.has_table(con, schema, table):
                return None
            has_cursors = self.has_table(con, STATE_SCHEMA, cursors.CURSORS)
            found, value = cursors.kept_cursor(con, schema, table, column, has_table=has_cursors)
            if found:
                return value
            rows = con.execute(cursors.newest_sql(column, f"{q(schema)}.{q(table)}")).fetchall()
        return rows[0][0] if rows else None

    def write_tables(
        self,
        replace: Mapping[str, pl.DataFrame] | None = None,
        append: Mapping[str, pl.DataFrame] | None = None,
        *,
        schema: str = STATE_SCHEMA,
        upsert: Mapping[str, Keyed] | None = None,
        remove: Mapping[str, Keyed] | None = None,
    ) -> None:
        """Replace, upsert, remove and append in ONE transaction: all of it lands, or none of
        it (S10). `upsert`: table -> (rows, key columns), the rows replace stored rows with the
        same key; `remove`: table -> (keys, key columns), stored rows with those keys go. Both
        touch only the rows named, so a batch that changed little writes little."""
        with self.connect(read_only=False) as con:
            con.execute("begin transaction")
            try:
                con.execute(f"create schema if not exists {q(schema)}")
                present = self.tables(con, schema)  # once: this transaction's own view
                for name, frame in (replace or {}).items():
                    _replace(con, schema, name, frame)
                    present.add(name)
                for name, (keys, columns) in (remove or {}).items():
                    _delete_keys(con, schema, name, keys, columns, present)
                for name, (frame, columns) in (upsert or {}).items():
                    _delete_keys(con, schema, name, frame, columns, present)
                    _append(con, schema, name, frame, present)
                for name, frame in (append or {}).items():
                    _append(con, schema, name, frame, present)
                con.execute("commit")
            except BaseException:
                con.execute("rollback")
                raise

    def store_snapshot(
        self,
        schema: str,
        table: str,
        frame: pl.DataFrame,
        *,
        key: str | None,
        append: Mapping[str, pl.DataFrame] | None = None,
        cursor: str | None = None,
    ) -> None:
        """Store records of one snapshot table and append state rows, in ONE transaction.

        key None: the frame is the whole snapshot (a full read) and replaces the table. Else
        the frame holds changed records that replace the stored rows with the same `key` (an
        upsert by key: a run that read little writes little). A table whose columns differ
        from the frame's (the schema grew) is rewritten whole once. `cursor`: the records'
        last-changed column, whose newest value is kept beside the snapshot (`newest`).
        """
        with self.connect(read_only=False) as con:
            con.execute("begin transaction")
            try:
                con.execute(f"create schema if not exists {q(schema)}")
                con.execute(f"create schema if not exists {q(STATE_SCHEMA)}")
                columns = self.columns(con, schema, table)
                stored, whole = frame, key is None or not columns  # what the table holds now
                if whole:
                    _replace(con, schema, table, frame)
                elif columns != frame.columns:
                    stored = con.sql(f"select * from {q(schema)}.{q(table)}").pl()
                    kept = stored.join(frame.select(key), on=key, how="anti")
                    merged = pl.concat([kept, frame], how="diagonal_relaxed").select(frame.columns)
                    _replace(con, schema, table, merged)
                    stored, whole = merged, True
                elif frame.height:
                    arrow = frame.to_arrow()  # noqa: F841  # referenced by name in the SQL
                    con.execute(
                        f"delete from {q(schema)}.{q(table)} "
                        f"where {q(key)} in (select {q(key)} from arrow)"
                    )
                    con.execute(f"insert into {q(schema)}.{q(table)} by name select * from arrow")
                if cursor is not None:
                    cursors.advance(con, schema, table, cursor, written=stored, whole=whole)
                for name, rows in (append or {}).items():
                    _append(con, STATE_SCHEMA, name, rows)
                con.execute("commit")
            except BaseException:
                con.execute("rollback")
                raise

    def count(self, schema: str, table: str) -> int:
        """Rows of a table (0 when it does not exist)."""
        if table not in self.table_names(schema):
            return 0
        with self.connect() as con:
            return int(con.execute(f"select count(*) from {q(schema)}.{q(table)}").fetchone()[0])


def write_back(con: duckdb.DuckDBPyConnection) -> None:
    """CHECKPOINT the run's changes into the file before its connection closes.

    Closing the last connection checkpoints anyway, but after an edited run at 100k records
    the close alone took 0.3-1.1 s in 6 of 18 runs, while with an explicit checkpoint first
    the two took 0.05-0.2 s in all 12 (interleaved A/B, issue 10). Should it fail, the close
    checkpoints, or reports, as it did before."""
    with suppress(duckdb.Error):
        con.execute("checkpoint")


def _delete_keys(
    con: duckdb.DuckDBPyConnection,
    schema: str,
    name: str,
    keys: pl.DataFrame,
    columns: Sequence[str],
    present: set[str] | None = None,
) -> None:
    """Delete the rows of a table whose `columns` equal those of a row of `keys`. `present`:
    the schema's tables, when the caller knows (else looked up)."""
    if keys.is_empty() or not _exists(con, schema, name, present):
        return
    arrow = keys.select(columns).unique().to_arrow()  # noqa: F841  # referenced in the SQL
    match = " and ".join(f"t.{q(c)} = k.{q(c)}" for c in columns)
    con.execute(f"delete from {q(schema)}.{q(name)} t using arrow k where {match}")


def _replace(con: duckdb.DuckDBPyConnection, schema: str, name: str, frame: pl.DataFrame) -> None:
    arrow = frame.to_arrow()  # noqa: F841  # referenced by name in the SQL
    con.execute(f"create or replace table {q(schema)}.{q(name)} as select * from arrow")


def _append(
    con: duckdb.DuckDBPyConnection,
    schema: str,
    name: str,
    frame: pl.DataFrame,
    present: set[str] | None = None,
) -> None:
    """Append rows; the first rows create the table (added to `present`, see `_delete_keys`)."""
    if not _exists(con, schema, name, present):
        _replace(con, schema, name, frame)
        if present is not None:
            present.add(name)
        return
    arrow = frame.to_arrow()  # noqa: F841  # referenced by name in the SQL
    con.execute(f"insert into {q(schema)}.{q(name)} by name select * from arrow")


def _exists(
    con: duckdb.DuckDBPyConnection, schema: str, name: str, present: set[str] | None
) -> bool:
    return name in present if present is not None else TenantStore.has_table(con, schema, name)
