"""Which records an incremental plan must cover: the whole clusters of the records that
changed (S1, S2), so planning only them gives the same writes as planning everything.

A cluster is a connected component of links and merge-criterion groups (`identity.py`). The
closure here follows the same edges from the changed records until nothing new joins. It
ignores flow filters, so it may take in a little more than the clusters (a superset of whole
clusters plans exactly like them), never less.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

import polars as pl

from talk_assets.engine.flows import FlowCtx, side
from talk_assets.engine.identity import record_key
from talk_assets.engine.merging import criterion_value
from talk_assets.engine.plan import SyncPlan
from talk_assets.engine.state import SyncState
from talk_assets.systems import Datatype

MAX_ROUNDS = 1_000
"""Closure rounds, each one hop further out; clusters are far shallower than this."""

STATE_RECORD_COLUMNS = {
    "links": ("source", "target"),
    "synced": ("source", "target"),
    "inserted": ("source", "target"),
    "gone": ("record",),
}
"""The record-key columns of each state table: a row belongs to the records it names."""

LINKED_PAIR_TABLES = ("links", "synced", "inserted")
"""State tables whose rows name a linked pair (source, target): a link itself, and last synced
values and insert tracking, whose pair's link `apply.state_delta` adds in the same delta. In a
scope closed under links (`closure`) a row names a record of the scope as its source whenever
it names one at all, so its source alone selects it (one column scanned, not two)."""

CRITERION_VALUES = {"group": pl.String, "value": pl.String, "record": pl.String}


def criterion_values(records: Mapping[str, pl.DataFrame], ctxs: list[FlowCtx]) -> pl.DataFrame:
    """(group, value, record) for every merge criterion side: records with equal values in one
    group are merged (S2). `records` need only the id, criterion, last-changed and parent
    columns of each datatype."""
    parts = [pl.LazyFrame(schema=CRITERION_VALUES)]
    for c in ctxs:
        rf = c.rf
        for j, (source_field, target_field) in enumerate(rf.criteria):
            group = f"{c.name}#{j}"
            for dt, field in ((rf.source, source_field), (rf.target, target_field)):
                parts.append(
                    side(records, dt, [], "", {"v": field.path})
                    .select(
                        group=pl.lit(group),
                        value=criterion_value("v", field.type),
                        record="key",
                    )
                    .filter(pl.col("value").is_not_null() & (pl.col("value") != ""))
                )
    return pl.concat(parts).unique().collect()


def reference_links(
    records: Mapping[str, pl.DataFrame], datatypes: Mapping[str, Datatype]
) -> pl.DataFrame:
    """(source, target) from each record to the records its reference fields name (a contact's
    `companyId`): a new child's parent is found through them (`parents.py`), so planning a
    record needs the referenced record's cluster too. `records` need only the id and
    reference columns."""
    parts = [pl.DataFrame(schema={"source": pl.String, "target": pl.String})]
    for key, frame in records.items():
        dt = datatypes[key]
        for field in dt.references:
            if field.path not in frame.columns:
                continue
            parts.append(
                frame.select(
                    source=record_key(key, dt.id_field),
                    target=record_key(f"{dt.system}.{field.references}", field.path),
                ).drop_nulls()
            )
    return pl.concat(parts)


def closure(seeds: pl.Series, links: pl.DataFrame, values: pl.DataFrame) -> pl.Series:
    """The record keys connected to `seeds` through `links` (source, target; links, and
    `reference_links`, either way) and shared criterion `values` (group, value, record), seeds
    included, sorted."""
    scope = seeds.cast(pl.String).drop_nulls().unique()
    for _ in range(MAX_ROUNDS):
        inside = scope.implode()
        linked = links.filter(pl.col("source").is_in(inside) | pl.col("target").is_in(inside))
        shared = values.join(
            values.filter(pl.col("record").is_in(inside)).select("group", "value").unique(),
            on=["group", "value"],
        )
        grown = pl.concat([scope, linked["source"], linked["target"], shared["record"]]).unique()
        if grown.len() == scope.len():
            return scope.sort().rename("record")
        scope = grown
    raise RuntimeError("cluster closure did not converge")  # pragma: no cover


def scope_columns(table: str) -> tuple[str, ...]:
    """The columns that select a state table's rows of a scope closed under links."""
    columns = STATE_RECORD_COLUMNS[table]
    return columns[:1] if table in LINKED_PAIR_TABLES else columns


def restrict(
    records: Mapping[str, pl.DataFrame],
    state: SyncState,
    scope: pl.Series,
    datatypes: Mapping[str, Datatype],
) -> tuple[dict[str, pl.DataFrame], SyncState]:
    """The records and state rows of the records in `scope` (record keys, closed under links):
    what planning the scope's clusters reads. The tenant store does the same with queries
    (`defs/plan_scope.py`)."""
    inside = scope.cast(pl.String).implode()
    frames = {
        key: df.filter(record_key(key, datatypes[key].id_field).is_in(inside))
        for key, df in records.items()
    }
    kept = {
        table: getattr(state, table).filter(
            pl.any_horizontal([pl.col(c).is_in(inside) for c in scope_columns(table)])
        )
        for table in STATE_RECORD_COLUMNS
    }
    return frames, state.replace(**kept)


def carried_over(plan: SyncPlan, confirmed: pl.Series) -> pl.Series:
    """Records an earlier plan left open: its writes not `confirmed` (write ids), and its
    merges and agreements (a run cut before its first commit did not record them).
    Planning them again retries them, or finds them settled at no cost. Its rejects and skips
    are not open: nothing was sent for them, so they stand until their clusters change
    (`kept_decisions`)."""
    open_writes = plan.writes.filter(~pl.col("write_id").is_in(confirmed.implode()))
    open_inserts = plan.insert_sources.join(open_writes.select("write_id"), on="write_id")
    agreed = plan.baselines.filter(pl.col("write_id").is_null())
    keys = [
        open_writes["record"],
        open_inserts["source"],
        agreed["source"],
        agreed["target"],
        plan.merges["source"],
        plan.merges["target"],
    ]
    return pl.concat([k.cast(pl.String) for k in keys]).drop_nulls().unique().rename("record")


DECISIONS = ("rejects", "skipped")
"""The plan tables that record decisions about a record, not writes: they depend only on the
record's cluster, so an unchanged cluster keeps them."""


def kept_decisions(previous: SyncPlan, scope: pl.Series) -> dict[str, pl.DataFrame]:
    """The previous plan's rejects and skips of records outside `scope` (whole clusters that
    did not change): a plan of the scope alone adds them to say what a full plan says, without
    planning every rejected record again in every run."""
    inside = scope.cast(pl.String).implode()
    return {
        name: getattr(previous, name).filter(~pl.col("record").is_in(inside)) for name in DECISIONS
    }


def decided(plan: SyncPlan) -> pl.Series:
    """The records of a plan's rejects and skips: planned again when rejects are retried."""
    keys = [plan.rejects["record"], plan.skipped["record"]]
    return pl.concat([k.cast(pl.String) for k in keys]).drop_nulls().unique().rename("record")


def with_decisions(plan: SyncPlan, kept: Mapping[str, pl.DataFrame]) -> SyncPlan:
    """`plan` with the `kept_decisions` of the clusters it did not plan."""
    return replace(
        plan,
        **{
            name: pl.concat([getattr(plan, name), kept[name].select(getattr(plan, name).columns)])
            for name in kept
        },
    )
