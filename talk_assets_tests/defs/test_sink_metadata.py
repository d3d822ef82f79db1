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


def test_s11_duplicate_inserts_check_finds_them_whether_or_not_the_sink_inserted(tmp_path):
    """The `no_duplicate_inserts` check's query: a sink that inserted this run asks the file;
    one that did not uses the run's one query of all datatypes, and finds the same rows."""
    from talk_assets.defs.sink_writes import SinkRun, _duplicates
    from talk_assets.engine import SyncPlan
    from talk_assets.store.tenant import TenantStore
    from talk_assets.systems import datatype

    store = TenantStore(tmp_path / "t.duckdb")
    contacts, activities = datatype("crmoffice.contacts"), datatype("crmoffice.activities")
    rows = [
        ("f1", "powerofficego.employees:1", "crmoffice.contacts:a"),
        ("f1", "powerofficego.employees:1", "crmoffice.contacts:b"),  # a second insert
        ("f1", "powerofficego.employees:2", "crmoffice.contacts:c"),
        ("f2", "powerofficego.projects:1", "crmoffice.activities:x"),
    ]
    inserted = pl.DataFrame(rows, schema=["flow", "source", "target"], orient="row")
    store.write_tables(append={"inserted": inserted})
    run = SinkRun(run_id="r1", plan=SyncPlan.empty())
    for was_inserted in (True, False):
        found = _duplicates(run, store, contacts, inserted=was_inserted)
        assert found.rows() == [("f1", "powerofficego.employees:1", 2)]
        assert _duplicates(run, store, activities, inserted=was_inserted).is_empty()
