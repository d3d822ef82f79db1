"""The published tables of `talk/clusters`, `talk/plan` and the sinks' receipts: their column
order (the columns a reader looks rows up by first) and a description per column, shown by the
UI as `dagster/column_schema`."""

from __future__ import annotations

import polars as pl
from dagster import TableColumn, TableSchema

from talk_assets.defs.metadata import key_columns_first
from talk_assets.defs.synclog import SYNC_LOG
from talk_assets.engine.schemas import CLUSTERS, WRITES

CLUSTER_COLUMNS: dict[str, str] = {
    "record": "A record (`system.datatype:id`), present or known from links and state.",
    "cluster": "Its cluster: the records that are the same thing (S1); id = smallest record key.",
    "datatype": "The record's datatype (`system.datatype`).",
    "gone": "True when the record is no longer in its system (S8).",
}

PLAN_COLUMNS: dict[str, str] = {
    "op": "`insert` (a new record) or `update` (changed properties of an existing record).",
    "datatype": "The written datatype (`system.datatype`).",
    "record": "The updated record (`system.datatype:id`); empty for an insert.",
    "cluster": "The cluster the written record belongs to (S1).",
    "flow": "The flow whose value is written (for an insert: the first contributing flow).",
    "values": "The written properties as JSON `{path: value}`, in the written field's type.",
    "record_id": "The updated record's id in its system; empty for an insert.",
    "parent_id": "The parent record's id, for child datatypes.",
    "system": "The written system.",
    "write_id": "The write's id, the key the sync log and the insert intents use.",
}

RECEIPT_COLUMNS: dict[str, str] = {
    "operation": (
        "insert, update (confirmed); rejected, failed, unknown (the system's answer); "
        "planned (dry run); reject, skip (the plan's decisions)."
    ),
    "record_id": "The written record's id (a new record's id for an insert).",
    "source_record": "The source record whose values were written (`system.datatype:id`).",
    "properties": "JSON: an update's `{property, old, new}` list, or the inserted object.",
    "error": "Why it was rejected or failed (the system's answer or the plan's reason).",
    "flows": "The flows whose values were written, comma separated.",
    "cluster": "The cluster of the written record (S1).",
    "system": "The written system.",
    "datatype": "The written datatype (`system.datatype`).",
    "http_status": "The HTTP status of the write request.",
    "write_id": "The planned write (`talk/plan`'s `write_id`).",
    "run_id": "The Dagster run that wrote it.",
    "time": "When the batch was recorded (UTC).",
}


def type_name(dtype: pl.DataType) -> str:
    """A polars type as the schemas name field types: string, integer, number, boolean, ..."""
    if dtype.is_integer():
        return "integer"
    if dtype.is_float():
        return "number"
    if isinstance(dtype, pl.Datetime):
        return "datetime"
    return {pl.String: "string", pl.Boolean: "boolean", pl.Date: "date"}.get(
        dtype.base_type(), str(dtype).lower()
    )


def _schema(columns: dict[str, str], types: dict[str, pl.DataType]) -> TableSchema:
    return TableSchema(
        columns=[
            TableColumn(name=name, type=type_name(types[name]), description=description)
            for name, description in columns.items()
        ]
    )


def clusters_schema() -> TableSchema:
    return _schema(CLUSTER_COLUMNS, CLUSTERS)


def plan_schema() -> TableSchema:
    return _schema(PLAN_COLUMNS, WRITES)


def receipt_schema() -> TableSchema:
    return _schema(RECEIPT_COLUMNS, SYNC_LOG)


def published_clusters(clusters: pl.DataFrame) -> pl.DataFrame:
    return key_columns_first(clusters, list(CLUSTER_COLUMNS))


def published_plan(writes: pl.DataFrame) -> pl.DataFrame:
    return key_columns_first(writes, list(PLAN_COLUMNS))


def published_receipt(receipt: pl.DataFrame) -> pl.DataFrame:
    return key_columns_first(receipt, list(RECEIPT_COLUMNS))
