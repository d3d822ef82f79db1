"""S10 end to end: a real `talk-assets sync` SIGKILLed at several points of its run.

Scenario (the measured defect of issue 9): a person customer "Solveig" is synced once (a
PowerOffice contact person and a Crmoffice contact); the user renames the Crmoffice contact
"Brukerendring" and adds a new person customer; a `talk-assets sync` is SIGKILLed while reading,
planning, between two sinks, or between a write and its record (the emulator applies the write
and loses the answer); then `talk-assets sync --wait 5` starts at once and finishes. Through the
systems' own APIs: no edit is lost (all three records hold "Brukerendring"), nothing is doubled
(every datatype holds as many records as after an uncut control) and a further sync writes
nothing (converged).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import polars as pl
import pytest
from dagster import DagsterEventType, DagsterInstance

from talk_assets.defs.dead_runs import PID_TAG
from talk_assets.defs.runner import RunReport, dagster_instance, run_sync
from talk_assets.defs.settings import SyncSettings
from talk_assets.defs.sync_step import SYNC_STEP
from talk_assets.store.tenant import STATE_SCHEMA, TenantStore, tenant_path
from talk_assets.systems.emulator import Emulators

TALK_ASSETS = str(Path(sys.executable).parent / "talk-assets")
SEED, SIZE = 11, 5
EMULATOR_DATA = {"seed": SEED, "size": SIZE}  # the `emulators` fixture's sample data
LAST = "Kuttvik"  # the scenario's people, apart from the sample data
NEW = "Nyperson"
EDIT = "Brukerendring"
DEADLINE = 60.0
COUNTED = {
    "powerofficego": ["/Customers", "/ContactPersons", "/Employees", "/Suppliers", "/Projects"],
    "crmoffice": ["/contacts", "/companies", "/activities"],
}

pytestmark = pytest.mark.e2e


def all_pages(emu: Emulators, system: str, path: str) -> list[dict]:
    with emu[system].client() as c:
        if system == "powerofficego":
            return c.get(path).raise_for_status().json()
        out, cursor = [], None
        for _ in range(100):
            params = {"limit": 1000, **({"cursor": cursor} if cursor else {})}
            page = c.get(path, params=params).raise_for_status().json()
            out += page["items"]
            cursor = page.get("nextCursor")
            if not cursor:
                return out
    raise AssertionError("endless paging")


def counts(emu: Emulators) -> dict[str, int]:
    return {
        f"{system}{path}": len(all_pages(emu, system, path))
        for system, paths in COUNTED.items()
        for path in paths
    }


def expected(name: str) -> dict[str, list[str]]:
    return {k: [name] for k in ("customers", "contactpersons", "contacts")}


def people(emu: Emulators, last: str) -> dict[str, list[str]]:
    """First names of the records of one person (by last name), per datatype."""
    return {
        "customers": [
            c["FirstName"]
            for c in all_pages(emu, "powerofficego", "/Customers")
            if c["LastName"] == last
        ],
        "contactpersons": [
            c["FirstName"]
            for c in all_pages(emu, "powerofficego", "/ContactPersons")
            if c["LastName"] == last
        ],
        "contacts": [
            c["givenName"]
            for c in all_pages(emu, "crmoffice", "/contacts")
            if c["familyName"] == last
        ],
    }


def sync_in_process(home: Path, instance: DagsterInstance) -> RunReport:
    rep = run_sync(SyncSettings(home=str(home)), instance=instance, say=lambda _: None)
    assert rep.success, rep.error
    return rep


def prepare(emu: Emulators, home: Path, instance: DagsterInstance) -> None:
    """Solveig synced once; then renamed in Crmoffice, and a new person customer added."""
    emu.reset(seed=SEED, size=SIZE)
    for handle in emu:
        handle.set_faults(0.0)
    with emu.powerofficego.client() as c:
        c.post("/Customers", json={"IsPerson": True, "FirstName": "Solveig", "LastName": LAST})
    sync_in_process(home, instance)
    assert people(emu, LAST) == {
        k: ["Solveig"] for k in ("customers", "contactpersons", "contacts")
    }
    (contact,) = [c for c in all_pages(emu, "crmoffice", "/contacts") if c["familyName"] == LAST]
    with emu.crmoffice.client() as c:
        edited = c.patch(
            f"/contacts/{contact['id']}",
            json={"givenName": EDIT},
            headers={"Content-Type": "application/merge-patch+json"},
        ).raise_for_status()
    assert edited.json()["updatedAt"] > contact["updatedAt"]
    with emu.powerofficego.client() as c:
        c.post("/Customers", json={"IsPerson": True, "FirstName": NEW, "LastName": NEW})


@dataclass(frozen=True)
class Control:
    counts: dict[str, int]
    cut_run_writes: int


@pytest.fixture(scope="module")
def control(emulators: Emulators, tmp_path_factory: pytest.TempPathFactory) -> Control:
    """The same scenario without a cut, in process: what the systems hold once it settled."""
    home = tmp_path_factory.mktemp("control")
    instance = DagsterInstance.ephemeral()
    env = {**emulators.env, "TALK_ASSETS_HOME": str(home)}
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        prepare(emulators, home, instance)
        before = emulators.write_requests()
        sync_in_process(home, instance)
        writes = emulators.write_requests() - before
        for _ in range(3):
            if sync_in_process(home, instance).writes == 0:
                break
        else:
            raise AssertionError("the uncut control did not settle")
        assert people(emulators, LAST) == expected(EDIT)
        assert people(emulators, NEW) == expected(NEW)
        return Control(counts(emulators), writes)
    finally:
        instance.dispose()
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


class CutRun:
    """A `talk-assets sync` subprocess, its Dagster run and the emulators it talks to."""

    def __init__(self, emu: Emulators, env: dict, instance: DagsterInstance, home: Path):
        self.emu, self.instance, self.home = emu, instance, home
        self.err = open(home / "cut.stderr", "w+")  # noqa: SIM115 (closed in kill)
        self.proc = subprocess.Popen(
            [TALK_ASSETS, "sync"], env=env, stdout=subprocess.DEVNULL, stderr=self.err
        )
        self.run_id: str | None = None

    def steps(self, event: DagsterEventType) -> list[str]:
        if self.run_id is None:
            for run in self.instance.get_runs(limit=5):
                if run.tags.get(PID_TAG) == str(self.proc.pid):
                    self.run_id = run.run_id
            if self.run_id is None:
                return []
        return [e.step_key for e in self.instance.all_logs(self.run_id, of_type=event)]

    def started(self) -> list[str]:
        return self.steps(DagsterEventType.STEP_START)

    def succeeded(self) -> list[str]:
        return self.steps(DagsterEventType.STEP_SUCCESS)

    def wait_for(self, what: str, condition: Callable[[], bool]) -> None:
        """Poll (bounded) until `condition`; fail loudly when the run ends or time is up."""
        deadline = time.monotonic() + DEADLINE
        while time.monotonic() < deadline:
            if condition():
                return
            if self.proc.poll() is not None:
                self.err.seek(0)
                raise AssertionError(
                    f"the sync ended (exit {self.proc.returncode}) before {what}: "
                    f"{self.err.read()[-2000:]}"
                )
            time.sleep(0.03)
        self.kill()
        raise AssertionError(f"no {what} within {DEADLINE:.0f} s")

    def kill(self) -> None:
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)
        self.err.close()
        for handle in self.emu:
            handle.set_faults(0.0)


def requests(emu: Emulators, system: str, method: str, path: str) -> int:
    return sum(
        row["count"]
        for row in emu[system].stats()["requests"]
        if row["method"] == method and row["path"].startswith(path)
    )


def is_source(step: str) -> bool:
    return step != SYNC_STEP


# --- kill points: each waits for its point in the cut run, kills it, and checks afterwards
# (from the dead run's final event log) that the point was the one intended.


def at_reads(cut: CutRun, writes_before: int) -> None:
    for handle in cut.emu:  # every request answers after 0.3 s: reading takes a while
        handle.set_faults(1.0, ["slow"], slow_seconds=0.3)
    cut.wait_for("a source step started", lambda: any(map(is_source, cut.started())))
    cut.kill()
    assert SYNC_STEP not in cut.started(), "killed too late: planning had started"
    assert cut.emu.write_requests() == writes_before


def at_planning(cut: CutRun, writes_before: int) -> None:
    """Kill while planning: the systems drop every request from the moment planning starts
    (before it is processed), so a write sent before the kill lands nowhere."""
    cut.wait_for("the planning step started", lambda: SYNC_STEP in cut.started())
    for handle in cut.emu:
        handle.set_faults(1.0, ["drop"])
    cut.kill()
    assert run_writes(cut.home, cut.run_id) == 0, "killed too late: a write was recorded"
    assert people(cut.emu, LAST)["contactpersons"] == ["Solveig"], "killed too late"
    assert people(cut.emu, NEW)["contacts"] == [], "killed too late: an insert landed"


def between_sinks(cut: CutRun, writes_before: int) -> None:
    """Sinks of both systems write at once: kill when one sink is done (materialized) while
    another is still writing, its every write slowed to 1 s."""
    cut.wait_for("the planning step started", lambda: SYNC_STEP in cut.started())
    for handle in cut.emu:
        handle.set_faults(1.0, ["slow"], slow_seconds=1.0)
    cut.wait_for("a sink that wrote was materialized", lambda: bool(written_sinks(cut)))
    cut.kill()
    done = written_sinks(cut)
    assert done, "no sink was done"
    recorded = TenantStore(tenant_path("default", cut.home)).read_table(STATE_SCHEMA, "sinks_done")
    assert recorded is not None
    finished = set(recorded.filter(pl.col("run_id") == cut.run_id)["sink"])
    assert set(done) <= finished, "a materialized sink did not record that it was done"
    assert cut.emu.write_requests() > writes_before


def written_sinks(cut: CutRun) -> list[str]:
    """The sinks of the cut run materialized so far that wrote something."""
    if cut.run_id is None:
        cut.started()
    if cut.run_id is None:
        return []
    out = []
    for event in cut.instance.all_logs(cut.run_id, of_type=DagsterEventType.ASSET_MATERIALIZATION):
        mat = event.dagster_event.event_specific_data.materialization
        key = mat.asset_key.to_user_string()
        if key.startswith("sinks/") and int(mat.metadata["dagster/row_count"].value) > 0:
            out.append(key)
    return out


def write_cut(
    system: str, method: str, path: str, landed: Callable[[Emulators], bool]
) -> Callable[[CutRun, int], None]:
    """Kill between a write and its record: `system` applies every request, then drops the
    connection (the answer is lost); kill as soon as the write of `method path` landed."""

    def point(cut: CutRun, writes_before: int) -> None:
        cut.wait_for("the planning step started", lambda: SYNC_STEP in cut.started())
        cut.emu[system].set_faults(1.0, ["drop_after"])
        earlier = requests(cut.emu, system, method, path)
        cut.wait_for(
            f"{method} {path} landed", lambda: requests(cut.emu, system, method, path) > earlier
        )
        time.sleep(0.3)  # counted on receipt: let it be applied (every answer is lost anyway)
        cut.kill()
        assert landed(cut.emu), f"the cut {method} {path} did not land"
        sent = cut.emu.write_requests() - writes_before
        recorded = run_writes(cut.home, cut.run_id)
        assert recorded < sent, f"the cut write was recorded ({recorded} of {sent})"
        if method == "POST":  # the insert's intent is left for the next run's recovery
            intents = TenantStore(tenant_path("default", cut.home)).read_table(
                STATE_SCHEMA, "pending_inserts"
            )
            assert intents is not None and intents.height > 0, "no insert intent left"

    return point


POINTS = {
    "reads": at_reads,
    "planning": at_planning,
    "between_two_sinks": between_sinks,
    "between_an_update_and_its_record": write_cut(
        "powerofficego",
        "PATCH",
        "/v2/ContactPersons",
        lambda emu: EDIT in people(emu, LAST)["contactpersons"],
    ),
    "between_an_insert_and_its_record": write_cut(
        "crmoffice", "POST", "/contacts", lambda emu: people(emu, NEW)["contacts"] == [NEW]
    ),
}


def run_writes(home: Path, run_id: str) -> int:
    log = TenantStore(tenant_path("default", home)).read_table(STATE_SCHEMA, "sync_log")
    assert log is not None
    return log.filter(
        (pl.col("run_id") == run_id) & pl.col("operation").is_in(["insert", "update"])
    ).height


@pytest.mark.parametrize("point", list(POINTS))
def test_s10_a_sync_killed_at_any_point_loses_no_edit_and_doubles_nothing(
    point: str, emulators: Emulators, control: Control, tmp_path: Path, monkeypatch
):
    env = {
        **emulators.env,
        "TALK_ASSETS_HOME": str(tmp_path),
        "DAGSTER_HOME": str(tmp_path / "dagster"),
        "TALK_ASSETS_ENV_FILE": os.devnull,
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    instance = dagster_instance()
    try:
        prepare(emulators, tmp_path, DagsterInstance.ephemeral())
        writes_before = emulators.write_requests()

        cut = CutRun(emulators, {**os.environ, **env}, instance, tmp_path)
        POINTS[point](cut, writes_before)
        cut_writes = emulators.write_requests() - writes_before  # retries included
        recorded = run_writes(tmp_path, cut.run_id)
        assert recorded < control.cut_run_writes, "the cut run recorded all it had to write"

        started = time.monotonic()
        second = subprocess.run(
            [TALK_ASSETS, "sync", "--wait", "5"],
            env={**os.environ, **env},
            capture_output=True,
            text=True,
            timeout=180,
        )
        took = time.monotonic() - started
        assert second.returncode == 0, second.stderr
        assert "waiting" not in second.stderr
        assert f"finished dead run {cut.run_id}" in second.stderr
        (ok,) = [line for line in second.stdout.splitlines() if line.endswith(": ok")]
        recovery_writes = run_writes(tmp_path, ok.split()[1].rstrip(":"))

        quick = DagsterInstance.ephemeral()  # the in-process syncs need no run history
        extra = people(emulators, LAST) != expected(EDIT) or people(emulators, NEW) != expected(NEW)
        if extra:
            sync_in_process(tmp_path, quick)  # one more sync, if needed
        assert people(emulators, LAST) == expected(EDIT), "an edit was lost or a record doubled"
        assert people(emulators, NEW) == expected(NEW), "the new person was lost or doubled"
        assert counts(emulators) == control.counts, "a record was doubled"

        before = emulators.write_requests()
        last = sync_in_process(tmp_path, quick)
        assert last.writes == 0 and emulators.write_requests() == before, "not converged"
        assert run_writes(tmp_path, last.run_id) == 0
        pending = TenantStore(tenant_path("default", tmp_path)).read_table(
            STATE_SCHEMA, "pending_inserts"
        )
        assert pending is None or pending.is_empty()
        print(
            f"{point}: cut after {cut_writes} writes; the next sync took {took:.1f} s "
            f"and wrote {recovery_writes}{'; one more sync was needed' if extra else ''}"
        )
    finally:
        instance.dispose()
