"""Reasons below the run table and planned rows, from a plan built by hand."""

from __future__ import annotations

import json

import polars as pl

from talk_assets.defs.answers import planned_rows, reason_lines, reasons, write_planned
from talk_assets.engine import SyncPlan
from talk_assets.engine import schemas as sch


def plan_with(**frames: list[dict]) -> SyncPlan:
    empty = SyncPlan.empty().frames()
    return SyncPlan(
        **{
            name: sch.conform(pl.DataFrame(frames[name]), dict(empty[name].schema))
            if name in frames
            else empty[name]
            for name in empty
        }
    )


def test_reasons_count_rows_per_reason_top_first():
    rejects = [
        {
            "flow": "f",
            "record": f"crmoffice.activities:{i}",
            "property": "ownerId",
            "value": "abc",
            "reason": "cannot convert 'abc' to integer",
        }
        for i in range(20)
    ] + [
        {
            "flow": "f",
            "record": f"powerofficego.customers:{i}",
            "property": "FirstName",
            "value": None,
            "reason": "required field FirstName missing",
        }
        for i in range(3)
    ]
    log = pl.DataFrame(
        {
            "operation": ["rejected", "insert"],
            "error": ["name too long", None],
            "http_status": [422, None],
            "datatype": ["crmoffice.contacts"] * 2,
            "write_id": ["w1", "w2"],
            "source_record": [None, None],
            "record_id": [None, "9"],
        }
    )
    lines = reason_lines(reasons(plan_with(rejects=rejects), log))
    assert lines == [
        "rejected 24: 20 x \"ownerId: cannot convert 'abc' to integer\" (crmoffice.activities), "
        '3 x "FirstName: required field FirstName missing" (powerofficego.customers), '
        '1 x "name too long (HTTP 422)" (crmoffice.contacts)'
    ]


def test_planned_rows_list_updates_and_inserts_property_by_property(tmp_path):
    plan = plan_with(
        updates=[
            {
                "write_id": "u",
                "flow": "f",
                "direction": "to_source",
                "system": "a",
                "datatype": "a.x",
                "record": "a.x:1",
                "record_id": "1",
                "property": "Name",
                "old_value": "Old",
                "new_value": "New",
                "reason": "changed in b.y:2",
            }
        ],
        writes=[
            {
                "write_id": "i",
                "op": "insert",
                "system": "b",
                "datatype": "b.y",
                "flow": "f",
                "values": json.dumps({"name": "Ann", "age": 3}),
            }
        ],
        insert_sources=[{"write_id": "i", "flow": "f", "source": "a.x:7"}],
    )
    rows = planned_rows(plan)
    assert rows.height == 3
    update = rows.filter(pl.col("operation") == "update").row(0, named=True)
    assert (update["old_value"], update["new_value"]) == ("Old", "New")
    assert "to source" in update["why"]
    inserts = rows.filter(pl.col("operation") == "insert")
    assert set(inserts["record"]) == {"new b.y for a.x:7"}
    assert sorted(inserts["new_value"]) == ["3", "Ann"]
    write_planned(rows, tmp_path / "p.csv")
    assert pl.read_csv(tmp_path / "p.csv").height == 3
