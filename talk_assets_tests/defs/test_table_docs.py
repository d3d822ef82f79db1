"""The published tables of clusters, plan and sink receipts: every column described, the
columns a reader looks rows up by first."""

import polars as pl

from talk_assets.defs.synclog import SYNC_LOG
from talk_assets.defs.table_docs import (
    CLUSTER_COLUMNS,
    PLAN_COLUMNS,
    RECEIPT_COLUMNS,
    clusters_schema,
    plan_schema,
    published_clusters,
    published_plan,
    receipt_schema,
)
from talk_assets.engine.schemas import CLUSTERS, WRITES, empty


def test_every_column_of_the_engine_frames_is_described():
    # a column the engine or the sync log adds must get a description here too
    assert set(CLUSTER_COLUMNS) == set(CLUSTERS)
    assert set(PLAN_COLUMNS) == set(WRITES)
    assert set(RECEIPT_COLUMNS) == set(SYNC_LOG)
    for schema in (clusters_schema(), plan_schema(), receipt_schema()):
        assert all(c.description for c in schema.columns)
    types = {c.name: c.type for c in receipt_schema().columns}
    assert (types["http_status"], types["time"], types["error"]) == (
        "integer",
        "datetime",
        "string",
    )


def test_published_tables_put_the_key_columns_first():
    plan = published_plan(empty(WRITES))
    assert plan.columns[:4] == ["op", "datatype", "record", "cluster"]
    assert plan.columns[-1] == "write_id"
    assert plan.columns == [c.name for c in plan_schema().columns]
    clusters = published_clusters(pl.DataFrame(schema=dict(reversed(list(CLUSTERS.items())))))
    assert clusters.columns[:2] == ["record", "cluster"]
