"""The engine's state tables, read and written by key: only the rows a plan or a batch names.

A run that changed little reads and writes little: planning reads the state of the clusters it
plans (`state_of`), and each sink batch adds links and insert tracking and replaces the synced
values it confirmed (`commit_delta`), in one transaction with its sync-log rows (S10).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

import polars as pl

from talk_assets.engine import STATE_SCHEMAS, SyncState
from talk_assets.engine.apply import SYNCED_KEY, StateDelta
from talk_assets.engine.schemas import INSERTED, LINKS
from talk_assets.engine.scope import STATE_RECORD_COLUMNS
from talk_assets.store.tenant import STATE_SCHEMA, TenantStore, q


def load_state(store: TenantStore) -> SyncState:
    """The whole state (a full plan)."""
    return SyncState.from_frames(store.read_tables(STATE_SCHEMA, STATE_SCHEMAS))


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
    for table in STATE_RECORD_COLUMNS:
        if table not in present or (tables is not None and table not in tables):
            frames[table] = None
            continue
        named_by = naming_columns(table, by_source)
        naming = " or ".join(f"{q(c)} in (select record from keys)" for c in named_by)
        frames[table] = store.query(
            f"select * from {STATE_SCHEMA}.{q(table)} where {naming}", keys=keys
        )
    return SyncState.from_frames(frames)


def delta_tables(delta: StateDelta) -> dict[str, dict]:
    """`TenantStore.write_tables` arguments that store a delta: links and insert tracking are
    appended, synced values replace the rows with their key (those of records the batch
    created are appended: at 100k records a keyed delete scans ~3M rows, ~0.2 s)."""
    append = {}
    if delta.links.height:
        append["links"] = delta.links.select(list(LINKS))
    if delta.inserted.height:
        append["inserted"] = delta.inserted.select(list(INSERTED))
    if delta.synced_new.height:  # no stored row to replace: no delete (a scan of the table)
        append["synced"] = delta.synced_new
    upsert = {}
    if delta.synced.height:
        upsert["synced"] = (delta.synced, list(SYNCED_KEY))
    return {"append": append, "upsert": upsert}


def remove_keys(column: str, values: Sequence[str]) -> tuple[pl.DataFrame, list[str]]:
    """A `TenantStore.write_tables` removal of the rows whose `column` is one of `values`."""
    return pl.DataFrame({column: list(values)}, schema={column: pl.String}), [column]
