"""Cascade rounds: pair rows decided again on their planned values until nothing changes."""

from __future__ import annotations

import polars as pl

from talk_assets.engine.cascade_rows import coerce_str
from talk_assets.engine.lazy import ENGINE
from talk_assets.engine.mapping import parse_dynamic
from talk_assets.engine.reconcile import decide

STRING = pl.String

DEFER = "first link: the new record keeps its merged value (S3); written back next run"


def rounds(rows: pl.DataFrame, overlay: pl.DataFrame, max_rounds: int):
    """Decide the rows again and again on their planned values until nothing changes.

    Returns (rows with final `synced`/`has_synced`, overlay, conflicts, rejects, givers): givers
    are the records whose values were written somewhere (to drop candidates safely).
    """
    rows = rows.with_columns(synced=pl.col("synced_before"), has_synced=pl.col("has_synced_before"))
    conflicts, rejects, givers = [], [], []
    for _ in range(max_rounds):
        ov = overlay.select("ref", "path", "value")
        cur = (
            rows.join(
                ov.rename({"ref": "s_ref", "path": "source_property", "value": "s_over"}),
                on=["s_ref", "source_property"],
                how="left",
            )
            .join(
                ov.rename({"ref": "t_ref", "path": "property", "value": "t_over"}),
                on=["t_ref", "property"],
                how="left",
            )
            .with_columns(
                s_cur=pl.coalesce("s_over", "s_raw0"), t_cur=pl.coalesce("t_over", "t_raw0")
            )
            .with_columns(
                source_value=coerce_str(pl.col("s_cur"), pl.col("s_type"), pl.col("type")),
                target_value=coerce_str(pl.col("t_cur"), pl.col("t_type"), pl.col("type")),
            )
        )
        dec = decide(cur.lazy()).collect(engine=ENGINE).sort("rid")
        eq = pl.col("source_value").eq_missing(pl.col("target_value"))
        defer = (
            pl.col("contrib") & ~pl.col("has_synced") & pl.col("target_value").is_not_null() & ~eq
        )
        dec = dec.with_columns(
            action=pl.when(defer).then(pl.lit("defer")).otherwise("action"),
            reason=pl.when(defer).then(pl.lit(DEFER)).otherwise("reason"),
            value=pl.when(defer).then("target_value").otherwise("value"),
        )
        conflicts.append(dec.filter(pl.col("conflict")))
        to_t = pl.col("action") == "to_target"
        moving = dec.filter(pl.col("action").is_in(["to_target", "to_source"])).select(
            "rid",
            "flow",
            "flow_idx",
            "s_ref",
            "t_ref",
            ref=pl.when(to_t).then("t_ref").otherwise("s_ref"),
            path=pl.when(to_t).then("property").otherwise("source_property"),
            ftype=pl.when(to_t).then("t_type").otherwise("s_type"),
            cur=pl.when(to_t).then("t_cur").otherwise("s_cur"),
            old=pl.when(to_t).then("t_raw0").otherwise("s_raw0"),
            dt=pl.when(to_t).then("t_dt").otherwise("s_dt"),
            rec_id=pl.when(to_t).then("t_id").otherwise("s_id"),
            parent=pl.when(to_t).then("t_parent").otherwise("s_parent"),
            giver=pl.when(to_t).then("s_ref").otherwise("t_ref"),
            cluster="cluster",
            direction="action",
            reason="reason",
            value="value",
        )
        moving = moving.with_columns(new=parse_dynamic(pl.col("value"), pl.col("ftype")))
        bad = moving.filter(pl.col("new").is_null())
        rejects.append(bad)
        chosen = (
            moving.filter(pl.col("new").is_not_null() & ~pl.col("new").eq_missing(pl.col("cur")))
            .sort("flow_idx", "s_ref", "t_ref")
            .unique(subset=["ref", "path"], keep="first", maintain_order=True)
        )
        settles = dec.select(
            pl.col("action").is_in(["agree", "to_target", "to_source", "defer"])
            & ~pl.col("rid").is_in(bad["rid"].implode())
        ).to_series()
        rows = rows.with_columns(
            synced=pl.when(settles).then(dec["value"]).otherwise("synced"),
            has_synced=pl.when(settles).then(pl.lit(True)).otherwise("has_synced"),
        )
        if chosen.is_empty():
            break
        givers.append(chosen.select("giver"))
        new = chosen.select(
            "ref",
            "path",
            value="new",
            fixed=pl.lit(False),
            w_giver="giver",
            w_flow="flow",
            w_flow_idx="flow_idx",
            w_direction="direction",
            w_reason="reason",
            w_ftype="ftype",
            w_dt="dt",
            w_id="rec_id",
            w_parent="parent",
            w_old="old",
            w_cluster="cluster",
        )
        overlay = pl.concat(
            [overlay.join(new.select("ref", "path"), on=["ref", "path"], how="anti"), new]
        )
    return (
        rows,
        overlay,
        pl.concat(conflicts, how="vertical_relaxed"),
        pl.concat(rejects, how="vertical_relaxed"),
        pl.concat(givers)["giver"] if givers else pl.Series("giver", [], STRING),
    )
