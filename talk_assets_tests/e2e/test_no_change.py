"""S9, cost in proportion to change: a run that read nothing and has nothing pending skips
planning and the sinks and says so; anything unfinished or new makes the next run plan."""

from __future__ import annotations

import pytest
from dagster import DagsterEventType, Failure

from talk_assets.defs import sink_writes as sinks
from talk_assets_tests.e2e.conftest import World
from talk_assets_tests.e2e.test_rules import linked_pair

pytestmark = pytest.mark.e2e


def plans(world: World) -> int:
    return world.state("plans").height


def test_s9_a_run_with_nothing_new_skips_planning_and_sinks(world: World):
    world.settle()
    planned = plans(world)
    writes_before = world.write_requests()
    rep = world.sync()
    assert rep.success and rep.skipped and "nothing read and nothing pending" in rep.skipped
    assert sum(rep.read.values()) == 0
    assert plans(world) == planned
    assert world.write_requests() == writes_before

    # A user's edit is read, planned and written; the run after reads the echo and plans
    # again (writing nothing); then the tenant is idle again.
    emp, contact = linked_pair(world, "powerofficego.employees", "crmoffice.contacts")
    world.crm_patch(f"/contacts/{contact}", familyName="Endret")
    rep = world.sync()
    assert rep.success and not rep.skipped and rep.writes == 1
    assert [e["LastName"] for e in world.po("/Employees") if str(e["Id"]) == emp] == ["Endret"]
    rep = world.sync()
    assert not rep.skipped and rep.writes == 0
    assert world.sync().skipped
    # The daily full read plans everything anyway (the safety net).
    assert not world.sync(full_read=True).skipped


def test_s10_a_plan_whose_sinks_did_not_finish_is_planned_again(world: World, monkeypatch):
    """Records read by a run that stopped before its sinks finished are not lost by skipping:
    the next run has read nothing new, and still plans and writes the edit."""
    world.settle()
    emp, contact = linked_pair(world, "powerofficego.employees", "crmoffice.contacts")
    world.crm_patch(f"/contacts/{contact}", familyName="Avbrutt")

    def stopped(*args, **kwargs):
        raise Failure(description="simulated stop before the sink wrote anything")

    real_sink = sinks.run_sink
    monkeypatch.setattr(sinks, "run_sink", stopped)
    rep = world.sync()
    assert not rep.success and rep.read["crmoffice/contacts"] == 1
    monkeypatch.setattr(sinks, "run_sink", real_sink)

    rep = world.sync()
    assert rep.success and not rep.skipped, "the unfinished plan's edit would be lost"
    assert sum(rep.read.values()) == 0
    assert rep.writes == 1
    names = [e["LastName"] for e in world.po("/Employees") if str(e["Id"]) == emp]
    assert names == ["Avbrutt"]


def test_s11_runs_carry_their_counts_as_tags(world: World):
    """The UI's run list shows what each run did (read, inserted, updated, rejected)."""
    rep = world.sync()
    tags = world.instance.get_run_by_id(rep.run_id).tags
    assert int(tags["talk_assets/read"]) == sum(rep.read.values()) > 0
    assert int(tags["talk_assets/inserted"]) == int(rep.flows["inserted"].sum()) > 0
    assert "talk_assets/skipped" not in tags
    world.settle()
    idle = world.sync()
    assert idle.skipped
    assert world.instance.get_run_by_id(idle.run_id).tags["talk_assets/skipped"]


def check_outcomes(world: World, run_id: str) -> dict[tuple[str, str], tuple[bool, bool]]:
    """(asset, check) -> (passed, skipped) of the checks a run evaluated."""
    events = world.instance.all_logs(run_id, of_type=DagsterEventType.ASSET_CHECK_EVALUATION)
    outcomes = {}
    for record in events:
        assert record.dagster_event is not None
        evaluation = record.dagster_event.asset_check_evaluation_data
        skipped = evaluation.metadata.get("skipped")
        outcomes[(evaluation.asset_key.to_user_string(), evaluation.check_name)] = (
            evaluation.passed,
            bool(skipped and skipped.value),
        )
    return outcomes


def test_s9_a_skipped_plan_keeps_each_checks_last_outcome(world: World):
    """A run that skips planning re-publishes each check's last outcome, marked skipped: a
    warning from the last plan stays visible until a plan clears it."""
    world.settle()
    planned = world.sync(full_read=True, max_reject_share=0.0)
    assert planned.success and not planned.skipped
    failing = {
        key for key, (passed, _) in check_outcomes(world, planned.run_id).items() if not passed
    }
    assert failing, "the sample data has rejects: some flow is over a zero threshold"

    idle = world.sync()
    assert idle.skipped
    outcomes = check_outcomes(world, idle.run_id)
    assert all(skipped for _, skipped in outcomes.values())
    assert {key for key, (passed, _) in outcomes.items() if not passed} == failing
