"""One DuckDB file per tenant: source snapshots and flow outputs (written by the IO manager)
plus the engine's own state tables (schema `state`) and the sync log.

DuckDB lets one process open a file read-write and no other process open it at all meanwhile
(STACK_NOTES). So every connection here is short-lived, and opening retries for a bounded time
when another process holds the file, instead of failing at once.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import duckdb
import polars as pl

STATE_SCHEMA = "state"
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class StateLocked(RuntimeError):
    """Another process holds the tenant's state file for longer than we are willing to wait."""


def home() -> Path:
    return Path(os.environ.get("TALK_ASSETS_HOME", ".talk_assets"))


def tenant_path(tenant: str = "default", base: Path | None = None) -> Path:
    if not _IDENT.match(tenant.replace("-", "_")):
        raise ValueError(f"tenant name {tenant!r}: use letters, digits, '-' and '_' only")
    return (base or home()) / f"{tenant}.duckdb"


def q(name: str) -> str:
    """Quote an identifier for DuckDB SQL."""
    return '"' + name.replace('"', '""') + '"'


class TenantStore:
    """Short-lived connections to one tenant's DuckDB file, and atomic table writes."""

    def __init__(self, path: str | Path, *, lock_timeout: float = 60.0) -> None:
        self.path = Path(path)
        self.lock_timeout = lock_timeout

    def __repr__(self) -> str:
        return f"TenantStore({str(self.path)!r})"

    @contextmanager
    def connect(self, *, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        if read_only and not self.path.exists():
            raise FileNotFoundError(f"no state yet at {self.path}: run `talk-assets sync` first")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        deadline = time.monotonic() + self.lock_timeout
        delay = 0.05
        while True:
            try:
                con = duckdb.connect(str(self.path), read_only=read_only)
                break
            except duckdb.IOException as exc:
                if "lock" not in str(exc).lower() or time.monotonic() > deadline:
                    if "lock" in str(exc).lower():
                        raise StateLocked(
                            f"{self.path} is held by another process (a running sync?) "
                            f"for more than {self.lock_timeout:.0f} s"
                        ) from None
                    raise
                time.sleep(delay)
                delay = min(delay * 2, 1.0)
        try:
            yield con
        finally:
            con.close()

    def exists(self) -> bool:
        return self.path.exists()

    @staticmethod
    def has_table(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> bool:
        # fetchall: duckdb 2 keeps a half-read result open and refuses further work meanwhile
        rows = con.execute(
            "select 1 from information_schema.tables where table_schema = ? and table_name = ?",
            [schema, table],
        ).fetchall()
        return bool(rows)

    def read_table(self, schema: str, table: str) -> pl.DataFrame | None:
        """A table as a polars frame, or None when it does not exist (yet)."""
        if not self.exists():
            return None
        with self.connect() as con:
            return self.read_table_with(con, schema, table)

    @classmethod
    def read_table_with(
        cls, con: duckdb.DuckDBPyConnection, schema: str, table: str
    ) -> pl.DataFrame | None:
        if not cls.has_table(con, schema, table):
            return None
        return con.sql(f"select * from {q(schema)}.{q(table)}").pl()

    def write_tables(
        self,
        replace: Mapping[str, pl.DataFrame] | None = None,
        append: Mapping[str, pl.DataFrame] | None = None,
        *,
        schema: str = STATE_SCHEMA,
    ) -> None:
        """Replace and append tables in ONE transaction: all of it lands, or none of it (S10)."""
        with self.connect() as con:
            con.execute("begin transaction")
            try:
                con.execute(f"create schema if not exists {q(schema)}")
                for name, frame in (replace or {}).items():
                    _replace(con, schema, name, frame)
                for name, frame in (append or {}).items():
                    _append(con, schema, name, frame)
                con.execute("commit")
            except BaseException:
                con.execute("rollback")
                raise


def _replace(con: duckdb.DuckDBPyConnection, schema: str, name: str, frame: pl.DataFrame) -> None:
    arrow = frame.to_arrow()  # noqa: F841  # referenced by name in the SQL
    con.execute(f"create or replace table {q(schema)}.{q(name)} as select * from arrow")


def _append(con: duckdb.DuckDBPyConnection, schema: str, name: str, frame: pl.DataFrame) -> None:
    if not TenantStore.has_table(con, schema, name):
        _replace(con, schema, name, frame)
        return
    arrow = frame.to_arrow()  # noqa: F841  # referenced by name in the SQL
    con.execute(f"insert into {q(schema)}.{q(name)} by name select * from arrow")
