"""Cascade pair rows: pairs of a touched cluster with a virtual record (an insert candidate)."""

from __future__ import annotations

from collections.abc import Mapping

import polars as pl

from talk_assets.engine import schemas as sch
from talk_assets.engine.flows import FlowCtx, side
from talk_assets.engine.identity import LABEL
from talk_assets.engine.mapping import parse_dynamic, render
from talk_assets.engine.pairs import property_columns

STRING = pl.String

SAME = set(sch.CASCADE_ROW) - {
    "source_ref",
    "target_ref",
    "source_virtual",
    "target_virtual",
    "source_rendered_before",
    "target_rendered_before",
    "synced_before",
    "has_synced_before",
}
"""CASCADE_ROW columns a first-pass pair row (LONG with PAIR_DETAILS) has under the same name."""


def coerce_str(raw: pl.Expr, from_type: pl.Expr, to_type: pl.Expr) -> pl.Expr:
    """`mapping.coerce` for a rendered value with per-row types (small frames)."""
    same = (from_type == to_type) | (
        to_type.is_in(["string", "datetime"]) & (from_type != "boolean")
    )
    return (
        pl.when(same)
        .then(raw)
        .when((from_type == "boolean") & (to_type != "string"))
        .then(pl.when(to_type == "boolean").then(raw))
        .otherwise(parse_dynamic(raw, to_type))
    )


def virtual_rows(
    records: Mapping[str, pl.DataFrame],
    ctxs: list[FlowCtx],
    candidates: pl.DataFrame,
    initial: pl.DataFrame,
) -> list[pl.LazyFrame]:
    """Pair rows (`CASCADE_ROW`) of every flow for pairs with at least one virtual record.

    candidates: write_id, label, datatype of the virtual records; initial: their values (write_id,
    path, field_value), for the flows' filters.
    """
    out = []
    keys = set(candidates["datatype"].unique())
    for c in ctxs:
        rf = c.rf
        if not c.writable or not ({rf.source.key, rf.target.key} & keys):
            continue

        def virtual(dt, flt, prefix: str, cols: dict[str, pl.DataType]) -> pl.LazyFrame:
            v = candidates.lazy().filter(pl.col("datatype") == dt.key)
            if flt is not None:
                ok = initial.lazy().filter(
                    (pl.col("path") == flt[0]) & (pl.col("field_value") == str(flt[1]).lower())
                )
                v = v.join(ok.select("write_id"), on="write_id", how="semi")
            return v.select(
                pl.col("write_id").alias(f"{prefix}ref"),
                pl.lit(True).alias(f"{prefix}virtual"),
                *[
                    pl.lit(None, STRING).alias(f"{prefix}{x}")
                    for x in ("id", "changed_at", "parent")
                ],
                pl.col("label").alias(f"{prefix}label"),
                *[pl.lit(None, t).alias(a) for a, t in cols.items()],
            )

        def real(dt, flt, prefix: str, cols: dict[str, str], labels: pl.LazyFrame):
            return (
                side(records, dt, [flt], prefix, {**cols, f"{prefix}label": LABEL})
                .join(labels, left_on=f"{prefix}label", right_on="label", how="semi")
                .select(
                    pl.col(f"{prefix}key").alias(f"{prefix}ref"),
                    pl.lit(False).alias(f"{prefix}virtual"),
                    *[f"{prefix}{x}" for x in ("id", "changed_at", "parent", "label")],
                    *cols,
                )
            )

        props = c.writable
        scols = {f"s{i}": s.path for i, s, _, _ in props}
        tcols = {f"t{i}": t.path for i, _, t, _ in props}
        stypes = {f"s{i}": s.polars_type for i, s, _, _ in props}
        ttypes = {f"t{i}": t.polars_type for i, _, t, _ in props}
        vs = virtual(rf.source, rf.source_filter, "source_", stypes)
        vt = virtual(rf.target, rf.target_filter, "target_", ttypes)
        src = pl.concat(
            [
                real(
                    rf.source, rf.source_filter, "source_", scols, vt.select(label="target_label")
                ),
                vs,
            ]
        )
        tgt = pl.concat(
            [
                real(
                    rf.target, rf.target_filter, "target_", tcols, vs.select(label="source_label")
                ),
                vt,
            ]
        )
        pairs = src.join(tgt, left_on="source_label", right_on="target_label").filter(
            (pl.col("source_virtual") | pl.col("target_virtual"))
            & (pl.col("source_ref") != pl.col("target_ref"))
        )
        for i, s, t, typ in props:
            out.append(
                pairs.select(
                    **property_columns(c, s, t, typ),
                    label="source_label",
                    cluster=pl.lit(None, STRING),
                    source_ref="source_ref",
                    target_ref="target_ref",
                    source_virtual="source_virtual",
                    target_virtual="target_virtual",
                    source_rendered_before=render(pl.col(f"s{i}"), s.type),
                    target_rendered_before=render(pl.col(f"t{i}"), t.type),
                    synced_before=pl.lit(None, STRING),
                    has_synced_before=pl.lit(False),
                    source_id="source_id",
                    target_id="target_id",
                    source_parent="source_parent",
                    target_parent="target_parent",
                    source_changed_at="source_changed_at",
                    target_changed_at="target_changed_at",
                )
            )
    return out
