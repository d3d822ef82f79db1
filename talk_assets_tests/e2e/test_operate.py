"""Operating it, as a user sees it: `sync` failures in a few lines with the log's path, and
`talk-assets check` against the real emulators with a good and a bad configuration."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .conftest import World

pytestmark = pytest.mark.e2e


def talk_assets(*args: str, timeout: float = 240, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "talk_assets.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "TALK_ASSETS_ENV_FILE": os.devnull, **env},
    )


def log_path(stderr: str) -> Path:
    line = next(line for line in stderr.splitlines() if line.strip().startswith("log: "))
    return Path(line.split("log: ", 1)[1].strip())


def test_a_wrong_key_ends_in_a_few_lines_naming_the_variable(world: World):
    proc = talk_assets("sync", POWEROFFICEGO_CLIENT_KEY="not-the-client-key")
    assert proc.returncode == 1
    err = proc.stderr
    assert "Traceback" not in err and "DagsterExecutionStepExecutionError" not in err
    assert len(err.strip().splitlines()) <= 6, err
    assert err.startswith("sync failed: reading powerofficego (")
    assert "invalid_client" in err and "HTTP 401" in err
    assert "POWEROFFICEGO_CLIENT_KEY" in err  # what to change
    log = log_path(err)
    assert log.parent == world.home / "logs" and log.name.endswith(".log")
    assert "STEP_FAILURE" in log.read_text()  # the full Dagster log is in the file
    assert world.write_requests() == 0


def test_a_refused_port_fails_within_seconds(world: World):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    started = time.monotonic()
    proc = talk_assets(
        "sync",
        CRMOFFICE_BASE_URL=f"http://127.0.0.1:{port}",
        CRMOFFICE_TOKEN_URL=f"http://127.0.0.1:{port}/connect/token",
    )
    assert time.monotonic() - started < 60  # Dagster's start-up included; no retry backoff
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    assert "reading crmoffice (activities, companies, contacts)" in proc.stderr
    assert "first contact" in proc.stderr and "CRMOFFICE_BASE_URL" in proc.stderr


def test_a_sync_leaves_no_database_half_written_back(world: World):
    """The program leaves without Python's teardown (`cli.entry`): it closes the tenant file
    and the Dagster databases itself first, so no WAL is left for the next run to replay."""
    proc = talk_assets("sync")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.rstrip().endswith(": ok") and proc.stderr == ""
    left = [p.name for p in world.home.rglob("*") if p.name.endswith(("-wal", "-shm", ".wal"))]
    assert left == []
    assert world.store.count("crmoffice", "contacts") > 0  # it did sync


def test_verbose_shows_the_dagster_log_live(world: World):
    proc = talk_assets("sync", "--verbose", "--dry-run")
    assert proc.returncode == 0, proc.stderr
    assert "STEP_SUCCESS" in proc.stderr or "RUN_SUCCESS" in proc.stderr


def test_check_passes_with_a_good_configuration_and_writes_nothing(world: World):
    world.settle()
    state = world.store.path
    before = (state.stat().st_mtime_ns, world.write_requests())
    started = time.monotonic()
    proc = talk_assets("check", timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert time.monotonic() - started < 30
    out = proc.stdout
    assert out.splitlines()[0].split() == ["check", "result", "detail"]
    assert "powerofficego token" in out and "crmoffice.contacts read" in out
    assert "powerofficego.addresses" not in out  # derived: no endpoint to read
    assert "rate limit" in out and "requests/s" in out
    latest = next(r.run_id for r in reversed(world.runs) if r.writes)
    assert "opens read-only" in out and f"latest run with writes {latest[:8]}" in out
    assert "FAILED" not in out and "all checks passed" in out
    assert (state.stat().st_mtime_ns, world.write_requests()) == before


def test_check_fails_with_a_wrong_key(world: World):
    proc = talk_assets("check", timeout=60, CRMOFFICE_CLIENT_SECRET="wrong-secret-value")
    assert proc.returncode == 1
    out = proc.stdout
    token = next(line for line in out.splitlines() if line.startswith("crmoffice token"))
    assert "FAILED" in token and "CRMOFFICE_CLIENT_SECRET" in token
    assert "wrong-secret-value" not in out + proc.stderr
    assert "powerofficego token" in out and "1 of " in out
    assert "Traceback" not in proc.stderr
