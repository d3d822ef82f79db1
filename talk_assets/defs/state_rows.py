"""The engine's state tables, read and written by key: only the rows a plan or a batch names.

A run that changed little reads and writes little: planning reads the state of the clusters it
plans (`state_of`), and each sink batch adds links and insert tracking and replaces the synced
values it confirmed (`commit_delta`), in one transaction with its sync-log rows (S10).
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

from talk_assets.engine import STATE_SCHEMAS, SyncState
from talk_assets.engine.apply import SYNCED_KEY, StateDelta
from talk_assets.engine.schemas import INSERTED, LINKS
from talk_assets.engine.scope import STATE_RECORD_COLUMNS
from talk_assets.store.tenant import STATE_SCHEMA, TenantStore, q


def load_state(store: TenantStore) -> SyncState:
    """The whole state (a full plan)."""
    return SyncState.from_frames(store.read_tables(STATE_SCHEMA, STATE_SCHEMAS))


def state_of(
    store: TenantStore,
    records: pl.Series,
    tables: Sequence[str] | None = None,
    present: set[str] | None = None,
) -> SyncState:
    """The state rows that name one of `records` (record keys), in every state table (or in
    `tables`; the others are left empty). `present`: the state tables that exist, when the
    caller knows (else looked up)."""
    if present is None:
        present = store.table_names(STATE_SCHEMA)
    keys = pl.DataFrame({"record": records.cast(pl.String).unique()})
    frames: dict[str, pl.DataFrame | None] = {}
    for table, columns in STATE_RECORD_COLUMNS.items():
        if table not in present or (tables is not None and table not in tables):
            frames[table] = None
            continue
        naming = " or ".join(f"{q(c)} in (select record from keys)" for c in columns)
        frames[table] = store.query(
            f"select * from {STATE_SCHEMA}.{q(table)} where {naming}", keys=keys
        )
    return SyncState.from_frames(frames)


def delta_tables(delta: StateDelta) -> dict[str, dict]:
    """`TenantStore.write_tables` arguments that store a delta: links and insert tracking are
    appended, synced values replace the rows with their key."""
    append = {}
    if delta.links.height:
        append["links"] = delta.links.select(list(LINKS))
    if delta.inserted.height:
        append["inserted"] = delta.inserted.select(list(INSERTED))
    upsert = {}
    if delta.synced.height:
        upsert["synced"] = (delta.synced, list(SYNCED_KEY))
    return {"append": append, "upsert": upsert}


def remove_keys(column: str, values: Sequence[str]) -> tuple[pl.DataFrame, list[str]]:
    """A `TenantStore.write_tables` removal of the rows whose `column` is one of `values`."""
    return pl.DataFrame({column: list(values)}, schema={column: pl.String}), [column]
