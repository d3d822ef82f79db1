"""S9, cost in proportion to change: a run plans only the clusters of what it read (and what
the last plan left open), reads only their records and state, and that plan is the full one.

Checked with real runs: the incremental dry run and a full-read dry run of the same tenant plan
the same rows, and the stored cluster table keeps every record after incremental plans.
"""

from __future__ import annotations

import polars as pl
import pytest
from dagster import DagsterEventType

from talk_assets.defs.sinks import sink_datatypes
from talk_assets.flows.spec import committed_flows
from talk_assets.systems import resolve_flow
from talk_assets_tests.e2e.conftest import World, scope_of
from talk_assets_tests.e2e.test_rules import linked_pair

pytestmark = pytest.mark.e2e


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
    # The plan's tables were updated by key; their materializations count the stored rows.
    for key, (rows, written) in published_row_counts(world, rep.run_id).items():
        assert rows == stored_rows(world, key), key
        assert written is not None and written <= rows, (key, written, rows)
    rows, written = published_row_counts(world, rep.run_id)["talk/clusters"]
    assert written is not None and written < clusters_before < rows
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


def published_row_counts(world: World, run_id: str) -> dict[str, tuple[int, int | None]]:
    """(dagster/row_count, rows_written) of the cluster and flow tables a run materialized."""
    events = world.instance.all_logs(run_id, of_type=DagsterEventType.ASSET_MATERIALIZATION)
    counts = {}
    for record in events:
        mat = record.asset_materialization
        assert mat is not None
        if mat.asset_key.path[0] in ("talk", "flows") and mat.asset_key.path[-1] != "plan":
            written = mat.metadata.get("rows_written")
            counts["/".join(mat.asset_key.path)] = (
                int(mat.metadata["dagster/row_count"].value),
                None if written is None else int(written.value),
            )
    assert "talk/clusters" in counts and len(counts) > 1, counts
    return counts


def stored_rows(world: World, asset_key: str) -> int:
    """Rows of an asset's stored table (the IO manager's: schema and table are the key's last
    two parts)."""
    schema, table = asset_key.split("/")[-2:]
    with world.store.connect(read_only=True) as con:
        return int(con.execute(f'select count(*) from "{schema}"."{table}"').fetchone()[0])


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
    # A full plan's flow counts are its flow tables': pairs that passed the flow's filter
    # (a company customer clustered with a contact through its contact person is no pair of
    # `customers_person_to_contacts`).
    events = world.instance.all_logs(full.run_id, of_type=DagsterEventType.ASSET_MATERIALIZATION)
    flows = [r.asset_materialization for r in events if r.asset_materialization is not None]
    flows = [m for m in flows if m.asset_key.path[0] == "flows"]
    assert flows
    for mat in flows:
        schema, table = mat.asset_key.path[-2:]
        with world.store.connect(read_only=True) as con:
            (sources,) = con.execute(
                f'select count(distinct source_record) from "{schema}"."{table}"'
            ).fetchone()
        assert mat.metadata["linked_source_records"].value == sources, mat.asset_key
