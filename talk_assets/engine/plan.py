"""The plan of one run (S3-S7, S12): what would be written, and why. Frames in `schemas.py`."""

from __future__ import annotations

from dataclasses import dataclass, fields

import polars as pl

from talk_assets.engine import schemas as sch


@dataclass(frozen=True)
class SyncPlan:
    clusters: pl.DataFrame
    mapped: pl.DataFrame
    inserts: pl.DataFrame
    insert_sources: pl.DataFrame
    updates: pl.DataFrame
    merges: pl.DataFrame
    conflicts: pl.DataFrame
    rejects: pl.DataFrame
    skipped: pl.DataFrame
    notes: pl.DataFrame
    baselines: pl.DataFrame
    writes: pl.DataFrame

    @classmethod
    def empty(cls) -> SyncPlan:
        return cls(**{name: sch.empty(schema) for name, schema in PLAN_SCHEMAS.items()})

    def frames(self) -> dict[str, pl.DataFrame]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @property
    def is_empty(self) -> bool:
        """True when the run would send no write request and find no new link (steady state)."""
        return self.writes.is_empty() and self.merges.is_empty()

    def mapped_for(self, flow: str) -> pl.DataFrame:
        """The mapped, coerced values of one flow's linked pairs."""
        return self.mapped.filter(pl.col("flow") == flow)

    def counts(self) -> pl.DataFrame:
        """Writes per target datatype (S12): columns datatype, inserts, updates, writes."""
        return counts(self)


def counts(plan: SyncPlan) -> pl.DataFrame:
    out = (
        plan.writes.group_by("datatype")
        .agg(
            inserts=(pl.col("op") == "insert").sum().cast(pl.Int64),
            updates=(pl.col("op") == "update").sum().cast(pl.Int64),
            writes=pl.len().cast(pl.Int64),
        )
        .sort("datatype")
    )
    return sch.conform(out, sch.COUNTS)


def check_circuit_breaker(plan: SyncPlan, limit: int) -> list[tuple[str, int]]:
    """Target datatypes whose planned writes (records) exceed `limit`, with their counts."""
    over = counts(plan).filter(pl.col("writes") > limit)
    return [(d, int(n)) for d, n in over.select("datatype", "writes").iter_rows()]


PLAN_SCHEMAS: dict[str, sch.Schema] = {
    "clusters": sch.CLUSTERS,
    "mapped": sch.MAPPED,
    "inserts": sch.INSERTS,
    "insert_sources": sch.INSERT_SOURCES,
    "updates": sch.UPDATES,
    "merges": sch.MERGES,
    "conflicts": sch.CONFLICTS,
    "rejects": sch.REJECTS,
    "skipped": sch.SKIPPED,
    "notes": sch.NOTES,
    "baselines": sch.BASELINES,
    "writes": sch.WRITES,
}
