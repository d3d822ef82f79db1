"""Parents of new child records (S3): under which record a new child record is created.

A child datatype (`Datatype.parent`, `parent_datatypes`) is created under a parent record. The
parent of a planned insert is, in this order:

1. an insert source that is itself a record of a parent datatype (a customer inserted as a
   contact person goes under that customer);
2. else a record of a parent datatype in the cluster of the record a source *references*
   (`Field.references`: a contact's `companyId` names its company; the customer linked to that
   company is the parent); parent datatypes in their declared order, then the smallest key.

A candidate with neither is rejected before any request, naming record, field and reason. A
reject changes no state: the record is planned again on every run until its parent exists.
"""

from __future__ import annotations

from collections.abc import Mapping

import polars as pl

from talk_assets.engine.flows import FlowCtx, side
from talk_assets.engine.identity import key_datatype, key_id
from talk_assets.systems import Datatype

STRING = pl.String
_ROW = {
    "cluster": STRING,
    "rank": pl.Int32,
    "flow_idx": pl.Int64,
    "source_key": STRING,
    "flow": STRING,
    "prank": pl.Int32,
    "parent_record": STRING,
    "property": STRING,
    "value": STRING,
    "reason": STRING,
}


def _parents_text(target: Datatype) -> str:
    return " or ".join(target.parent_datatypes)


def _rows(frame: pl.LazyFrame) -> pl.LazyFrame:
    return frame.select([pl.col(c).cast(t) for c, t in _ROW.items()])


def _referenced(
    records: Mapping[str, pl.DataFrame],
    target: Datatype,
    ctx: FlowCtx,
    contributors: pl.LazyFrame,
    clusters: pl.LazyFrame,
) -> list[pl.LazyFrame]:
    """Rows (rank 1) for the reference fields of one flow's source records."""
    source = ctx.rf.source
    parent_keys = [f"{target.system}.{p}" for p in target.parent_datatypes]
    parents = clusters.filter(
        pl.col("datatype").is_in(parent_keys) & ~pl.col("gone").fill_null(False)
    ).select(
        ref_cluster="cluster",
        parent_record="record",
        prank=pl.col("datatype").replace_strict(
            {k: i for i, k in enumerate(parent_keys)}, return_dtype=pl.Int32
        ),
    )
    known = clusters.select(ref_key="record", ref_cluster="cluster")
    mine = contributors.filter(pl.col("flow") == ctx.name)
    out = []
    for f in source.references:
        ref_dt = f"{source.system}.{f.references}"
        refs = side(records, source, [], "source_", {"value": f.path}).select(
            "source_key", value=pl.col("value").cast(STRING)
        )
        rows = (
            mine.join(refs, on="source_key")
            .with_columns(
                ref_key=pl.when(pl.col("value").str.len_chars() > 0).then(
                    pl.concat_str([pl.lit(f"{ref_dt}:"), pl.col("value")])
                )
            )
            .join(known, on="ref_key", how="left")
            .join(parents, on="ref_cluster", how="left")
        )
        lacking = f"no parent {_parents_text(target)} record: "
        reason = (
            pl.when(pl.col("ref_key").is_null())
            .then(pl.lit(f"{lacking}{f.path} is empty"))
            .when(pl.col("ref_cluster").is_null())
            .then(
                pl.concat_str(
                    [pl.lit(f"{lacking}{f.path} names "), "ref_key", pl.lit(", not known")]
                )
            )
            .otherwise(
                pl.concat_str(
                    [
                        pl.lit(lacking),
                        "ref_key",
                        pl.lit(
                            f" ({f.path}) is not linked to a {target.system} "
                            f"{_parents_text(target)} record (planned again once it is)"
                        ),
                    ]
                )
            )
        )
        out.append(
            _rows(
                rows.with_columns(
                    rank=pl.lit(1), property=pl.lit(f.path), reason=reason, cluster="cluster"
                )
            )
        )
    return out


def plan_parents(
    records: Mapping[str, pl.DataFrame],
    target: Datatype,
    flows: list[FlowCtx],
    contributors: pl.LazyFrame,
    clusters: pl.LazyFrame,
) -> pl.LazyFrame:
    """Per insert cluster of a child datatype `target`: `parent_id` (null when none) and, when
    none, the reject's `flow`, `record`, `property`, `value` and `reason`.

    contributors: (cluster, flow_idx, flow, source_key, source_id) of the insert sources;
    clusters: CLUSTERS (record, datatype, cluster, gone).
    """
    parent_keys = [f"{target.system}.{p}" for p in target.parent_datatypes]
    direct = contributors.filter(key_datatype(pl.col("source_key")).is_in(parent_keys))
    parts = [
        _rows(
            direct.with_columns(
                rank=pl.lit(0),
                prank=pl.lit(0),
                parent_record="source_key",
                property=pl.lit(target.parent),
                value=pl.lit(None, STRING),
                reason=pl.lit(None, STRING),
            )
        ),
        *[
            part
            for ctx in flows
            for part in _referenced(records, target, ctx, contributors, clusters)
        ],
        _rows(
            contributors.with_columns(
                rank=pl.lit(2),
                prank=pl.lit(0),
                parent_record=pl.lit(None, STRING),
                property=pl.lit(target.parent),
                value=pl.lit(None, STRING),
                reason=pl.lit(
                    f"a {target.name} record is created under a {_parents_text(target)} "
                    "record; the source is none and references none"
                ),
            )
        ),
    ]
    return (
        pl.concat(parts)
        .sort("rank", "flow_idx", "source_key", "prank", "parent_record", nulls_last=True)
        .group_by("cluster", maintain_order=True)
        .agg(
            parent_id=key_id(pl.col("parent_record").drop_nulls().first()),
            flow=pl.col("flow").first(),
            record=pl.col("source_key").first(),
            property=pl.col("property").first(),
            value=pl.col("value").first(),
            reason=pl.col("reason").first(),
        )
    )
