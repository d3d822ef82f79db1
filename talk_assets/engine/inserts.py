"""Inserts (S3, S8): one new target record per cluster that lacks one.

Flows into the same target datatype are planned together: their candidates are grouped by
cluster, values merged in document order (first non-empty wins), so several flows into one
target datatype give one record per cluster.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import polars as pl

from talk_assets.engine import schemas as sch
from talk_assets.engine.flows import FlowCtx, side
from talk_assets.engine.identity import LABEL
from talk_assets.engine.lazy import collect_all
from talk_assets.engine.mapping import coerce, parse_to
from talk_assets.engine.parents import plan_parents
from talk_assets.systems import Datatype


@dataclass
class InsertPlan:
    """Insert candidates of one target datatype, before their values settle (`cascade.py`).

    candidates: one per cluster lacking a target record whose parent is known (write_id,
    cluster, label, flow, source_key, parent_id); values: their merged writable non-empty values
    (write_id, path, field_value, field_type, changed_at), first non-empty in document order,
    with the last-changed timestamp of the source record each comes from (S4); fixed: target
    filter values (write_id, path, field_value, field_type); contributors: (write_id, flow,
    source_key). Required fields and "nothing to write" are decided on the settled values.
    """

    target: Datatype
    candidates: pl.LazyFrame
    values: pl.LazyFrame
    fixed: pl.LazyFrame
    contributors: pl.LazyFrame
    rejects: pl.LazyFrame
    skipped: pl.LazyFrame


def _candidates(
    records: Mapping[str, pl.DataFrame],
    ctx: FlowCtx,
    names: pl.LazyFrame,
    inserted: pl.LazyFrame,
    covered: pl.LazyFrame,
) -> tuple[pl.LazyFrame, pl.LazyFrame]:
    """(contributors, long values) of one flow's source records needing an insert."""
    rf = ctx.rf
    cols = {f"s{i}": s.path for i, s, _, _ in ctx.writable}
    # Covered clusters first, on integer labels: in a steady state that leaves no record.
    src = (
        side(
            records,
            rf.source,
            [rf.source_filter, ctx.condition],
            "source_",
            {**cols, "label": LABEL},
        )
        .join(covered, on="label", how="anti")
        .join(
            inserted.filter(pl.col("flow") == ctx.name),
            left_on="source_key",
            right_on="source",
            how="anti",
        )
        .join(names, on="label")
        .with_columns(
            flow=pl.lit(ctx.name), flow_idx=pl.lit(ctx.idx), source_datatype=pl.lit(rf.source.name)
        )
    )
    contributors = src.select(
        "cluster", "label", "flow_idx", "flow", "source_key", "source_id", "source_datatype"
    )
    parts = []
    for i, s, t, typ in ctx.writable:
        raw, value, failed = coerce(pl.col(f"s{i}"), s.type, typ)
        parts.append(
            src.select(
                "cluster",
                "flow_idx",
                "flow",
                "source_key",
                source_property=pl.lit(s.path),
                path=pl.lit(t.path),
                type=pl.lit(typ),
                field_type=pl.lit(t.type),
                raw=raw,
                value=value,
                failed=failed,
                changed_at="source_changed_at",
            ).with_columns(field_value=parse_to(pl.col("value"), t.type))
        )
    return contributors, pl.concat(parts)


def plan_inserts(
    records: Mapping[str, pl.DataFrame],
    target: Datatype,
    flows: list[FlowCtx],
    clusters: pl.LazyFrame,
    inserted: pl.LazyFrame,
) -> InsertPlan:
    """Inserts into `target`. records: as `Identity.attach` gives them; clusters: CLUSTERS
    with each record's `node` and `label` (row i is node i)."""
    covered = clusters.filter(pl.col("datatype") == target.key).select("label").unique()
    names = clusters.select(label="node", cluster="record")
    pieces = [_candidates(records, c, names, inserted, covered) for c in flows]
    contributors, long = collect_all(
        [
            pl.concat([p[0] for p in pieces]).sort("flow_idx", "source_key"),
            pl.concat([p[1] for p in pieces]),
        ]
    )
    contributors, long = contributors.lazy(), long.lazy()

    conv_failed = pl.col("failed") | (
        pl.col("value").is_not_null() & pl.col("field_value").is_null()
    )
    rejects = [
        long.filter(conv_failed).select(
            "flow",
            record="source_key",
            property="source_property",
            value="raw",
            reason=pl.concat_str([pl.lit("cannot convert to "), pl.col("field_type")]),
        )
    ]
    good = long.filter(~conv_failed & pl.col("field_value").is_not_null())
    merged = (
        good.sort("flow_idx", "source_key", maintain_order=True)  # then mapping order
        .group_by("cluster", "path", maintain_order=True)
        .agg(pl.col("field_value", "field_type", "changed_at").first())
    )
    candidates = contributors.group_by("cluster", maintain_order=True).agg(
        pl.col("flow").first(), pl.col("source_key").first(), pl.col("label").first()
    )
    n_values = merged.group_by("cluster").agg(n=pl.len())
    skipped = []

    # Child datatypes are created under a parent record (`parents.py`).
    if target.parent:
        parents = plan_parents(records, target, flows, contributors, clusters)
        candidates = candidates.join(
            parents.select("cluster", "parent_id"), on="cluster", how="left"
        )
        orphans = parents.filter(pl.col("parent_id").is_null())
        skipped.append(
            orphans.join(n_values, on="cluster", how="anti").select(
                "flow", "record", reason=pl.lit("nothing to write")
            )
        )
        rejects.append(orphans.join(n_values, on="cluster", how="semi"))
        candidates = candidates.filter(pl.col("parent_id").is_not_null())
    else:
        candidates = candidates.with_columns(parent_id=pl.lit(None, pl.String))

    candidates = candidates.with_columns(
        write_id=pl.concat_str([pl.lit(f"insert:{target.key}:"), pl.col("cluster")])
    )
    ids = candidates.select("cluster", "write_id")
    values = merged.join(ids, on="cluster").select(
        "write_id", "path", "field_value", "field_type", "changed_at"
    )
    fixed = [
        candidates.select(
            "write_id",
            path=pl.lit(flt[0]),
            field_value=pl.lit(str(flt[1]).lower()),
            field_type=pl.lit(target.field(flt[0]).type),
        )
        for flt in sorted({c.rf.target_filter for c in flows if c.rf.target_filter}, key=str)
    ]
    return InsertPlan(
        target=target,
        candidates=candidates,
        values=values,
        fixed=pl.concat(fixed)
        if fixed
        else pl.LazyFrame(
            schema={
                "write_id": pl.String,
                "path": pl.String,
                "field_value": pl.String,
                "field_type": pl.String,
            }
        ),
        contributors=contributors.join(ids, on="cluster").select("write_id", "flow", "source_key"),
        rejects=pl.concat([r.select(list(sch.REJECTS)) for r in rejects]),
        skipped=pl.concat(skipped)
        if skipped
        else pl.LazyFrame(schema={"flow": pl.String, "record": pl.String, "reason": pl.String}),
    )
