"""The engine's state tables, read and written by key: only the rows a plan or a batch names.

A run that changed little reads and writes little: planning reads the state of the clusters it
plans (`state_of`), and each sink batch adds links and insert tracking and replaces the synced
values it confirmed (`commit_delta`), in one transaction with its sync-log rows (S10).

Last synced values live in two tables: `synced` (millions of rows at 100k records per
datatype) and `synced_changes` (`SYNCED_CHANGES`), where commits replace values by key. A
keyed delete scans its whole table, so replacing values in `synced` cost every commit a scan
of millions of rows (0.05-0.16 s at 100k records); in `synced_changes` it costs a scan of at
most `FOLD_ROWS`. A row of `synced_changes` supersedes the row of `synced` with its key;
every read sees `synced` with them applied, and `fold_synced` moves them into `synced` once
there are `FOLD_ROWS` (one scan of `synced` per that many replaced values, not per commit).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

import polars as pl

from talk_assets.engine import STATE_SCHEMAS, SyncState
from talk_assets.engine.apply import SYNCED_KEY, StateDelta
from talk_assets.engine.schemas import INSERTED, LINKS
from talk_assets.engine.scope import STATE_RECORD_COLUMNS
from talk_assets.store.tenant import STATE_SCHEMA, TenantStore, q

SYNCED_CHANGES = "synced_changes"
"""Last synced values replaced since the last `fold_synced` (see the module)."""
FOLD_ROWS = 20_000
"""Rows of `SYNCED_CHANGES` that make `fold_synced` fold: each read of synced values
anti-joins them (~1 ms per 10k rows), a fold scans `synced` once (~0.1 s at 3M rows)."""


def load_state(store: TenantStore) -> SyncState:
    """The whole state (a full plan)."""
    frames = store.read_tables(STATE_SCHEMA, [*STATE_SCHEMAS, SYNCED_CHANGES])
    changes = frames.pop(SYNCED_CHANGES)
    synced = frames.get("synced")
    if changes is not None and changes.height:
        kept = [] if synced is None else [synced.join(changes, on=SYNCED_KEY, how="anti")]
        frames["synced"] = pl.concat([changes, *kept], how="vertical_relaxed")
    return SyncState.from_frames(frames)


def naming_columns(table: str, by_source: Collection[str] = ()) -> Sequence[str]:
    """The columns of a state table that name its records: every one, or only the first (the
    source) when `table` is one of `by_source`."""
    columns = STATE_RECORD_COLUMNS[table]
    return columns[:1] if table in by_source else columns


def state_of(
    store: TenantStore,
    records: pl.Series,
    tables: Sequence[str] | None = None,
    present: set[str] | None = None,
    *,
    by_source: Collection[str] = (),
) -> SyncState:
    """The state rows that name one of `records` (record keys), in every state table (or in
    `tables`; the others are left empty). `present`: the state tables that exist, when the
    caller knows (else looked up). `by_source`: tables of which only the rows whose `source`
    is one of `records` are wanted (one column scanned, not two)."""
    keys = pl.DataFrame({"record": records.cast(pl.String).unique()})
    if keys.is_empty():  # nothing named: no query (each one scans its table)
        return SyncState.from_frames({})
    if present is None:
        present = store.table_names(STATE_SCHEMA)
    frames: dict[str, pl.DataFrame | None] = {}
    changes = SYNCED_CHANGES in present
    for table in STATE_RECORD_COLUMNS:
        stored = table in present or (table == "synced" and changes)
        if not stored or (tables is not None and table not in tables):
            frames[table] = None
            continue
        named_by = naming_columns(table, by_source)
        naming = " or ".join(f"{q(c)} in (select record from keys)" for c in named_by)
        select = f"select * from {STATE_SCHEMA}.{q(table)} where {naming}"
        if table == "synced" and changes:
            select = _current_synced(naming, with_base="synced" in present)
        frames[table] = store.query(select, keys=keys)
    return SyncState.from_frames(frames)


def _current_synced(where: str, *, with_base: bool) -> str:
    """SQL for the synced values `where` holds of: the replaced ones from `SYNCED_CHANGES`,
    the others from `synced` (`with_base`: it exists)."""
    changes = f"{STATE_SCHEMA}.{q(SYNCED_CHANGES)}"
    replaced = f"select * from {changes} where {where}"
    if not with_base:
        return replaced
    same_key = " and ".join(f"c.{q(c)} = s.{q(c)}" for c in SYNCED_KEY)
    return (
        f"{replaced} union all by name select * from {STATE_SCHEMA}.synced s where {where} "
        f"and not exists (select 1 from {changes} c where {same_key})"
    )


def fold_synced(store: TenantStore, at_least: int = FOLD_ROWS) -> bool:
    """Move the rows of `SYNCED_CHANGES` into `synced` (replacing the rows with their keys)
    once there are `at_least` of them, in one transaction; whether it folded."""
    changes = f"{STATE_SCHEMA}.{q(SYNCED_CHANGES)}"
    same_key = " and ".join(f"c.{q(c)} = s.{q(c)}" for c in SYNCED_KEY)
    with store.connect(read_only=False) as con:
        present = TenantStore.tables(con, STATE_SCHEMA)
        if SYNCED_CHANGES not in present:
            return False
        if con.execute(f"select count(*) from {changes}").fetchall()[0][0] < max(at_least, 1):
            return False
        con.execute("begin transaction")
        try:
            if "synced" in present:
                con.execute(
                    f"delete from {STATE_SCHEMA}.synced s using {changes} c where {same_key}"
                )
                con.execute(f"insert into {STATE_SCHEMA}.synced by name select * from {changes}")
            else:
                con.execute(f"create table {STATE_SCHEMA}.synced as select * from {changes}")
            con.execute(f"delete from {changes}")
            con.execute("commit")
        except BaseException:
            con.execute("rollback")
            raise
    return True


def delta_tables(delta: StateDelta) -> dict[str, dict]:
    """`TenantStore.write_tables` arguments that store a delta: links and insert tracking are
    appended, synced values replace the rows with their key in `SYNCED_CHANGES` (those of
    records the batch created, which no row can have, are appended to `synced`)."""
    append = {}
    if delta.links.height:
        append["links"] = delta.links.select(list(LINKS))
    if delta.inserted.height:
        append["inserted"] = delta.inserted.select(list(INSERTED))
    if delta.synced_new.height:  # no stored row to replace: no delete (a scan of the table)
        append["synced"] = delta.synced_new
    upsert = {}
    if delta.synced.height:
        upsert[SYNCED_CHANGES] = (delta.synced, list(SYNCED_KEY))
    return {"append": append, "upsert": upsert}


def remove_keys(column: str, values: Sequence[str]) -> tuple[pl.DataFrame, list[str]]:
    """A `TenantStore.write_tables` removal of the rows whose `column` is one of `values`."""
    return pl.DataFrame({column: list(values)}, schema={column: pl.String}), [column]
