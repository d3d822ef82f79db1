"""Automation: the change sensor, the schedules and the run failure sensor, evaluated in-process
against the emulators (loopback only)."""

from __future__ import annotations

import time

import pytest
from dagster import (
    DagsterInstance,
    RunRequest,
    SkipReason,
    build_run_status_sensor_context,
    build_schedule_context,
    build_sensor_context,
    validate_run_config,
)

from talk_assets.defs.automation import record_run_failures
from talk_assets.defs.build import SYNC_JOB, build_definitions
from talk_assets.defs.runner import run_sync
from talk_assets.defs.settings import SyncSettings
from talk_assets.store.tenant import STATE_SCHEMA
from talk_assets.systems.crmoffice.resource import CrmofficeResource
from talk_assets.systems.emulator import running_emulators
from talk_assets.systems.powerofficego.resource import PowerOfficeGoResource

MAX_RUNS = 5


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("TALK_ASSETS_HOME", str(tmp_path))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster"))
    return tmp_path


@pytest.fixture
def emulators(home, monkeypatch):
    with running_emulators(seed=1, size=10, rate_limits=False) as emu:
        for name, value in emu.env.items():
            monkeypatch.setenv(name, value)
        yield emu


def sensor_resources(settings: SyncSettings) -> dict:
    return {
        "settings": settings,
        "powerofficego": PowerOfficeGoResource.from_env(requests_per_second=0),
        "crmoffice": CrmofficeResource.from_env(requests_per_second=0),
    }


def evaluate_change_sensor(settings: SyncSettings, instance: DagsterInstance):
    """One tick, evaluated the way the sensor daemon does (`evaluate_tick`): a RunRequest or
    a SkipReason."""
    defs = build_definitions(settings=settings)
    sensor = defs.resolve_sensor_def("changes_sensor")
    with build_sensor_context(instance=instance, resources=sensor_resources(settings)) as context:
        data = sensor.evaluate_tick(context)
    if data.run_requests:
        (request,) = data.run_requests
        return request
    return SkipReason(data.skip_message)


def settle(settings: SyncSettings, instance: DagsterInstance) -> list[int]:
    """Run syncs until one writes nothing (bounded); the writes per run."""
    writes = []
    deadline = time.monotonic() + 90
    for _ in range(MAX_RUNS):
        rep = run_sync(settings, instance=instance)
        assert rep.success, rep.error
        writes.append(rep.writes)
        if rep.writes == 0 or time.monotonic() > deadline:
            break
    assert writes[-1] == 0, f"no steady state after {len(writes)} runs: {writes}"
    return writes


@pytest.mark.e2e
def test_change_sensor_requests_a_run_after_an_edit_and_not_without_one(home, emulators):
    settings = SyncSettings(tenant="auto", home=str(home))
    instance = DagsterInstance.ephemeral()

    # nothing read yet: a first full read is due
    first = evaluate_change_sensor(settings, instance)
    assert isinstance(first, RunRequest), first

    writes = settle(settings, instance)
    assert writes[0] > 0  # the initial load inserted records

    quiet = evaluate_change_sensor(settings, instance)
    assert isinstance(quiet, SkipReason), quiet
    assert "no changes" in quiet.skip_message

    # a user edits a contact in Crmoffice through its API
    crm = emulators.crmoffice.client()
    contact = crm.get("/contacts", params={"limit": 1}).raise_for_status().json()["items"][0]
    crm.patch(
        f"/contacts/{contact['id']}",
        json={"givenName": f"{contact.get('givenName') or 'X'}-Edited"},
        headers={"Content-Type": "application/merge-patch+json"},
    ).raise_for_status()

    changed = evaluate_change_sensor(settings, instance)
    assert isinstance(changed, RunRequest), changed
    assert changed.tags["talk_assets/changed"] == "crmoffice.contacts"

    # the sync the sensor asks for picks the edit up; then the sensor is quiet again
    settle(settings, instance)
    again = evaluate_change_sensor(settings, instance)
    assert isinstance(again, SkipReason), again

    # an edit in PowerOffice Go is seen too
    po = emulators.powerofficego.client()
    employee = po.get("/Employees").raise_for_status().json()[0]
    po.patch(
        f"/Employees/{employee['Id']}",
        json=[{"op": "replace", "path": "/PhoneNumber", "value": "+47 900 00 001"}],
        headers={"Content-Type": "application/json-patch+json"},
    ).raise_for_status()
    po_changed = evaluate_change_sensor(settings, instance)
    assert isinstance(po_changed, RunRequest), po_changed
    assert po_changed.tags["talk_assets/changed"] == "powerofficego.employees"


def test_schedules_have_their_cron_and_run_config(home):
    defs = build_definitions(settings=SyncSettings(tenant="auto", home=str(home)))
    every = defs.resolve_schedule_def("sync_every_5_minutes")
    daily = defs.resolve_schedule_def("full_read_daily")
    assert every.cron_schedule == "*/5 * * * *"
    assert daily.cron_schedule == "0 3 * * *"
    assert every.job_name == daily.job_name == SYNC_JOB

    def run_config(schedule) -> dict:
        data = schedule.evaluate_tick(build_schedule_context())
        (request,) = data.run_requests
        return request.run_config

    assert not run_config(every).get("resources", {}).get("settings")
    assert run_config(daily) == {"resources": {"settings": {"config": {"full_read": True}}}}
    # the daily run config is valid for the job and reaches the settings resource
    validated = validate_run_config(defs.resolve_job_def(SYNC_JOB), run_config(daily))
    assert validated["resources"]["settings"]["config"]["full_read"] is True


def test_sensors_are_defined_for_the_sync_job(home):
    defs = build_definitions(settings=SyncSettings(tenant="auto", home=str(home)))
    changes = defs.resolve_sensor_def("changes_sensor")
    assert changes.job_name == SYNC_JOB
    assert {"settings", "powerofficego", "crmoffice"} <= set(changes.required_resource_keys)
    assert defs.resolve_sensor_def("record_run_failures") is not None


@pytest.mark.e2e
def test_run_failure_sensor_records_the_failed_run(home, emulators):
    settings = SyncSettings(tenant="auto", home=str(home), mass_write_limit=0)
    instance = DagsterInstance.ephemeral()
    rep = run_sync(settings, instance=instance)
    assert not rep.success
    assert "circuit breaker" in (rep.error or "")
    run = instance.get_run_by_id(rep.run_id)
    failure = next(
        e.dagster_event
        for e in instance.all_logs(rep.run_id)
        if e.dagster_event is not None and e.dagster_event.event_type_value == "PIPELINE_FAILURE"
    )

    context = build_run_status_sensor_context(
        sensor_name="record_run_failures",
        dagster_event=failure,
        dagster_instance=instance,
        dagster_run=run,
        resources={"settings": settings},
    ).for_run_failure()
    record_run_failures(context)

    failures = settings.store().read_table(STATE_SCHEMA, "run_failures")
    assert failures is not None
    assert failures["run_id"].to_list() == [rep.run_id]
    assert failures["job"].to_list() == [SYNC_JOB]
    assert failures["error"][0]
