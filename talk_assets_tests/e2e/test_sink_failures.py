"""A system that stops answering while the sinks write: the run names the datatypes it could
not write and why, and the other system's writes land and are recorded (one step writes both
systems at once, `sink_threads.py`)."""

from __future__ import annotations

import polars as pl
import pytest

from talk_assets.commands.sync import failure_lines
from talk_assets.defs import connectors, plan_memory, sink_writes

from .conftest import World
from .test_rules import linked_pair

pytestmark = pytest.mark.e2e


def test_s10_a_system_down_while_writing_is_named_and_the_other_system_is_written(
    world: World, monkeypatch
):
    world.settle()
    _employee, contact = linked_pair(world, "powerofficego.employees", "crmoffice.contacts")
    project, _activity = linked_pair(world, "powerofficego.projects", "crmoffice.activities")
    world.crm_patch(f"/contacts/{contact}", familyName="Nedetid")  # -> a PowerOffice write
    world.po_patch(f"/Projects/{project}", Name="Skrevet mens Crm var nede")  # -> a Crm write
    world.emu.crmoffice.set_faults(0.0)

    real_sink = sink_writes.run_sink

    def crm_goes_down(run, dt, settings, resource):
        if dt.system == "crmoffice":  # after planning read it: down for every write
            world.emu.crmoffice.set_faults(1.0, ["drop"])
        return real_sink(run, dt, settings, resource)

    monkeypatch.setattr(sink_writes, "run_sink", crm_goes_down)
    rep = world.sync()
    world.emu.crmoffice.set_faults(0.0)
    assert not rep.success
    lines = failure_lines(rep)
    assert lines[0].startswith("sync failed: writing crmoffice.")
    assert any("why:" in line and "crmoffice" in line for line in lines), lines
    assert not any("Traceback" in line for line in lines)
    assert not any("powerofficego" in line for line in lines[:-1]), lines  # not its fault
    names = [e["LastName"] for e in world.po("/Employees")]
    assert "Nedetid" in names, "the writes of the system that was up did not land"
    log = world.state("sync_log").filter(run_id=rep.run_id, operation="update")
    assert log.filter(datatype="powerofficego.employees").height == 1

    monkeypatch.setattr(sink_writes, "run_sink", real_sink)
    after = world.sync()  # the system is back: what it missed is written now
    assert after.success
    assert "Skrevet mens Crm var nede" in [a["subject"] for a in world.crm("/activities")]


def test_s10_a_system_down_mid_sink_sends_no_further_batch_and_drops_its_prepared_intents(
    world: World, monkeypatch
):
    """The batch after the one being sent is prepared meanwhile (its intents written); a fatal
    answer stops the sink before it is sent, and its intents go with the last commit: what is
    left pending is exactly the inserts that were sent and not answered."""
    monkeypatch.setattr(sink_writes, "BATCH", 2)
    monkeypatch.setattr(sink_writes, "MAX_COMMITS", 10_000)
    real_execute, sent = connectors.execute, []

    def execute(resource, ops):
        if (
            ops
            and ops[0].kind == "insert"
            and getattr(ops[0].datatype, "key", ops[0].datatype) == "powerofficego.customers"
        ):
            sent.append([op.reference for op in ops])
            if len(sent) == 2:  # down while the second batch is sent
                world.emu.powerofficego.set_faults(1.0, ["drop"])
        return real_execute(resource, ops)

    monkeypatch.setattr(connectors, "execute", execute)
    rep = world.sync()
    world.emu.powerofficego.set_faults(0.0)
    assert not rep.success
    assert len(sent) == 2, "a batch was sent after the system was found down"
    pending = world.state("pending_inserts").filter(datatype="powerofficego.customers")
    assert sorted(pending["reference"]) == sorted(sent[1])


def test_s10_a_plan_not_stored_while_its_writes_land_is_planned_again_and_nothing_doubles(
    world: World, monkeypatch
):
    """The plan is stored while the first batches are sent (`MadePlan.store`). When storing
    it fails, the writes already under way land and are recorded, the run fails and says why,
    and the changes it read stay pending: the next run plans them again from the recorded
    state, sends none of those writes twice and loses no edit."""
    world.settle()
    _employee, contact = linked_pair(world, "powerofficego.employees", "crmoffice.contacts")
    project, _activity = linked_pair(world, "powerofficego.projects", "crmoffice.activities")
    world.crm_patch(f"/contacts/{contact}", familyName="Uten plan")  # -> a PowerOffice write
    world.po_patch(f"/Projects/{project}", Name="Skrevet uten lagret plan")  # -> a Crm write

    def no_space(*_args, **_kwargs):
        raise OSError("No space left on device")

    real_store_plan = plan_memory.store_plan
    monkeypatch.setattr(plan_memory, "store_plan", no_space)
    writes_before = world.write_requests()
    rep = world.sync()
    assert not rep.success
    assert any("No space left on device" in line for line in failure_lines(rep))
    sent = world.write_requests() - writes_before
    assert sent == 2, "the writes under way did not land"
    recorded = world.state("sync_log").filter(run_id=rep.run_id)
    assert recorded.filter(pl.col("operation") == "update").height == 2
    assert world.state("changed_records").height > 0, "the unplanned changes were consumed"

    monkeypatch.setattr(plan_memory, "store_plan", real_store_plan)
    after = world.sync()
    assert after.success
    assert world.write_requests() - writes_before == sent, "a recorded write was sent again"
    assert "Uten plan" in [e["LastName"] for e in world.po("/Employees")]
    assert "Skrevet uten lagret plan" in [a["subject"] for a in world.crm("/activities")]
    assert world.state("changed_records").height == 0
