"""Cascade results: what the settled rounds plan (updates, inserts, baselines, conflicts)."""

from __future__ import annotations

from collections.abc import Mapping

import polars as pl

from talk_assets.engine import schemas as sch
from talk_assets.engine.inserts import InsertPlan
from talk_assets.engine.mapping import json_object, json_value
from talk_assets.systems import Datatype

STRING = pl.String


def drops(
    candidates: pl.DataFrame, overlay: pl.DataFrame, ins: list[InsertPlan]
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(skipped: nothing to write, rejects: first required field missing) among `candidates`."""
    has = overlay.filter(~pl.col("fixed") & pl.col("value").is_not_null()).select(
        write_id="ref", path="path"
    )
    skip = candidates.join(has, on="write_id", how="anti").select(
        "write_id", "flow", record="source_key", reason=pl.lit("nothing to write")
    )
    rest = candidates.join(has, on="write_id", how="semi")
    out = []
    for i in ins:
        todo = rest.filter(pl.col("datatype") == i.target.key)
        for path in i.target.required:
            missing = todo.join(has.filter(pl.col("path") == path), on="write_id", how="anti")
            out.append(
                missing.select(
                    "write_id",
                    "flow",
                    record="source_key",
                    property=pl.lit(path),
                    value=pl.lit(None, STRING),
                    reason=pl.lit(f"required field {path} missing"),
                )
            )
            todo = todo.join(missing, on="write_id", how="anti")
    required = (
        pl.concat(out)
        if out
        else pl.DataFrame(
            schema={
                "write_id": STRING,
                "flow": STRING,
                "record": STRING,
                "property": STRING,
                "value": STRING,
                "reason": STRING,
            }
        )
    )
    return skip, required


def planned_updates(overlay: pl.DataFrame) -> pl.DataFrame:
    """Update rows (the planner's shape) for planned values of real records."""
    real = overlay.filter(
        pl.col("written_datatype").is_not_null()
        & ~pl.col("ref").str.starts_with("insert:")
        & ~pl.col("value").eq_missing(pl.col("value_before_write"))
    )
    return real.select(
        write_id=pl.concat_str([pl.lit("update:"), pl.col("ref")]),
        flow="writer_flow",
        flow_idx="writer_flow_idx",
        direction="write_direction",
        system=pl.col("written_datatype").str.split_exact(".", 1).struct.field("field_0"),
        datatype="written_datatype",
        record="ref",
        record_id="written_record_id",
        parent_id="written_parent_id",
        cluster="written_cluster",
        path="path",
        field_type="written_type",
        old_value="value_before_write",
        new_value="value",
        reason="write_reason",
    )


def insert_rows(
    candidates: pl.DataFrame,
    overlay: pl.DataFrame,
    fixed: pl.DataFrame,
    targets: Mapping[str, Datatype],
) -> pl.DataFrame:
    vals = overlay.filter(pl.col("ref").str.starts_with("insert:")).select(
        write_id="ref", path="path", value="value"
    )
    vals = pl.concat(
        [
            vals.join(fixed, on=["write_id", "path"], how="anti"),
            fixed.select("write_id", "path", value="field_value"),
        ]
    ).join(candidates.select("write_id", "datatype"), on="write_id")
    types = _field_types(vals, targets)
    objects = (
        vals.join(types, on=["datatype", "path"], how="left")
        .sort("write_id", "path")
        .group_by("write_id")
        .agg(values=json_object(pl.col("path"), json_value(pl.col("value"), pl.col("field_type"))))
    )
    return candidates.join(objects, on="write_id").select(
        "write_id",
        "flow",
        source="source_key",
        cluster="cluster",
        datatype="datatype",
        values="values",
        parent_id="parent_id",
    )


def _field_types(vals: pl.DataFrame, targets: Mapping[str, Datatype]) -> pl.DataFrame:
    """(datatype, path, field_type) of the inserts' values, from their target datatypes."""
    pairs = vals.select("datatype", "path").unique()
    ftypes = [targets[d].field(p).type for d, p in pairs.iter_rows()]
    return pairs.with_columns(field_type=pl.Series(ftypes, dtype=STRING))


def baselines(rows: pl.DataFrame, overlay: pl.DataFrame) -> pl.DataFrame:
    """Last synced values of the pairs whose agreement this plan changes."""
    changed = rows.filter(
        (pl.col("has_synced") != pl.col("has_synced_before"))
        | ~pl.col("synced").eq_missing(pl.col("synced_before"))
    )
    ov = overlay.filter(
        pl.col("ref").str.starts_with("insert:")
        | ~pl.col("value").eq_missing(pl.col("value_before_write"))
    ).select("ref", "path", written=pl.lit(True))
    changed = (
        changed.join(
            ov.rename({"ref": "target_ref", "path": "property", "written": "target_written"}),
            on=["target_ref", "property"],
            how="left",
        )
        .join(
            ov.rename(
                {"ref": "source_ref", "path": "source_property", "written": "source_written"}
            ),
            on=["source_ref", "source_property"],
            how="left",
        )
        .with_columns(pl.col("target_written", "source_written").fill_null(False))
    )

    def write_of(side_: str) -> pl.Expr:
        ref = pl.col(f"{side_}_ref")
        return (
            pl.when(pl.col(f"{side_}_virtual"))
            .then(ref)
            .otherwise(pl.concat_str([pl.lit("update:"), ref]))
        )

    tw, sw = pl.col("target_written"), pl.col("source_written")
    return changed.select(
        "flow",
        source=pl.when(pl.col("source_virtual")).then(pl.lit(None, STRING)).otherwise("source_ref"),
        target=pl.when(pl.col("target_virtual")).then(pl.lit(None, STRING)).otherwise("target_ref"),
        property="property",
        value="synced",
        type="type",
        write_id=pl.when(tw).then(write_of("target")).when(sw).then(write_of("source")),
        written_path=pl.when(tw).then("property").when(sw).then("source_property"),
        written_type=pl.when(tw).then("target_field_type").when(sw).then("source_field_type"),
        # Every write this pair's agreement depends on: a side that does not hold the value
        # yet must confirm its write first, or a cut run would advance the pair for a side
        # that never got the value (S10).
        source_write=pl.when(pl.col("source_virtual") | sw).then(write_of("source")),
        target_write=pl.when(pl.col("target_virtual") | tw).then(write_of("target")),
    )


def conflict_rows(dec: pl.DataFrame) -> pl.DataFrame:
    if dec.is_empty():
        return sch.empty(sch.CONFLICTS)
    real = dec.filter(~pl.col("source_virtual") & ~pl.col("target_virtual")).unique(
        subset=["flow", "source_ref", "target_ref", "property"], keep="first", maintain_order=True
    )
    return real.select(
        "flow",
        source="source_ref",
        target="target_ref",
        property="property",
        source_value="source_value",
        target_value="target_value",
        synced="synced",
        winner=pl.when(pl.col("action") == "to_target")
        .then(pl.lit("source"))
        .otherwise(pl.lit("target")),
        value="value",
        reason="reason",
    )
