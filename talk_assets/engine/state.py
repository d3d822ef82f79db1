"""The engine's persisted state: four frames with fixed schemas (see `schemas.py`)."""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

import polars as pl

from talk_assets.engine import schemas as sch


@dataclass(frozen=True)
class SyncState:
    """Links, last synced values, insert tracking and gone records, kept across runs.

    Each attribute is one table for the Dagster layer (`STATE_SCHEMAS` names them).
    """

    links: pl.DataFrame
    synced: pl.DataFrame
    inserted: pl.DataFrame
    gone: pl.DataFrame

    @classmethod
    def empty(cls) -> SyncState:
        return cls(**{name: sch.empty(schema) for name, schema in STATE_SCHEMAS.items()})

    @classmethod
    def from_frames(cls, frames: dict[str, pl.DataFrame | None]) -> SyncState:
        """Build from stored tables; a missing table is empty, columns are conformed."""
        return cls(
            **{
                name: sch.conform(frames[name], schema)
                if frames.get(name) is not None
                else sch.empty(schema)
                for name, schema in STATE_SCHEMAS.items()
            }
        )

    def frames(self) -> dict[str, pl.DataFrame]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def replace(self, **frames: pl.DataFrame) -> SyncState:
        return replace(self, **frames)


STATE_SCHEMAS: dict[str, sch.Schema] = {
    "links": sch.LINKS,
    "synced": sch.SYNCED,
    "inserted": sch.INSERTED,
    "gone": sch.GONE,
}
