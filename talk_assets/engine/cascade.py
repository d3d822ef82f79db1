"""Cascade (S3-S5): one plan settles through its own planned writes and inserts.

Without it a record the plan inserts, or a value it writes, takes part in other flows only from
the next run on, so an initial load needs extra runs to settle. Here every cluster the plan
touches (an update or an insert candidate in it) is decided again on the values it will hold
once the plan's writes are confirmed, until nothing changes:

- each insert candidate is a *virtual record* of its target datatype in its cluster, holding
  its planned values (target filter values included; each carries the timestamp of the source
  record it comes from) and paired by every flow like a record;
- every pair of a touched cluster is reconciled (`reconcile.decide`) on both sides' planned
  values; a pair's last synced value is the state's at first, then what the pair agreed on in
  the previous round (so each round is what the next run would do);
- a value written into a virtual record joins its insert; into a real record it becomes an
  update of this plan (one value per record and property: the newest edit's, then the first
  flow in document order);
- a planned value carries the timestamp of the edit it comes from, so a conflict is won by the
  newest edit in the whole cluster, not per pair: a value that lost a conflict in one pair does
  not win through another (S4): a pair that would overwrite a planned value with an older
  edit's value writes the planned value back instead (`cascade_rounds._newest_holds`);
  conflicts with equal timestamps go one way for the cluster (`cascade_rounds._one_tie_break`);
- rounds end when no planned value changes (bounded: `2 * flows + 2` rounds).

A contributor of an insert (a source record the insert was made from) first meets the new record
with the merged values (S3: first non-empty in document order); where it differs, nothing is
written back to it in this plan (its last synced value is the merged one, as without cascade).
Inserts from virtual records are not planned: a record that does not exist yet cannot be
tracked as an insert's source (S3, S10); the next run plans them.

Required fields and "nothing to write" are decided on the settled values; a dropped candidate
that gave a value to another record makes the rounds run again without it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import polars as pl

from talk_assets.engine import schemas as sch
from talk_assets.engine.cascade_results import (
    baselines,
    conflict_rows,
    drops,
    insert_rows,
    planned_updates,
)
from talk_assets.engine.cascade_rounds import rounds
from talk_assets.engine.cascade_rows import SAME, coerce_str, virtual_rows
from talk_assets.engine.flows import FlowCtx
from talk_assets.engine.inserts import InsertPlan
from talk_assets.engine.lazy import ENGINE, collect_all

STRING = pl.String
MAX_ATTEMPTS = 3


@dataclass
class Settled:
    """What the cascade decides for the touched clusters (labels `touched`)."""

    touched: pl.Series
    updates: pl.DataFrame
    inserts: pl.DataFrame
    insert_sources: pl.DataFrame
    baselines: pl.DataFrame
    conflicts: pl.DataFrame
    rejects: pl.DataFrame
    skipped: pl.DataFrame


def settle(
    records: Mapping[str, pl.DataFrame],
    ctxs: list[FlowCtx],
    long: pl.DataFrame,
    details: pl.DataFrame,
    written: pl.Series,
    ins: list[InsertPlan],
) -> Settled:
    """Settle the clusters with planned writes (labels `written`) or insert candidates.

    long/details: the planner's mapped rows (with `label`) and pair details.
    """
    none = pl.LazyFrame(schema={"write_id": STRING})
    frames = collect_all(
        [
            pl.concat(
                [
                    i.candidates.select(
                        "write_id",
                        "cluster",
                        "label",
                        "flow",
                        "source_key",
                        "parent_id",
                        datatype=pl.lit(i.target.key),
                    )
                    for i in ins
                ]
            )
            if ins
            else none,
            pl.concat([i.values for i in ins]) if ins else none,
            pl.concat([i.fixed for i in ins]) if ins else none,
            pl.concat([i.contributors for i in ins]) if ins else none,
        ]
    )
    candidates, values, fixed, contributors = frames
    if not ins:
        candidates = pl.DataFrame(
            schema={
                "write_id": STRING,
                "cluster": STRING,
                "label": pl.UInt32,
                "flow": STRING,
                "source_key": STRING,
                "parent_id": STRING,
                "datatype": STRING,
            }
        )
        fixed = pl.DataFrame(
            schema={"write_id": STRING, "path": STRING, "field_value": STRING, "field_type": STRING}
        )
        values = fixed.with_columns(changed_at=pl.lit(None, STRING))
        contributors = pl.DataFrame(
            schema={"write_id": STRING, "flow": STRING, "source_key": STRING}
        )
    touched = pl.concat([written.cast(pl.UInt32), candidates["label"]]).unique().sort()
    if touched.is_empty():
        return Settled(
            touched=touched,
            updates=pl.DataFrame(schema=sch.PLANNED_UPDATE),
            inserts=sch.empty(sch.INSERTS),
            insert_sources=sch.empty(sch.INSERT_SOURCES),
            baselines=sch.empty(sch.BASELINES),
            conflicts=sch.empty(sch.CONFLICTS),
            rejects=sch.empty(sch.REJECTS),
            skipped=sch.empty(sch.SKIPPED),
        )
    initial = pl.concat(
        [
            values.join(fixed, on=["write_id", "path"], how="anti").with_columns(
                fixed=pl.lit(False)
            ),
            fixed.with_columns(changed_at=pl.lit(None, STRING), fixed=pl.lit(True)),
        ]
    )
    real_rows = (
        long.lazy()
        .filter(
            pl.col("label").is_in(touched.implode())
            & pl.col("writable")
            & ~pl.col("source_unconvertible")
            & ~pl.col("target_unconvertible")
        )
        .join(details.lazy(), on=["flow_idx", "pair"], how="left")
        .select(
            *[c for c in sch.CASCADE_ROW if c in SAME],
            source_ref="source",
            target_ref="target",
            source_virtual=pl.lit(False),
            target_virtual=pl.lit(False),
            source_rendered_before="source_rendered",
            target_rendered_before="target_rendered",
            synced_before="synced",
            has_synced_before="has_synced",
        )
    )
    parts = [real_rows.select(list(sch.CASCADE_ROW))]
    parts += [
        p.select([pl.col(c).cast(t) for c, t in sch.CASCADE_ROW.items()])
        for p in virtual_rows(records, ctxs, candidates, initial)
    ]
    rows = pl.concat(parts).collect(engine=ENGINE)
    names = candidates.select("label", "cluster").unique(subset=["label"])
    rows = rows.join(names.rename({"cluster": "vcluster"}), on="label", how="left").select(
        pl.exclude("vcluster", "cluster"), cluster=pl.coalesce("cluster", "vcluster")
    )
    # Real values that do not convert (virtual pairs only; the planner reports the others).
    fails = []
    for side_ in ("source", "target"):
        raw = pl.col(f"{side_}_rendered_before")
        failed = (
            raw.is_not_null()
            & coerce_str(raw, pl.col(f"{side_}_field_type"), pl.col("type")).is_null()
        )
        fails.append(
            rows.filter(
                failed
                & ~pl.col(f"{side_}_virtual")
                & (pl.col("source_virtual") | pl.col("target_virtual"))
            ).select(
                "flow",
                record=f"{side_}_ref",
                property="source_property" if side_ == "source" else "property",
                value=f"{side_}_rendered_before",
                reason=pl.concat_str([pl.lit("cannot convert to "), pl.col("type")]),
            )
        )
        rows = rows.filter(~failed)
    rows = rows.join(
        contributors.select(
            target_ref="write_id",
            flow="flow",
            source_ref="source_key",
            from_contributor=pl.lit(True),
        ),
        on=["target_ref", "flow", "source_ref"],
        how="left",
    ).with_columns(pl.col("from_contributor").fill_null(False))
    rows = rows.sort(
        "flow_idx", "source_ref", "target_ref", "property", "source_property"
    ).with_row_index("row_id")

    max_rounds = 2 * len(ctxs) + 2
    dropped: set[str] = set()
    skips, reqs = [], []
    for attempt in range(MAX_ATTEMPTS):
        live = rows.filter(
            ~pl.col("source_ref").is_in(dropped) & ~pl.col("target_ref").is_in(dropped)
        )
        overlay = initial.filter(~pl.col("write_id").is_in(dropped)).select(
            ref="write_id", path="path", value="field_value", fixed="fixed", changed_at="changed_at"
        )
        overlay = sch.conform(overlay, sch.OVERLAY)
        final, overlay, conflicts, rejects, givers = rounds(live, overlay, max_rounds)
        skip, required = drops(candidates.filter(~pl.col("write_id").is_in(dropped)), overlay, ins)
        now = set(skip["write_id"]) | set(required["write_id"])
        skips.append(skip)
        reqs.append(required)
        dropped |= now
        if not now:
            break
        if not now & set(givers) or attempt == MAX_ATTEMPTS - 1:
            final = final.filter(
                ~pl.col("source_ref").is_in(now) & ~pl.col("target_ref").is_in(now)
            )
            overlay = overlay.filter(~pl.col("ref").is_in(now))
            break
    skip, required = pl.concat(skips), pl.concat(reqs)
    return Settled(
        touched=touched,
        updates=planned_updates(overlay),
        inserts=insert_rows(
            candidates.filter(~pl.col("write_id").is_in(dropped)),
            overlay,
            fixed,
            {i.target.key: i.target for i in ins},
        ),
        insert_sources=contributors.filter(~pl.col("write_id").is_in(dropped)).select(
            "write_id", "flow", source="source_key"
        ),
        baselines=baselines(final, overlay),
        conflicts=conflict_rows(conflicts),
        rejects=pl.concat(
            [
                *fails,
                rejects.select(
                    "flow",
                    record="ref",
                    property="path",
                    value="value",
                    reason=pl.concat_str([pl.lit("cannot convert to "), pl.col("field_type")]),
                )
                if rejects.height
                else sch.empty(sch.REJECTS),
                required.select(list(sch.REJECTS)),
            ],
            how="vertical_relaxed",
        ),
        skipped=skip.select(list(sch.SKIPPED)),
    )
