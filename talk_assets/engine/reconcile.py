"""Three-way reconciliation (S4, S5) of mapped pairs against the last synced value.

Input: one row per (flow, source, target, property) with canonical `sv` (source value), `tv`
(target value), `base` (last synced value) and `has_base`, plus the records' last-changed
timestamps `s_ts`/`t_ts`. Output adds `action` (`none`, `agree`, `to_target`, `to_source`),
`value` (what both sides hold afterwards), `reason`, and `conflict` (both sides edited).
"""

from __future__ import annotations

import polars as pl

sv, tv, base, hb = pl.col("sv"), pl.col("tv"), pl.col("base"), pl.col("has_base")


def _ts(col: str) -> pl.Expr:
    return pl.col(col).str.to_datetime(time_zone="UTC", strict=False)


def decide(long: pl.LazyFrame) -> pl.LazyFrame:
    eq = sv.eq_missing(tv)
    s_ch = ~sv.eq_missing(base) | ~hb
    t_ch = ~tv.eq_missing(base) | ~hb
    both_set = sv.is_not_null() & tv.is_not_null()
    conflict = hb & s_ch & t_ch & ~eq & both_set
    action = (
        pl.when(eq)
        .then(pl.when(~hb | ~base.eq_missing(sv)).then(pl.lit("agree")).otherwise(pl.lit("none")))
        .when(sv.is_null())
        .then(pl.lit("to_source"))
        .when(tv.is_null())
        .then(pl.lit("to_target"))
        .when(~hb)
        .then(pl.lit("to_target"))
        .when(conflict)
        .then(pl.lit("conflict"))
        .when(s_ch)
        .then(pl.lit("to_target"))
        .otherwise(pl.lit("to_source"))
    )
    reason = (
        pl.when(eq)
        .then(pl.when(~hb).then(pl.lit("first link: equal")).otherwise(pl.lit("both agree")))
        .when(~hb & sv.is_null())
        .then(pl.lit("first link: source empty, empty never overwrites"))
        .when(~hb & tv.is_null())
        .then(pl.lit("first link: target empty, empty never overwrites"))
        .when(~hb)
        .then(pl.lit("first link: document's source side wins"))
        .when(sv.is_null())
        .then(pl.lit("source emptied: empty never overwrites, value written back"))
        .when(tv.is_null())
        .then(pl.lit("target emptied: empty never overwrites, value written back"))
        .when(conflict)
        .then(pl.lit("conflict"))
        .when(s_ch)
        .then(pl.lit("source changed"))
        .otherwise(pl.lit("target changed"))
    )
    out = long.with_columns(action=action, reason=reason, conflict=conflict)
    # Timestamps are parsed for the (rare) conflicts only.
    newer_target = (_ts("t_ts") > _ts("s_ts")).fill_null(False)
    settled = out.filter(~pl.col("conflict")).with_columns(
        value=pl.when(pl.col("action") == "to_source").then(tv).otherwise(sv)
    )
    conflicts = out.filter(pl.col("conflict")).with_columns(
        action=pl.when(newer_target).then(pl.lit("to_source")).otherwise(pl.lit("to_target")),
        reason=pl.when(newer_target)
        .then(pl.lit("conflict: target changed most recently"))
        .otherwise(pl.lit("conflict: source changed most recently (or tie)")),
        value=pl.when(newer_target).then(tv).otherwise(sv),
    )
    return pl.concat([settled, conflicts])
