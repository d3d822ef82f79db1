"""The plan a process saved is what its sinks and its report use, from memory (reading it
back costs a few tenths of a second at 100k records), and only for that tenant and run."""

from __future__ import annotations

import polars as pl
import pytest
from dagster import Failure

from talk_assets.defs import planning
from talk_assets.defs.planning import load_plan, save_plan
from talk_assets.engine import SyncPlan
from talk_assets.store.tenant import TenantStore


def a_plan() -> SyncPlan:
    empty = SyncPlan.empty()
    notes = pl.DataFrame({"flow": ["f"], "note": ["a note"]}).cast(dict(empty.notes.schema))
    return SyncPlan(**{**empty.frames(), "notes": notes})


def test_the_saved_plan_is_used_from_memory_until_the_report_releases_it(tmp_path, monkeypatch):
    monkeypatch.setattr(planning, "_last_saved", None)
    store = TenantStore(tmp_path / "t.duckdb")
    plan = a_plan()
    save_plan(store, plan, "run-1")

    assert load_plan(store, "run-1") is plan  # the sinks: from memory
    assert load_plan(store, "run-1", release=True) is plan  # the report: last use
    read_back = load_plan(store, "run-1")  # released: read from the tenant file
    assert read_back is not plan
    assert read_back.notes["note"].to_list() == ["a note"]


def test_a_remembered_plan_serves_neither_another_run_nor_another_tenant(tmp_path, monkeypatch):
    monkeypatch.setattr(planning, "_last_saved", None)
    store = TenantStore(tmp_path / "t.duckdb")
    other = TenantStore(tmp_path / "other.duckdb")
    save_plan(store, a_plan(), "run-1")
    save_plan(other, SyncPlan.empty(), "run-9")

    with pytest.raises(Failure, match="no plan from this run"):
        load_plan(store, "run-2")
    assert load_plan(store, "run-1").notes.height == 1  # read back: memory holds run-9's
    assert load_plan(other, "run-9").notes.height == 0
