"""Cascade rounds: pair rows decided again on their planned values until nothing changes."""

from __future__ import annotations

import polars as pl

from talk_assets.engine.cascade_rows import coerce_str
from talk_assets.engine.lazy import ENGINE
from talk_assets.engine.mapping import parse_dynamic
from talk_assets.engine.reconcile import decide, timestamp

STRING = pl.String

DEFER = "first link: the new record keeps its merged value (S3); written back next run"
NEWEST_HOLDS = "a newer edit is planned here: it goes to the other side (S4)"


def rounds(rows: pl.DataFrame, overlay: pl.DataFrame, max_rounds: int):
    """Decide the rows again and again on their planned values until nothing changes.

    Returns (rows with final `synced`/`has_synced`, overlay, conflicts, rejects, givers): givers
    are the records whose values were written somewhere (to drop candidates safely).
    """
    rows = rows.with_columns(synced=pl.col("synced_before"), has_synced=pl.col("has_synced_before"))
    conflicts, rejects, givers = [], [], []
    first_source = dict(rows.group_by("source_datatype").agg(pl.col("flow_idx").min()).iter_rows())
    for _ in range(max_rounds):
        planned = overlay.select("ref", "path", "value", "changed_at")
        current = (
            rows.join(
                planned.rename(
                    {
                        "ref": "source_ref",
                        "path": "source_property",
                        "value": "source_planned",
                        "changed_at": "source_planned_at",
                    }
                ),
                on=["source_ref", "source_property"],
                how="left",
            )
            .join(
                planned.rename(
                    {
                        "ref": "target_ref",
                        "path": "property",
                        "value": "target_planned",
                        "changed_at": "target_planned_at",
                    }
                ),
                on=["target_ref", "property"],
                how="left",
            )
            .with_columns(
                source_current=pl.coalesce("source_planned", "source_rendered_before"),
                target_current=pl.coalesce("target_planned", "target_rendered_before"),
                # A planned value is as new as the edit it comes from (S4: conflicts and
                # competing writes go to the newest edit, wherever in the cluster it was made).
                source_changed_at=pl.when(pl.col("source_planned").is_not_null())
                .then(pl.coalesce("source_planned_at", "source_changed_at"))
                .otherwise("source_changed_at"),
                target_changed_at=pl.when(pl.col("target_planned").is_not_null())
                .then(pl.coalesce("target_planned_at", "target_changed_at"))
                .otherwise("target_changed_at"),
            )
            .with_columns(
                source_value=coerce_str(
                    pl.col("source_current"), pl.col("source_field_type"), pl.col("type")
                ),
                target_value=coerce_str(
                    pl.col("target_current"), pl.col("target_field_type"), pl.col("type")
                ),
            )
        )
        decided = _one_tie_break(
            decide(current.lazy()).collect(engine=ENGINE).sort("row_id"), first_source
        )
        eq = pl.col("source_value").eq_missing(pl.col("target_value"))
        defer = (
            pl.col("from_contributor")
            & ~pl.col("has_synced")
            & pl.col("target_value").is_not_null()
            & ~eq
        )
        decided = _newest_holds(
            decided.with_columns(
                action=pl.when(defer).then(pl.lit("defer")).otherwise("action"),
                reason=pl.when(defer).then(pl.lit(DEFER)).otherwise("reason"),
                value=pl.when(defer).then("target_value").otherwise("value"),
            )
        )
        conflicts.append(decided.filter(pl.col("conflict")))
        to_t = pl.col("action") == "to_target"
        moving = decided.filter(pl.col("action").is_in(["to_target", "to_source"])).select(
            "row_id",
            "flow",
            "flow_idx",
            "source_ref",
            "target_ref",
            ref=pl.when(to_t).then("target_ref").otherwise("source_ref"),
            path=pl.when(to_t).then("property").otherwise("source_property"),
            field_type=pl.when(to_t).then("target_field_type").otherwise("source_field_type"),
            current_value=pl.when(to_t).then("target_current").otherwise("source_current"),
            value_before_write=pl.when(to_t)
            .then("target_rendered_before")
            .otherwise("source_rendered_before"),
            datatype=pl.when(to_t).then("target_datatype").otherwise("source_datatype"),
            record_id=pl.when(to_t).then("target_id").otherwise("source_id"),
            parent_id=pl.when(to_t).then("target_parent").otherwise("source_parent"),
            given_by=pl.when(to_t).then("source_ref").otherwise("target_ref"),
            changed_at=pl.when(to_t).then("source_changed_at").otherwise("target_changed_at"),
            cluster="cluster",
            direction="action",
            reason="reason",
            value="value",
        )
        moving = moving.with_columns(new_value=parse_dynamic(pl.col("value"), pl.col("field_type")))
        bad = moving.filter(pl.col("new_value").is_null())
        rejects.append(bad)
        chosen = _newest_first(
            moving.filter(
                pl.col("new_value").is_not_null()
                & ~pl.col("new_value").eq_missing(pl.col("current_value"))
            ).sort("flow_idx", "source_ref", "target_ref", "row_id")
        ).unique(subset=["ref", "path"], keep="first", maintain_order=True)
        settles = decided.select(
            pl.col("action").is_in(["agree", "to_target", "to_source", "defer"])
            & ~pl.col("row_id").is_in(bad["row_id"].implode())
        ).to_series()
        rows = rows.with_columns(
            synced=pl.when(settles).then(decided["value"]).otherwise("synced"),
            has_synced=pl.when(settles).then(pl.lit(True)).otherwise("has_synced"),
        )
        if chosen.is_empty():
            break
        givers.append(chosen.select("given_by"))
        written = chosen.select(
            "ref",
            "path",
            value="new_value",
            fixed=pl.lit(False),
            given_by="given_by",
            writer_flow="flow",
            writer_flow_idx="flow_idx",
            write_direction="direction",
            write_reason="reason",
            written_type="field_type",
            written_datatype="datatype",
            written_record_id="record_id",
            written_parent_id="parent_id",
            value_before_write="value_before_write",
            written_cluster="cluster",
            changed_at="changed_at",
        )
        overlay = pl.concat(
            [overlay.join(written.select("ref", "path"), on=["ref", "path"], how="anti"), written]
        )
    return (
        rows,
        overlay,
        pl.concat(conflicts, how="vertical_relaxed"),
        pl.concat(rejects, how="vertical_relaxed"),
        pl.concat(givers)["given_by"] if givers else pl.Series("given_by", [], STRING),
    )


