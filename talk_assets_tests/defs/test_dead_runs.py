"""S10 "nothing blocked": a run whose process died is finished and frees its tenant; a live run
is waited for (bounded, out loud); two first syncs at once do not corrupt the storages."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest
from dagster import (
    DagsterInstance,
    DagsterRun,
    DagsterRunStatus,
    asset,
    build_schedule_context,
    build_sensor_context,
    materialize,
)
from dagster._core.utils import make_new_run_id

from talk_assets.cli import main
from talk_assets.defs.build import SYNC_JOB, TENANT_TAG, build_definitions, state_pool
from talk_assets.defs.dead_runs import (
    HOST_TAG,
    PID_TAG,
    START_TAG,
    finish_dead_runs,
    owner_tags,
    why_dead,
)
from talk_assets.defs.runner import dagster_instance
from talk_assets.defs.settings import SyncSettings
from talk_assets.systems import registry
from talk_assets.systems.crmoffice.resource import CrmofficeResource
from talk_assets.systems.emulator import running_emulators
from talk_assets.systems.powerofficego.resource import PowerOfficeGoResource


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("TALK_ASSETS_HOME", str(tmp_path))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster"))
    monkeypatch.setenv("TALK_ASSETS_ENV_FILE", os.devnull)
    return tmp_path


def exited_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def started_run(instance: DagsterInstance, tenant: str, tags: dict, steps: int = 2) -> str:
    """A STARTED run of `tenant` whose steps claim the tenant's pool the way Dagster's step
    scheduler does (the pool allows one slot: the first step claims it, the others queue)."""
    run_id = make_new_run_id()
    instance.add_run(
        DagsterRun(
            job_name=SYNC_JOB,
            run_id=run_id,
            status=DagsterRunStatus.STARTED,
            tags={TENANT_TAG: tenant, **tags},
        )
    )
    storage = instance.event_log_storage
    pool = state_pool(tenant)
    storage.initialize_concurrency_limit_to_default(pool)
    for i in range(steps):
        storage.claim_concurrency_slot(pool, run_id, f"step_{i}")
    return run_id


def claimed(instance: DagsterInstance, tenant: str) -> list[str]:
    info = instance.event_log_storage.get_concurrency_info(state_pool(tenant))
    return [s.run_id for s in info.claimed_slots]


def test_s10_dead_run_is_marked_failed_and_frees_its_pool_and_a_live_run_is_kept(home):
    instance = dagster_instance()
    dead_pid = exited_pid()
    dead = started_run(instance, "t", {**owner_tags(), PID_TAG: str(dead_pid), START_TAG: ""})
    live = started_run(instance, "u", owner_tags())
    assert claimed(instance, "t") == [dead]

    finished = finish_dead_runs(instance)

    assert [f.run_id for f in finished] == [dead]
    (done,) = finished
    assert (done.freed_slots, done.dropped_steps) == (1, 1)
    assert str(done) == (
        f"finished dead run {dead} (process {dead_pid} is gone): marked failed, "
        "freed 1 pool slot, dropped 1 pending step"
    )
    run = instance.get_run_by_id(dead)
    assert run is not None and run.status == DagsterRunStatus.FAILURE
    failure = [
        e for e in instance.all_logs(dead) if e.dagster_event and e.dagster_event.is_run_failure
    ]
    assert failure and f"process {dead_pid} is gone" in failure[0].message
    assert claimed(instance, "t") == []
    assert not instance.event_log_storage.get_concurrency_info(state_pool("t")).pending_steps
    # the live run is untouched and keeps its slot
    assert instance.get_run_by_id(live).status == DagsterRunStatus.STARTED
    assert claimed(instance, "u") == [live]
    # the next run of tenant t gets the slot at once
    assert started_run(instance, "t", owner_tags(), steps=1) in claimed(instance, "t")
    assert finish_dead_runs(instance) == []


def test_s10_reused_pid_other_host_and_untagged_runs_are_judged_right():
    mine = owner_tags()
    run = DagsterRun(job_name=SYNC_JOB, run_id=make_new_run_id(), tags=mine)
    assert why_dead(run) is None
    if mine[START_TAG]:  # Linux: a pid that now belongs to another process is dead
        reused = run.with_tags({**mine, START_TAG: "1"})
        assert "another process" in (why_dead(reused) or "")
    assert why_dead(run.with_tags({**mine, PID_TAG: str(exited_pid())})) is not None
    assert why_dead(run.with_tags({**mine, HOST_TAG: "elsewhere"})) is None
    assert why_dead(DagsterRun(job_name=SYNC_JOB, run_id=make_new_run_id())) is None


def test_s10_sync_waits_bounded_for_a_live_run_and_exits_naming_it(home, capsys, monkeypatch):
    for spec in registry.specs():  # loopback systems (nothing listens: no request is made)
        monkeypatch.setenv(spec.env_var("base_url"), "http://127.0.0.1:9/api")
        monkeypatch.setenv(spec.env_var("token_url"), "http://127.0.0.1:9/token")
    instance = dagster_instance()
    live = started_run(instance, "default", owner_tags(), steps=1)

    code = main(["sync", "--wait", "1"])

    err = capsys.readouterr().err
    assert code != 0
    assert f"waiting up to 1 s for run {live} (pid {os.getpid()}) that holds tenant default" in err
    assert f"tenant default is held by run {live}" in err
    assert instance.get_run_by_id(live).status == DagsterRunStatus.STARTED


CREATE = textwrap.dedent(
    """
    import sys
    from talk_assets.defs.runner import dagster_instance
    from talk_assets.store.tenant import TenantStore, tenant_path
    sys.stdin.readline()  # start together
    instance = dagster_instance()
    instance.get_runs(limit=1)
    TenantStore(tenant_path("default")).write_tables(append={})
    """
)


def test_s10_two_first_syncs_at_once_create_the_instance_once(tmp_path):
    for attempt in range(3):
        base = tmp_path / f"home{attempt}"
        env = {
            **os.environ,
            "TALK_ASSETS_HOME": str(base),
            "DAGSTER_HOME": str(base / "dagster"),
        }
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", CREATE],
                env=env,
                stdin=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(2)
        ]
        for p in procs:  # both have imported; let them go at once
            p.stdin.write("go\n")
            p.stdin.flush()
        for p in procs:
            _, err = p.communicate(timeout=60)
            assert p.returncode == 0, err
        # a later process opens the instance and records a run without migration errors
        later = subprocess.run(
            [
                sys.executable,
                "-c",
                "from talk_assets.defs.runner import dagster_instance\n"
                "from dagster import DagsterRun\n"
                "i = dagster_instance()\n"
                "i.add_run(DagsterRun(job_name='sync', run_id='r1'))\n"
                "assert i.get_run_by_id('r1')\n",
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert later.returncode == 0, later.stderr


def test_s10_schedules_and_change_sensor_finish_dead_runs_before_deciding(home, monkeypatch):
    instance = dagster_instance()
    settings = SyncSettings(tenant="auto", home=str(home))
    defs = build_definitions(settings=settings)

    dead = started_run(instance, "auto", {**owner_tags(), PID_TAG: str(exited_pid())})
    schedule = defs.resolve_schedule_def("sync_every_5_minutes")
    with build_schedule_context(instance=instance) as context:
        assert schedule.evaluate_tick(context).run_requests
    assert instance.get_run_by_id(dead).status == DagsterRunStatus.FAILURE
    assert claimed(instance, "auto") == []

    dead = started_run(instance, "auto", {**owner_tags(), PID_TAG: str(exited_pid())})
    with running_emulators(seed=1, size=2, rate_limits=False) as emu:
        for name, value in emu.env.items():
            monkeypatch.setenv(name, value)
        resources = {
            "settings": settings,
            "powerofficego": PowerOfficeGoResource.from_env(requests_per_second=0),
            "crmoffice": CrmofficeResource.from_env(requests_per_second=0),
        }
        sensor = build_definitions(settings=settings).resolve_sensor_def("changes_sensor")
        with build_sensor_context(instance=instance, resources=resources) as context:
            data = sensor.evaluate_tick(context)
    # the dead run no longer counts as "a sync is already running": a first read is requested
    assert data.run_requests, data.skip_message
    assert instance.get_run_by_id(dead).status == DagsterRunStatus.FAILURE


def test_s10_a_run_launched_without_owner_tags_is_tagged_by_its_process(home):
    """Runs the webserver or the daemon launch get their owner from the settings resource."""
    instance = dagster_instance()

    @asset
    def probe(settings: SyncSettings) -> int:
        return 1

    settings = SyncSettings(home=str(home))
    result = materialize([probe], resources={"settings": settings}, instance=instance)
    run = instance.get_run_by_id(result.run_id)
    assert run.tags[PID_TAG] == str(os.getpid())
    assert run.tags[HOST_TAG] == owner_tags()[HOST_TAG]
