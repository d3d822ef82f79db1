"""Secrets come from the environment and never reach logs, metadata, run storage or the
state database: a whole sync runs with unique secret values, then every byte it left is
searched for them."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from dagster import DagsterInstance

from talk_assets.defs.runner import run_sync
from talk_assets.defs.settings import SyncSettings
from talk_assets.systems.emulator import running_emulators

pytestmark = pytest.mark.e2e

SECRET_VARIABLES = (
    "POWEROFFICEGO_APPLICATION_KEY",
    "POWEROFFICEGO_CLIENT_KEY",
    "POWEROFFICEGO_SUBSCRIPTION_KEY",
    "CRMOFFICE_CLIENT_SECRET",
)


def test_no_secret_in_logs_metadata_run_storage_or_state(tmp_path: Path, monkeypatch, capfd):
    secrets = {name: f"s3cr3t-{uuid.uuid4().hex}" for name in SECRET_VARIABLES}
    for name, value in secrets.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("TALK_ASSETS_HOME", str(tmp_path))
    dagster_home = tmp_path / "dagster"
    dagster_home.mkdir()
    (dagster_home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    monkeypatch.setenv("DAGSTER_HOME", str(dagster_home))
    with running_emulators(seed=5, size=6, rate_limits=False) as emu:
        for key, value in emu.env.items():
            monkeypatch.setenv(key, value)
        assert all(emu.env[name] == value for name, value in secrets.items())
        instance = DagsterInstance.get()
        rep = run_sync(SyncSettings(home=str(tmp_path)), instance=instance, log_level="DEBUG")
        assert rep.success, rep.error
        assert rep.writes > 0
        bad = run_sync(  # a failing run: errors must not carry secrets either
            SyncSettings(home=str(tmp_path), mass_write_limit=0, full_read=True),
            instance=instance,
        )
        events = "\n".join(str(e) for e in instance.all_logs(rep.run_id))
        events += "\n".join(str(e) for e in instance.all_logs(bad.run_id))
    out, err = capfd.readouterr()
    haystacks = {"stdout": out, "stderr": err, "event log": events, "report": repr(rep) + repr(bad)}
    for path in tmp_path.rglob("*"):
        if path.is_file():
            haystacks[str(path)] = path.read_bytes().decode("utf-8", "replace")
    assert any(p.endswith(".duckdb") for p in haystacks)
    for name, value in secrets.items():
        for where, text in haystacks.items():
            assert value not in text, f"{name} leaked into {where}"