def _newest_first(writes: pl.DataFrame) -> pl.DataFrame:
    """Writes (in document order) with those competing for one record and path put newest edit
    first (S4; ties and unknown timestamps keep document order). Only competing writes with
    different values are reordered: timestamps are parsed for those (rare) rows only."""
    contested = pl.col("new_value").n_unique().over("ref", "path") > 1
    mask = writes.select(contested).to_series()
    if not mask.any():
        return writes
    ordered = (
        writes.filter(mask)
        .with_row_index("_order")
        .sort([timestamp("changed_at"), "_order"], descending=[True, False], nulls_last=True)
        .drop("_order")
    )
    return pl.concat([ordered, writes.filter(~mask)])


def _newest_holds(decided: pl.DataFrame) -> pl.DataFrame:
    """Rows that would overwrite a value planned in this plan with a value of an older edit go
    the other way: the planned (newer) value is written to the giver (S4: the newest edit in the
    cluster wins). A pair's synced value advances every round, so a value that lost a conflict
    in one pair would otherwise come back as a one-sided change through another pair, and the
    values of a ring of pairs would chase each other round after round. Timestamps are parsed
    for the (rare) rows that would overwrite a planned value only."""

    def overwrites_planned(direction: str, receiver: str) -> pl.Expr:
        return (
            (pl.col("action") == direction)
            & pl.col(f"{receiver}_planned").is_not_null()
            & ~pl.col("value").eq_missing(pl.col(f"{receiver}_value"))
        )

    mask = decided.select(
        overwrites_planned("to_target", "target") | overwrites_planned("to_source", "source")
    ).to_series()
    if not mask.any():
        return decided
    newer_target = timestamp("target_changed_at") > timestamp("source_changed_at")
    newer_source = timestamp("source_changed_at") > timestamp("target_changed_at")
    back_to_source = (pl.col("action") == "to_target") & newer_target.fill_null(False)
    back_to_target = (pl.col("action") == "to_source") & newer_source.fill_null(False)
    turned = decided.filter(mask).with_columns(
        action=pl.when(back_to_source)
        .then(pl.lit("to_source"))
        .when(back_to_target)
        .then(pl.lit("to_target"))
        .otherwise("action"),
        reason=pl.when(back_to_source | back_to_target)
        .then(pl.lit(NEWEST_HOLDS))
        .otherwise("reason"),
        value=pl.when(back_to_source)
        .then("target_value")
        .when(back_to_target)
        .then("source_value")
        .otherwise("value"),
    )
    return pl.concat([decided.filter(~mask), turned]).sort("row_id")


def _one_tie_break(decided: pl.DataFrame, first_source: dict[str, int]) -> pl.DataFrame:
    """Conflicts with equal timestamps, decided one way for the whole cluster: the side whose
    datatype is the source of the earliest flow wins (then the smaller record key). Per pair
    ("the document's source side") two flows in opposite directions would swap the values."""
    tie = pl.col("conflict") & (
        timestamp("source_changed_at") == timestamp("target_changed_at")
    ).fill_null(False)
    if not decided.select(tie.any()).item():
        return decided
    last = len(first_source) + 1_000_000

    def rank(side_: str) -> pl.Expr:
        return pl.col(f"{side_}_datatype").replace_strict(
            first_source, default=last, return_dtype=pl.Int64
        )

    target_wins = tie & (
        (rank("target") < rank("source"))
        | ((rank("target") == rank("source")) & (pl.col("target_ref") < pl.col("source_ref")))
    )
    return decided.with_columns(
        action=pl.when(target_wins).then(pl.lit("to_source")).otherwise("action"),
        reason=pl.when(target_wins)
        .then(pl.lit("conflict: tie, the cluster's first source side wins"))
        .otherwise("reason"),
        value=pl.when(target_wins).then("target_value").otherwise("value"),
    )
