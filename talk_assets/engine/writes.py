"""Updates and writes (S4-S6, S11): decided pairs -> update rows -> one write per record."""

from __future__ import annotations

import polars as pl

from talk_assets.engine import schemas as sch
from talk_assets.engine.mapping import json_object, json_value, parse_dynamic


def update_rows(dec: pl.LazyFrame) -> tuple[pl.LazyFrame, pl.LazyFrame]:
    """Write rows for decided pairs (S4-S6): value converted to the written field's type.

    Returns (rows with baseline columns and a `write` flag, rejects). A value equal to the
    field's current value needs no write (S5); a value the field's type refuses is rejected.
    """
    to_t = pl.col("action") == "to_target"
    rows = dec.with_columns(
        direction=pl.col("action"),
        record=pl.when(to_t).then("target").otherwise("source"),
        record_id=pl.when(to_t).then("target_id").otherwise("source_id"),
        parent_id=pl.when(to_t).then("target_parent").otherwise("source_parent"),
        datatype=pl.when(to_t).then("target_datatype").otherwise("source_datatype"),
        path=pl.when(to_t).then("property").otherwise("source_property"),
        field_type=pl.when(to_t).then("target_field_type").otherwise("source_field_type"),
        old_value=pl.when(to_t).then("target_rendered").otherwise("source_rendered"),
    ).with_columns(new_value=parse_dynamic(pl.col("value"), pl.col("field_type")))
    bad = pl.col("new_value").is_null()
    rejects = rows.filter(bad).select(
        "flow",
        "label",
        "record",
        property="path",
        value="value",
        reason=pl.concat_str([pl.lit("cannot convert to "), pl.col("field_type")]),
    )
    rows = rows.filter(~bad).with_columns(
        write=~pl.col("new_value").eq_missing(pl.col("old_value")),
        system=pl.col("datatype").str.split_exact(".", 1).struct.field("field_0"),
    )
    rows = rows.with_columns(
        write_id=pl.when(pl.col("write")).then(
            pl.concat_str([pl.lit("update:"), pl.col("record")])
        ),
        written_path=pl.when(pl.col("write")).then("path"),
        written_type=pl.when(pl.col("write")).then("field_type"),
    )
    return rows, rejects


def write_rows(inserts: pl.DataFrame, updates: pl.DataFrame) -> pl.DataFrame:
    """One row per target record: the inserts, and the updates grouped by record."""
    ins = inserts.select(
        "write_id",
        op=pl.lit("insert"),
        system=pl.col("datatype").str.split_exact(".", 1).struct.field("field_0"),
        datatype="datatype",
        record=pl.lit(None, pl.String),
        record_id=pl.lit(None, pl.String),
        parent_id="parent_id",
        cluster="cluster",
        flow="flow",
        values="values",
    )
    upd = (
        updates.sort("write_id", "path")
        .group_by("write_id", maintain_order=True)
        .agg(
            pl.col(
                "system", "datatype", "record", "record_id", "parent_id", "cluster", "flow"
            ).first(),
            values=json_object(
                pl.col("path"), json_value(pl.col("new_value"), pl.col("field_type"))
            ),
        )
        .with_columns(op=pl.lit("update"))
    )
    out = pl.concat([sch.conform(ins, sch.WRITES), sch.conform(upd, sch.WRITES)])
    return out.sort("write_id")
