"""The sync log (S11): one row per write or decision, and one row per property value written.

`sync_log`: run_id, time, system, datatype, record_id, cluster, operation (insert, update,
reject, skip, rejected, failed, unknown), flows, source_record, properties (JSON: for an update
a list of `{property, old, new}`, for an insert the written object), http_status, error,
write_id. Updates are counted the way
Sesam Talk counts them: a created record is one update, one write of any number of properties
of one record is one update.

`sync_values`: run_id, time, system, datatype, record_id, property, old_value, new_value, flow,
direction, source_record, reason: the per-record value history `talk-assets lineage --id`
shows.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import polars as pl

from talk_assets.engine import SyncPlan
from talk_assets.engine.schemas import conform
from talk_assets.store.tenant import STATE_SCHEMA, TenantStore

S, INT = pl.String, pl.Int64
SYNC_LOG = {
    "run_id": S,
    "time": pl.Datetime("us", "UTC"),
    "system": S,
    "datatype": S,
    "record_id": S,
    "cluster": S,
    "operation": S,
    "flows": S,
    "source_record": S,
    "properties": S,
    "http_status": INT,
    "error": S,
    "write_id": S,
}
SYNC_VALUES = {
    "run_id": S,
    "time": pl.Datetime("us", "UTC"),
    "system": S,
    "datatype": S,
    "record_id": S,
    "property": S,
    "old_value": S,
    "new_value": S,
    "flow": S,
    "direction": S,
    "source_record": S,
    "reason": S,
}


def confirmed_writes(store: TenantStore, run_id: str | None) -> pl.Series:
    """Write ids a run recorded as confirmed (its sync-log inserts and updates)."""
    if run_id is None or "sync_log" not in store.table_names(STATE_SCHEMA):
        return pl.Series("write_id", [], pl.String)
    rows = store.query(
        f"select distinct write_id from {STATE_SCHEMA}.sync_log "
        "where run_id in (select run_id from this) and operation in ('insert', 'update') "
        "and write_id is not null",
        this=pl.DataFrame({"run_id": [run_id]}),
    )
    return rows["write_id"]


def now() -> datetime:
    return datetime.now(UTC)


def write_log(
    plan: SyncPlan, writes: pl.DataFrame, outcomes: pl.DataFrame, run_id: str, time: datetime
) -> pl.DataFrame:
    """Log rows for executed writes. outcomes: write_id, outcome, new_id, status, error."""
    ids = writes["write_id"].implode()  # their plan rows only: a batch costs what it holds
    sources = plan.insert_sources.filter(pl.col("write_id").is_in(ids))
    updates = plan.updates.filter(pl.col("write_id").is_in(ids))
    flows = sources.group_by("write_id").agg(
        flows=pl.col("flow").unique().sort().str.join(","), source_record=pl.col("source").first()
    )
    upd_flows = updates.group_by("write_id").agg(flows=pl.col("flow").unique().sort().str.join(","))
    props = updates.group_by("write_id", maintain_order=True).agg(
        properties=pl.format(
            "[{}]",
            pl.struct(property="property", old="old_value", new="new_value")
            .struct.json_encode()
            .str.join(","),
        )
    )
    out = (
        writes.join(outcomes, on="write_id", how="inner")
        .join(flows, on="write_id", how="left")
        .join(upd_flows, on="write_id", how="left", suffix="_u")
        .join(props, on="write_id", how="left")
        .with_columns(
            run_id=pl.lit(run_id),
            time=pl.lit(time),
            record_id=pl.coalesce("record_id", "new_id"),
            flows=pl.coalesce("flows", "flows_u"),
            operation=pl.when(pl.col("outcome").is_in(["inserted", "updated"]))
            .then(pl.col("op"))
            .otherwise(pl.col("outcome")),
            properties=pl.coalesce("properties", pl.col("values")),
            http_status=pl.col("status"),
        )
    )
    return conform(out, SYNC_LOG)


def decision_log(plan: SyncPlan, datatype: str, run_id: str, time: datetime) -> pl.DataFrame:
    """The plan's rejects and skips of records of `datatype`."""
    mine = pl.col("record").str.starts_with(datatype + ":")
    rejects = plan.rejects.filter(mine).with_columns(
        operation=pl.lit("reject"),
        properties=pl.struct(property="property", value="value").struct.json_encode(),
        error=pl.col("reason"),
    )
    skips = plan.skipped.filter(mine).with_columns(operation=pl.lit("skip"), error=pl.col("reason"))
    rows = pl.concat(
        [
            conform(rejects.rename({"record": "source_record", "flow": "flows"}), SYNC_LOG),
            conform(skips.rename({"record": "source_record", "flow": "flows"}), SYNC_LOG),
        ]
    )
    return rows.with_columns(
        run_id=pl.lit(run_id),
        time=pl.lit(time),
        datatype=pl.lit(datatype),
        system=pl.lit(datatype.split(".")[0]),
    )


