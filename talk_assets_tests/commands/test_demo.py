"""`talk-assets demo` end to end, as a user runs it: one subprocess, emulators on loopback,
four syncs; it must tell what moved and why, write nothing in the steady state and leave
nothing running."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT = 180


def port_open(url: str) -> bool:
    host, port = url.removeprefix("http://").split(":")
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex((host, int(port))) == 0


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    home = tmp_path_factory.mktemp("demo")
    env = {
        **os.environ,
        "TALK_ASSETS_HOME": str(home),
        "DAGSTER_HOME": str(home / "dagster"),
        "TALK_ASSETS_ENV_FILE": os.devnull,
    }
    for name in list(env):
        if name.startswith(("POWEROFFICEGO_", "CRMOFFICE_")):
            del env[name]
    proc = subprocess.Popen(
        [sys.executable, "-m", "talk_assets.cli", "demo"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    )
    try:
        out, _ = proc.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate(timeout=10)
        pytest.fail(f"demo did not finish in {TIMEOUT} s:\n{out[-4000:]}")
    deadline = time.monotonic() + 10
    while group_alive(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    survivors = group_alive(proc.pid)
    if survivors:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
    return home, proc.returncode, out, survivors


def section(out: str, title: str) -> str:
    """The text from the line starting with `== title` to the next `==` line."""
    match = re.search(rf"^== {re.escape(title)}.*?(?=^== |\Z)", out, re.M | re.S)
    assert match, f"no section {title!r} in:\n{out}"
    return match.group(0)


def column(table: str, name: str) -> list[int]:
    lines = [ln for ln in table.splitlines() if ln.strip()]
    header = next(i for i, ln in enumerate(lines) if ln.startswith("flow "))
    names = re.split(r"\s{2,}", lines[header].strip())
    idx = names.index(name)
    values = []
    for ln in lines[header + 2 :]:
        cells = re.split(r"\s{2,}", ln.strip())
        if len(cells) != len(names) or not cells[-1].isdigit():
            break
        values.append(int(cells[idx]))
    return values


@pytest.mark.e2e
def test_demo_exits_cleanly(demo):
    _home, code, out, survivors = demo
    assert code == 0, out[-4000:]
    assert not survivors, "a process started by the demo outlived it"
    assert "Traceback" not in out


@pytest.mark.e2e
def test_demo_initial_load_inserts_records(demo):
    _, _, out, _ = demo
    first = section(out, "1. initial load")
    inserted = column(first, "inserted")
    assert len(inserted) == 9  # one row per flow
    assert sum(inserted) > 0


@pytest.mark.e2e
def test_demo_shows_three_edits_moves_with_reasons_and_the_conflict(demo):
    _, _, out, _ = demo
    edits = [ln.strip() for ln in section(out, "2. edits").splitlines()[1:] if ln.strip()]
    assert len(edits) == 3, edits
    assert any(e.startswith("Crmoffice contact") and "givenName" in e for e in edits)
    assert any(e.startswith("Powerofficego employee") and "PhoneNumber" in e for e in edits)
    assert any(e.startswith("conflict:") for e in edits)

    after = section(out, "3. sync after the edits")
    assert "what moved where, and why:" in after
    # "  datatype:id property: old -> new  from datatype:id  (reason)"
    moves = re.findall(r"^  (\S+) (\S+): (.+?) -> (.+?)  from (\S+)  \((.+)\)$", after, re.M)
    assert moves, after
    assert all(reason for *_, reason in moves)
    new_values = {new.strip("'") for _, _, _, new, _, _ in moves}
    assert "+47 912 34 567" in new_values  # the phone number reached Crmoffice
    assert any(value.endswith("-Marie") for value in new_values)  # the name reached PowerOffice
    # the conflict: both sides edited, Crmoffice's later edit wins on both PowerOffice records
    assert "Conflict-in-Crmoffice" in new_values
    assert "Conflict-in-PowerOffice" not in new_values
    conflicts = after.split("conflicts (both sides changed", 1)
    assert len(conflicts) == 2, after
    assert re.search(
        r"'Conflict-in-PowerOffice' vs 'Conflict-in-Crmoffice' -> 'Conflict-in-Crmoffice'",
        conflicts[1],
    )


@pytest.mark.e2e
def test_demo_steady_state_writes_nothing(demo):
    _, _, out, _ = demo
    assert "write requests during step 4: 0" in out
    last = section(out, "4. sync without changes")
    for name in ("inserted", "updated ->", "updated <-"):
        assert sum(column(last, name)) == 0, last


@pytest.mark.e2e
def test_demo_leaves_no_emulator_running_and_keeps_its_files(demo):
    home, _, out, _ = demo
    urls = re.findall(r"emulator at (http://127\.0\.0\.1:\d+)", out)
    assert len(urls) == 2, out[:500]
    for url in urls:
        assert not port_open(url), f"{url} still answers after the demo"
    for name in ("demo.env", "demo-emulators.json", "demo.duckdb"):
        assert (home / name).is_file(), name
    assert "TALK_ASSETS_TENANT=demo" in (home / "demo.env").read_text()
