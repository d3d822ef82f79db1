"""Three-way reconciliation (S4, S5) of mapped pairs against the last synced value.

Input: one row per (flow, source, target, property) with canonical `source_value`,
`target_value`, `synced` (last synced value) and `has_synced`, plus the records' last-changed
timestamps `source_changed_at`/`target_changed_at`. Output adds `action` (`none`, `agree`,
`to_target`, `to_source`), `value` (what both sides hold afterwards), `reason`, and `conflict`
(both sides edited).
"""

from __future__ import annotations

import polars as pl


def timestamp(col: str) -> pl.Expr:
    return pl.col(col).str.to_datetime(time_zone="UTC", strict=False)


def decide(long: pl.LazyFrame) -> pl.LazyFrame:
    source_value, target_value = pl.col("source_value"), pl.col("target_value")
    synced, has_synced = pl.col("synced"), pl.col("has_synced")
    eq = source_value.eq_missing(target_value)
    source_changed = ~source_value.eq_missing(synced) | ~has_synced
    target_changed = ~target_value.eq_missing(synced) | ~has_synced
    both_set = source_value.is_not_null() & target_value.is_not_null()
    conflict = has_synced & source_changed & target_changed & ~eq & both_set
    action = (
        pl.when(eq)
        .then(
            pl.when(~has_synced | ~synced.eq_missing(source_value))
            .then(pl.lit("agree"))
            .otherwise(pl.lit("none"))
        )
        .when(source_value.is_null())
        .then(pl.lit("to_source"))
        .when(target_value.is_null())
        .then(pl.lit("to_target"))
        .when(~has_synced)
        .then(pl.lit("to_target"))
        .when(conflict)
        .then(pl.lit("conflict"))
        .when(source_changed)
        .then(pl.lit("to_target"))
        .otherwise(pl.lit("to_source"))
    )
    reason = (
        pl.when(eq)
        .then(
            pl.when(~has_synced).then(pl.lit("first link: equal")).otherwise(pl.lit("both agree"))
        )
        .when(~has_synced & source_value.is_null())
        .then(pl.lit("first link: source empty, empty never overwrites"))
        .when(~has_synced & target_value.is_null())
        .then(pl.lit("first link: target empty, empty never overwrites"))
        .when(~has_synced)
        .then(pl.lit("first link: document's source side wins"))
        .when(source_value.is_null())
        .then(pl.lit("source emptied: empty never overwrites, value written back"))
        .when(target_value.is_null())
        .then(pl.lit("target emptied: empty never overwrites, value written back"))
        .when(conflict)
        .then(pl.lit("conflict"))
        .when(source_changed)
        .then(pl.lit("source changed"))
        .otherwise(pl.lit("target changed"))
    )
    out = long.with_columns(action=action, reason=reason, conflict=conflict)
    # Timestamps are parsed for the (rare) conflicts only.
    newer_target = (timestamp("target_changed_at") > timestamp("source_changed_at")).fill_null(
        False
    )
    settled = out.filter(~pl.col("conflict")).with_columns(
        value=pl.when(pl.col("action") == "to_source").then(target_value).otherwise(source_value)
    )
    conflicts = out.filter(pl.col("conflict")).with_columns(
        action=pl.when(newer_target).then(pl.lit("to_source")).otherwise(pl.lit("to_target")),
        reason=pl.when(newer_target)
        .then(pl.lit("conflict: target changed most recently"))
        .otherwise(pl.lit("conflict: source changed most recently (or tie)")),
        value=pl.when(newer_target).then(target_value).otherwise(source_value),
    )
    return pl.concat([settled, conflicts])
