"""make_plan: the whole run's plan from current records, flows and state."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import polars as pl

from talk_assets.engine import schemas as sch
from talk_assets.engine.cascade import settle
from talk_assets.engine.flows import FlowCtx, datatypes_of, prepare
from talk_assets.engine.inserts import plan_inserts
from talk_assets.engine.keys import SEEDS, HashCollisionError
from talk_assets.engine.lazy import ENGINE, collect_all
from talk_assets.engine.merging import attached, identify
from talk_assets.engine.pairs import mapped_pairs
from talk_assets.engine.plan import SyncPlan
from talk_assets.engine.reconcile import decide
from talk_assets.engine.state import SyncState
from talk_assets.engine.writes import update_rows, write_rows
from talk_assets.flows.model import Flow
from talk_assets.systems import Datatype, ResolvedFlow


def make_plan(
    records: Mapping[str, pl.DataFrame],
    flows: Sequence[ResolvedFlow | Flow],
    state: SyncState,
    datatypes: Iterable[Datatype] = (),
) -> SyncPlan:
    """Plan one run. records: datatype key -> current records with the schema's columns;
    flows in document order. Pure: nothing is written, so a dry run is just this (S12).

    The datatypes are the flows' own; `datatypes` names those of records no flow reads or
    writes (they only join clusters). Nothing is looked up by key elsewhere.
    """
    ctxs = prepare(list(flows))
    known = {**{dt.key: dt for dt in datatypes}, **datatypes_of(ctxs)}
    for attempt in SEEDS:
        try:
            return _plan(records, ctxs, state, known, (2 * attempt + 1, 2 * attempt + 2))
        except HashCollisionError:
            if attempt == SEEDS[-1]:
                raise
    raise AssertionError("unreachable")  # pragma: no cover


def _plan(
    records: Mapping[str, pl.DataFrame],
    ctxs: list[FlowCtx],
    state: SyncState,
    datatypes: Mapping[str, Datatype],
    seeds: tuple[int, int],
) -> SyncPlan:
    ident, merges = identify(records, ctxs, state, datatypes, seeds)
    clusters = ident.clusters
    attached_records = attached(records, ctxs, ident)
    cluster_nodes = clusters.hstack([ident.index["node"], ident.index["label"]]).lazy()
    long_df, details = mapped_pairs(attached_records, ctxs, ident, state)
    long = long_df.lazy()
    # `order`: the output order (flow, source, target, property) as one integer (`pairs.py`).
    mapped = long.select(*sch.MAPPED, "order").sort("order").drop("order")
    coercion_rejects = pl.concat(
        [
            long.filter(pl.col("source_unconvertible")).select(
                "flow",
                record="source",
                property="source_property",
                value="source_rendered",
                reason=pl.concat_str([pl.lit("cannot convert to "), pl.col("type")]),
            ),
            long.filter(pl.col("target_unconvertible")).select(
                "flow",
                record="target",
                property="property",
                value="target_rendered",
                reason=pl.concat_str([pl.lit("cannot convert to "), pl.col("type")]),
            ),
        ]
    )
    # Rows `decide` would answer `none` for (equal, and equal to the synced value) are dropped
    # first; the rest get their records' ids, parents and timestamps.
    settled = pl.col("source_value").eq_missing(pl.col("target_value")) & pl.col("has_synced")
    settled = settled & pl.col("synced").eq_missing(pl.col("source_value"))
    decided = decide(
        long.filter(
            pl.col("writable")
            & ~pl.col("source_unconvertible")
            & ~pl.col("target_unconvertible")
            & ~settled
        ).join(details.lazy(), on=["flow_idx", "pair"], how="left")
    ).filter(pl.col("action") != "none")

    targets: dict[str, list[FlowCtx]] = {}
    for c in ctxs:
        if c.inserts:
            targets.setdefault(c.rf.target.key, []).append(c)
    insert_plans = [
        plan_inserts(
            attached_records, group[0].rf.target, group, cluster_nodes, state.inserted.lazy()
        )
        for group in targets.values()
    ]
    mapped_df, decided_df, rejects_df = collect_all(
        [
            mapped,
            decided,
            pl.concat(
                [coercion_rejects, *[i.rejects for i in insert_plans]], how="vertical_relaxed"
            ),
        ]
    )
    updates, update_rejects = (
        f.collect(engine=ENGINE)
        for f in update_rows(decided_df.lazy().filter(pl.col("action") != "agree"))
    )
    # Clusters with a planned write or insert settle in this plan (cascade.py); the rest keep
    # the decisions above (agreements and rejects only: they write nothing).
    done = settle(
        attached_records,
        ctxs,
        long_df,
        details,
        updates.filter(pl.col("write"))["label"],
        insert_plans,
    )
    keep = ~pl.col("label").is_in(done.touched.implode())
    agreed = decided_df.filter((pl.col("action") == "agree") & keep)
    baselines = pl.concat(
        [
            agreed.select(
                "flow",
                "source",
                "target",
                "property",
                "value",
                "type",
                write_id=pl.lit(None, pl.String),
                written_path=pl.lit(None, pl.String),
                written_type=pl.lit(None, pl.String),
            ),
            updates.filter(keep).select(list(sch.BASELINES)[:9]),
            done.baselines,
        ],
        how="diagonal_relaxed",
    )
    rejects_df = pl.concat(
        [
            rejects_df,
            update_rejects.filter(keep).drop("label"),
            done.rejects,
        ],
        how="vertical_relaxed",
    )
    updates_df = done.updates
    conflicts_df = pl.concat(
        [
            sch.conform(
                decided_df.filter(pl.col("conflict") & keep).select(
                    "flow",
                    "source",
                    "target",
                    "property",
                    "source_value",
                    "target_value",
                    "synced",
                    winner=pl.when(pl.col("action") == "to_target")
                    .then(pl.lit("source"))
                    .otherwise(pl.lit("target")),
                    value="value",
                    reason="reason",
                ),
                sch.CONFLICTS,
            ),
            done.conflicts,
        ]
    )
    skipped_df = pl.concat(
        [*collect_all([i.skipped for i in insert_plans]), done.skipped], how="vertical_relaxed"
    )
    inserts_df, sources_df, base_df = done.inserts, done.insert_sources, baselines
    writes = write_rows(inserts_df, updates_df)
    notes = pl.DataFrame(
        [(c.name, n) for c in ctxs for n in c.notes], schema=sch.NOTES, orient="row"
    )
    return SyncPlan(
        clusters=clusters,
        mapped=sch.conform(mapped_df, sch.MAPPED),
        inserts=_sorted(inserts_df, sch.INSERTS, ["write_id"]),
        insert_sources=_sorted(sources_df, sch.INSERT_SOURCES, ["write_id", "flow", "source"]),
        updates=_sorted(
            updates_df.with_columns(property=pl.col("path")), sch.UPDATES, ["record", "property"]
        ),
        merges=_sorted(merges, sch.MERGES, ["flow", "source", "target"]),
        conflicts=_sorted(conflicts_df, sch.CONFLICTS, ["flow", "source", "target", "property"]),
        rejects=_sorted(rejects_df.unique(), sch.REJECTS, list(sch.REJECTS)),
        skipped=_sorted(skipped_df, sch.SKIPPED, ["flow", "record"]),
        notes=notes,
        baselines=_sorted(base_df, sch.BASELINES, ["flow", "source", "target", "property"]),
        writes=writes,
    )


def _sorted(df: pl.DataFrame, schema: sch.Schema, by: list[str]) -> pl.DataFrame:
    return sch.conform(df, schema).sort(by, nulls_last=True)
