"""What a sink's receipt shows first in the UI: what happened to which record, and why."""

import polars as pl

from talk_assets.defs.metadata import markdown_table
from talk_assets.defs.synclog import SYNC_LOG
from talk_assets.defs.table_docs import published_receipt


def test_s11_receipt_preview_shows_operation_record_and_reason_first():
    row = {c: None for c in SYNC_LOG} | {
        "run_id": "r1",
        "operation": "rejected",
        "record_id": "17",
        "source_record": "acme.customers:17",
        "error": "ownerId: not an integer",
    }
    receipt = pl.DataFrame([row], schema=SYNC_LOG)
    ordered = published_receipt(receipt)
    assert ordered.columns[:5] == ["operation", "record_id", "source_record", "properties", "error"]
    assert sorted(ordered.columns) == sorted(SYNC_LOG)
    header = markdown_table(ordered).value.splitlines()[0]
    assert header.startswith("| operation | record_id | source_record | properties | error |")
