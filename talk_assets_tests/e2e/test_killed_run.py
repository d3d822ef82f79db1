"""S10 "nothing blocked", end to end: a `talk-assets sync` killed with SIGKILL mid-run does not
block the tenant; the next `talk-assets sync` finishes the dead run and syncs at once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from dagster import DagsterRunStatus

from talk_assets.defs.build import state_pool
from talk_assets.defs.runner import dagster_instance
from talk_assets.systems.emulator import running_emulators

TALK_ASSETS = str(Path(sys.executable).parent / "talk-assets")


@pytest.mark.e2e
def test_s10_killed_run_is_finished_and_next_sync_runs(tmp_path, monkeypatch):
    env = {
        "TALK_ASSETS_HOME": str(tmp_path),
        "DAGSTER_HOME": str(tmp_path / "dagster"),
        "TALK_ASSETS_ENV_FILE": os.devnull,
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    instance = dagster_instance()
    pool = state_pool("default")
    with running_emulators(seed=5, size=20, rate_limits=False) as emu:
        env = {**os.environ, **emu.env, **env}
        first = subprocess.Popen(
            [TALK_ASSETS, "sync"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        # kill it mid-run: as soon as one of its steps holds the tenant's pool slot
        deadline = time.monotonic() + 60
        holder = []
        while not holder and first.poll() is None and time.monotonic() < deadline:
            holder = instance.event_log_storage.get_concurrency_info(pool).claimed_slots
            time.sleep(0.05)
        assert holder, f"the first sync never held the pool: {first.stderr.read()}"
        os.kill(first.pid, signal.SIGKILL)
        first.wait()
        killed = holder[0].run_id
        assert instance.get_run_by_id(killed).status == DagsterRunStatus.STARTED

        started = time.monotonic()
        second = subprocess.run(
            [TALK_ASSETS, "sync", "--wait", "5"],
            env=env,
            capture_output=True,
            text=True,
            timeout=180,
        )
        took = time.monotonic() - started

    assert second.returncode == 0, second.stderr
    assert (
        f"finished dead run {killed} (process {first.pid} is gone): marked failed, "
        "freed 1 pool slot" in second.stderr
    )
    assert "waiting" not in second.stderr
    assert instance.get_run_by_id(killed).status == DagsterRunStatus.FAILURE
    assert ": ok" in second.stdout
    print(f"second sync took {took:.1f} s")
