"""Selective reads (S9) and disappearances (S8) on stored snapshots."""

from __future__ import annotations

import polars as pl

from talk_assets.engine import schemas as sch
from talk_assets.engine.state import SyncState


def merge_incremental(snapshot: pl.DataFrame, changed: pl.DataFrame, id_field: str) -> pl.DataFrame:
    """Upsert `changed` into `snapshot` by `id_field`: changed rows replace stored ones.

    Within `changed` the last row of an id wins (a later page is newer).
    """
    changed = changed.unique(subset=[id_field], keep="last", maintain_order=True)
    if snapshot.is_empty():
        return changed
    kept = snapshot.join(changed.select(id_field), on=id_field, how="anti")
    return pl.concat([kept, changed.select(snapshot.columns)], how="vertical_relaxed")


def missing_ids(snapshot: pl.DataFrame, full_read: pl.DataFrame, id_field: str) -> pl.Series:
    """Ids in the stored snapshot that a full read no longer returns."""
    return snapshot.join(full_read.select(id_field), on=id_field, how="anti")[id_field]


def mark_gone(
    state: SyncState,
    datatype_key: str,
    snapshot: pl.DataFrame,
    full_read: pl.DataFrame,
    id_field: str,
    run: str,
) -> SyncState:
    """Record the records of a full read's datatype that disappeared (S8).

    Links, insert tracking and synced values stay: the partners are left alone and the record
    is never inserted again. A record already marked keeps its first `run`.
    """
    ids = missing_ids(snapshot, full_read, id_field)
    new = pl.DataFrame(
        {
            "record": (datatype_key + ":" + ids.cast(pl.String)),
            "datatype": pl.Series([datatype_key] * len(ids), dtype=pl.String),
            "run": pl.Series([run] * len(ids), dtype=pl.String),
        }
    )
    new = sch.conform(new, sch.GONE).join(state.gone.select("record"), on="record", how="anti")
    return state.replace(gone=pl.concat([state.gone, new]))
