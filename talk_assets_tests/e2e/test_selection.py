"""Materializing a selection of the sync step's assets (the UI's "materialize selected"): the
step plans, publishes what is selected and writes nothing it was not asked to; the next whole
run still writes what that plan left (S9/S10: nothing is lost by a partial run)."""

from __future__ import annotations

import pytest
from dagster import AssetKey, DagsterEventType

from talk_assets.defs.build import SYNC_JOB, build_definitions
from talk_assets.defs.planning import PLAN_KEY
from talk_assets_tests.e2e.conftest import World
from talk_assets_tests.e2e.test_rules import linked_pair

pytestmark = pytest.mark.e2e


def test_a_selection_without_sinks_plans_and_writes_nothing_and_the_next_run_writes(world: World):
    world.settle()
    emp, contact = linked_pair(world, "powerofficego.employees", "crmoffice.contacts")
    world.crm_patch(f"/contacts/{contact}", familyName="Utvalgt")
    defs = build_definitions(settings=world.settings(), resources=world.resources())
    graph = defs.resolve_asset_graph()
    sources = [k for k in graph.get_all_asset_keys() if k.path[0] in {"crmoffice", "powerofficego"}]
    writes_before = world.write_requests()

    result = defs.resolve_job_def(SYNC_JOB).execute_in_process(
        instance=world.instance, asset_selection=[*sources, PLAN_KEY], raise_on_error=False
    )

    assert result.success
    materialized = {
        e.asset_key
        for e in result.all_events
        if e.event_type == DagsterEventType.ASSET_MATERIALIZATION
    }
    assert PLAN_KEY in materialized
    assert AssetKey(["talk", "clusters"]) not in materialized
    assert not any(k.path[0] in {"sinks", "flows"} for k in materialized)
    assert world.write_requests() == writes_before
    plan = world.table("talk", "plan")
    assert plan.height >= 1  # the edit's write, planned and published

    rep = world.sync()
    assert rep.success and not rep.skipped and rep.writes == 1
    assert [e["LastName"] for e in world.po("/Employees") if str(e["Id"]) == emp] == ["Utvalgt"]