def value_history(
    plan: SyncPlan, confirmed: pl.DataFrame, run_id: str, time: datetime
) -> pl.DataFrame:
    """sync_values rows for the confirmed writes (confirmed: write_id, new_id)."""
    rows = [pl.DataFrame(schema=SYNC_VALUES)]
    ups = plan.updates.join(confirmed, on="write_id", how="inner")
    if ups.height:  # (an initial load has none: no join with the plan's every mapped pair)
        rows += _update_values(plan, ups)
    inserts = plan.writes.filter(pl.col("op") == "insert").join(confirmed, on="write_id")
    if inserts.height:
        srcs = plan.insert_sources.group_by("write_id").agg(
            flow=pl.col("flow").first(), source_record=pl.col("source").first()
        )
        inserts = inserts.join(srcs, on="write_id", how="left", maintain_order="left")
        # one row per property written, decoded in a plain loop (map_elements costs more)
        ids, names, values = [], [], []
        for write_id, text in inserts.select("write_id", "values").iter_rows():
            for name, value in _json_items(text):
                ids.append(write_id)
                names.append(name)
                values.append(value)
        written = pl.DataFrame(
            {"write_id": ids, "property": names, "new_value": values},
            schema={"write_id": pl.String, "property": pl.String, "new_value": pl.String},
        )
        decoded = written.join(
            inserts.drop("property", "new_value", strict=False),
            on="write_id",
            how="left",
            maintain_order="left",
        )
        rows.append(
            conform(
                decoded.with_columns(
                    record_id=pl.col("new_id"),
                    direction=pl.lit("insert"),
                    reason=pl.lit("new record"),
                ),
                SYNC_VALUES,
            )
        )
    return pl.concat(rows).with_columns(run_id=pl.lit(run_id), time=pl.lit(time))


def _update_values(plan: SyncPlan, ups: pl.DataFrame) -> list[pl.DataFrame]:
    """sync_values rows of confirmed updates (ups: the plan's updates, with new_id)."""
    pairs = plan.mapped.select("flow", "source", "target", "property", "source_property")
    to_target = (
        ups.filter(pl.col("direction") == "to_target")
        .join(
            pairs,
            left_on=["flow", "record", "property"],
            right_on=["flow", "target", "property"],
            how="left",
        )
        .rename({"source": "source_record"})
    )
    to_source = (
        ups.filter(pl.col("direction") == "to_source")
        .join(
            pairs.rename({"property": "target_property"}),
            left_on=["flow", "record", "property"],
            right_on=["flow", "source", "source_property"],
            how="left",
        )
        .rename({"target": "source_record"})
    )
    return [conform(to_target, SYNC_VALUES), conform(to_source, SYNC_VALUES)]


def _json_items(text: str | None) -> list[list[str]]:
    if not text:
        return []
    return [[k, v if isinstance(v, str) else json.dumps(v)] for k, v in json.loads(text).items()]
