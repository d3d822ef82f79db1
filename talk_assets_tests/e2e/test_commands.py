"""The `sync` and `lineage` commands as a user runs them: subprocesses against the emulators."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from talk_assets.store.tenant import TenantStore, tenant_path

from .conftest import World

pytestmark = pytest.mark.e2e


def talk_assets(*args: str, timeout: float = 240) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "talk_assets.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "TALK_ASSETS_ENV_FILE": os.devnull},
    )


def test_sync_prints_a_table_per_flow_and_fails_loudly(world: World):
    proc = talk_assets("sync")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    header = lines[0].split()
    assert header[:3] == ["flow", "read", "inserted"] and "conflicts" in header
    employees = next(line for line in lines if line.startswith("Powerofficego Employees to"))
    assert int(employees.split()[-6]) == len(world.po("/Employees"))  # inserted
    assert "DEBUG" not in proc.stderr  # Dagster's chatter stays quiet

    proc = talk_assets("sync", "--dry-run")
    assert proc.returncode == 0 and "dry run" in proc.stdout

    os.environ["TALK_ASSETS_MASS_WRITE_LIMIT"] = "0"
    try:
        world.crm_patch(f"/contacts/{world.crm('/contacts')[0]['id']}", givenName="Mass")
        proc = talk_assets("sync", "--tenant", "other")
        assert proc.returncode == 1
        assert "circuit breaker" in proc.stderr and "--allow-mass-write" in proc.stderr
    finally:
        del os.environ["TALK_ASSETS_MASS_WRITE_LIMIT"]


def test_lineage_shows_the_mapping_chain_and_a_records_history(world: World):
    world.settle()
    cl = world.clusters()
    emp = cl.filter(cl["datatype"] == "powerofficego.employees")["record"][0].split(":")[1]
    world.po_patch(f"/Employees/{emp}", FirstName="Lineage")
    assert world.sync().success
    proc = talk_assets("lineage", "powerofficego.Employees.firstName", "--id", emp)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "powerofficego.employees.FirstName  <->  crmoffice.contacts.givenName" in out
    assert "flow: Powerofficego Employees to Crmoffice Contacts" in out
    assert "'Lineage'" in out and "sent to crmoffice.contacts:" in out
    assert "new record" in out  # the insert of the initial load is part of the history

    proc = talk_assets("lineage", "crmoffice.contacts.shoeSize")
    assert proc.returncode == 2 and "no field 'shoeSize'" in proc.stderr


def test_lineage_never_waits_on_a_running_sync(world: World):
    world.settle()
    holder = subprocess.Popen(  # another process holding the state file, as a running sync does
        [
            sys.executable,
            "-c",
            "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); print('held', flush=True);"
            " time.sleep(60)",
            str(tenant_path("default", world.home)),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        started = time.monotonic()
        proc = talk_assets("lineage", "crmoffice.contacts.givenName", "--id", "x", timeout=60)
        assert time.monotonic() - started < 30
        assert proc.returncode == 1 and "a sync is writing the state" in proc.stderr
    finally:
        holder.kill()
        holder.wait()
    assert (
        TenantStore(tenant_path("default", world.home)).read_only().read_table("state", "links")
        is not None
    )
