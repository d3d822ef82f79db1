"""S9, cost in proportion to change: a run plans only the clusters of what it read (and what
the last plan left open), reads only their records and state, and that plan is the full one.

Checked with real runs: the incremental dry run and a full-read dry run of the same tenant plan
the same rows, and the stored cluster table keeps every record after incremental plans.
"""

from __future__ import annotations

import polars as pl
import pytest
from dagster import AssetKey, DagsterEventType

from talk_assets.defs.sinks import sink_datatypes
from talk_assets.flows.spec import committed_flows
from talk_assets.systems import resolve_flow
from talk_assets_tests.e2e.conftest import World
from talk_assets_tests.e2e.test_rules import linked_pair

pytestmark = pytest.mark.e2e


def scope_of(world: World) -> str:
    """The `planned_scope` the last planning step published on `talk/clusters`."""
    event = world.instance.get_latest_materialization_event(AssetKey(["talk", "clusters"]))
    assert event is not None and event.asset_materialization is not None
    return event.asset_materialization.metadata["planned_scope"].value


def planned_rows(rep) -> pl.DataFrame:
    assert rep.success, rep.error
    planned = rep.planned
    assert planned is not None
    return planned.sort(planned.columns, nulls_last=True)


def test_s9_a_run_plans_only_the_clusters_of_what_changed(world: World):
    world.settle()
    clusters_before = world.clusters().height
    emp, contact = linked_pair(world, "powerofficego.employees", "crmoffice.contacts")
    world.crm_patch(f"/contacts/{contact}", familyName="Inkrementell")
    # A new person customer too: an insert planned incrementally.
    with world.emu.powerofficego.client() as client:
        client.post(
            "/Customers", json={"IsPerson": True, "FirstName": "Nina", "LastName": "Ny"}
        ).raise_for_status()

    incremental = planned_rows(world.sync(dry_run=True))
    full = planned_rows(world.sync(dry_run=True, full_read=True))
    assert incremental.height > 0
    assert incremental.equals(full), f"incremental:\n{incremental}\nfull:\n{full}"

    rep = world.sync()
    assert rep.success and rep.writes >= 2
    scope = scope_of(world)
    assert scope != "full" and int(scope.split()[0]) < clusters_before, scope
    assert [e["LastName"] for e in world.po("/Employees") if str(e["Id"]) == emp] == [
        "Inkrementell"
    ]
    world.settle()
    # Every record is still in exactly one cluster of the stored table (updated by key).
    clusters = world.clusters()
    assert clusters["record"].is_unique().all()
    assert clusters.height > clusters_before
    full_plan = world.sync(full_read=True)
    assert full_plan.success and full_plan.writes == 0
    assert world.clusters().sort("record").equals(clusters.sort("record"))


def materialized_sinks(world: World, run_id: str) -> dict[str, int]:
    """The sinks a run materialized, with the rows of their receipts."""
    events = world.instance.all_logs(run_id, of_type=DagsterEventType.ASSET_MATERIALIZATION)
    sinks = {}
    for record in events:
        mat = record.asset_materialization
        assert mat is not None
        if mat.asset_key.path[0] == "sinks":
            sinks[mat.asset_key.path[1]] = int(mat.metadata["dagster/row_count"].value)
    return sinks


def checked_sinks(world: World, run_id: str) -> set[str]:
    """The sinks whose `no_duplicate_inserts` check a run evaluated."""
    events = world.instance.all_logs(run_id, of_type=DagsterEventType.ASSET_CHECK_EVALUATION)
    return {
        record.dagster_event.asset_check_evaluation_data.asset_key.path[1]
        for record in events
        if record.dagster_event is not None
        and record.dagster_event.asset_check_evaluation_data.asset_key.path[0] == "sinks"
    }


def test_s9_only_sinks_that_did_something_are_materialized(world: World):
    """An incremental run materializes the sinks that wrote, linked or decided something; the
    others keep their last receipt. Every sink's check runs every time; the daily full read
    materializes all."""
    world.settle()
    _, contact = linked_pair(world, "powerofficego.employees", "crmoffice.contacts")
    world.crm_patch(f"/contacts/{contact}", familyName="Bare-en")

    rep = world.sync()
    assert rep.success and rep.writes >= 1
    sinks = materialized_sinks(world, rep.run_id)
    assert sinks and all(rows > 0 for rows in sinks.values()), sinks
    every = {
        f"{dt.system}__{dt.name}"
        for dt in sink_datatypes([resolve_flow(f) for f in world.flows or committed_flows()])
    }
    assert set(sinks) < every, "an idle sink was materialized"
    assert checked_sinks(world, rep.run_id) == every

    full = world.sync(full_read=True)
    assert full.success and full.writes == 0
    assert set(materialized_sinks(world, full.run_id)) == every
