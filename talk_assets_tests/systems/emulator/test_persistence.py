"""Emulators with a data file through HTTP: every acknowledged write survives a kill -9, a torn
last journal line costs nothing else, compaction keeps everything, and what the emulators
derive from their data (ids, numbers, change stamps, the change index, idempotency keys)
carries on after a restart."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from talk_assets.systems import registry
from talk_assets.systems.emulator import Emulators, SystemHandle, running_emulators, storage
from talk_assets.systems.emulator.storage import journal_path

Json = dict[str, object]


@pytest.fixture
def killed_emulators(tmp_path: Path) -> Iterator[tuple[Emulators, subprocess.Popen[str]]]:
    """`talk-assets emulate --data-file` in a subprocess the test kills with SIGKILL."""
    cmd = [sys.executable, "-m", "talk_assets.cli", "emulate", "--size", "3", "--no-rate-limit"]
    for spec in registry.builtin():
        cmd += [f"--{spec.name}-port", "0"]
    cmd += ["--data-file", str(tmp_path / "emulators.json")]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    try:
        info = json.loads(proc.stdout.readline())  # type: ignore[union-attr]
        handles = {s.name: SystemHandle(s, info[s.name]["url"]) for s in registry.builtin()}
        yield Emulators(handles), proc
    finally:
        proc.kill()
        proc.wait(timeout=30)
        proc.stdout.close()  # type: ignore[union-attr]


def write_some(emus: Emulators) -> Json:
    """Creates, patches, deletes and an idempotent create on both systems: what was answered."""
    with emus.powerofficego.client() as api:
        kept = api.post("/Customers", json={"Name": "Varig AS", "IsPerson": False}).json()
        patched = api.patch(
            f"/Customers/{kept['Id']}",
            json=[{"op": "replace", "path": "/Name", "value": "Varig Bygg AS"}],
            headers={"Content-Type": "application/json-patch+json"},
        ).json()
        gone = api.post("/Customers", json={"Name": "Borte AS", "IsPerson": False}).json()
        assert api.delete(f"/Customers/{gone['Id']}").status_code == 200
        person = api.post(
            f"/ContactPersons/{kept['Id']}", json={"FirstName": "Åse", "LastName": "Li"}
        )
    with emus.crmoffice.client() as api:
        contact = api.post(
            "/contacts", json={"givenName": "Siri"}, headers={"Idempotency-Key": "k1"}
        ).json()
        edited = api.patch(
            f"/contacts/{contact['id']}",
            json={"familyName": "Øye"},
            headers={"Content-Type": "application/merge-patch+json"},
        ).json()
        dropped = api.post("/activities", json={"subject": "Ring"}).json()
        assert api.delete(f"/activities/{dropped['id']}").status_code == 204
    return {
        "stamp": kept["LastChangedDateTimeOffset"],
        "customer": patched,
        "gone": gone,
        "person": person.json(),
        "contact": contact,
        "edited": edited,
        "dropped": dropped,
    }


def check_kept(emus: Emulators, wrote: Json) -> None:
    """Everything `write_some` answered is there, and new writes carry on from it."""
    customer, contact = wrote["customer"], wrote["contact"]
    with emus.powerofficego.client() as api:
        assert api.get(f"/Customers/{customer['Id']}").json() == customer
        assert api.get(f"/Customers/{wrote['gone']['Id']}").status_code == 404
        person = wrote["person"]
        assert api.get(f"/ContactPersons/{customer['Id']}/{person['Id']}").json() == person
        changed = api.get(
            "/Customers", params={"lastChangedDateTimeOffsetGreaterThan": wrote["stamp"]}
        ).json()
        assert [c["Id"] for c in changed] == [customer["Id"]]  # the change index, rebuilt
        newer = api.post("/Customers", json={"Name": "Neste AS", "IsPerson": False}).json()
        assert newer["Id"] > wrote["gone"]["Id"]
        assert newer["Number"] > wrote["gone"]["Number"] > customer["Number"]  # not reused
        assert newer["LastChangedDateTimeOffset"] > customer["LastChangedDateTimeOffset"]
    with emus.crmoffice.client() as api:
        assert api.get(f"/contacts/{contact['id']}").json() == wrote["edited"]
        assert api.get(f"/activities/{wrote['dropped']['id']}").status_code == 404
        again = api.post("/contacts", json={"givenName": "Siri"}, headers={"Idempotency-Key": "k1"})
        assert (again.status_code, again.json()) == (200, wrote["edited"])
        newer = api.post("/activities", json={"subject": "Ny"}).json()
        assert newer["id"] > wrote["dropped"]["id"]


def test_acknowledged_writes_survive_a_kill(
    tmp_path: Path, killed_emulators: tuple[Emulators, subprocess.Popen[str]]
) -> None:
    emus, proc = killed_emulators
    wrote = write_some(emus)
    proc.kill()
    proc.wait(timeout=30)
    data_file = tmp_path / "emulators.json"
    assert journal_path(data_file, "crmoffice").read_text().count("\n") == 5  # header + 4
    with running_emulators(seed=5, size=9, data_file=str(data_file), rate_limits=False) as e:
        check_kept(e, wrote)
    # compacted at startup: the journals hold only the writes of check_kept
    assert journal_path(data_file, "powerofficego").read_text().count("\n") == 2


def test_a_torn_last_line_costs_nothing_else(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    data_file = str(tmp_path / "emulators.json")
    with running_emulators(seed=2, size=3, data_file=data_file, rate_limits=False) as emus:
        wrote = write_some(emus)
    for system in ("powerofficego", "crmoffice"):
        with journal_path(Path(data_file), system).open("ab") as fh:
            fh.write(b'{"table":"contacts","id":"con_0000')
    with (
        caplog.at_level(logging.WARNING),
        running_emulators(seed=2, size=3, data_file=data_file, rate_limits=False) as emus,
    ):
        check_kept(emus, wrote)
    torn = [r for r in caplog.records if "ignored a torn last line" in r.getMessage()]
    assert len(torn) == 2


def test_compaction_while_serving_keeps_everything(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(storage, "COMPACT_FLOOR", 0)
    monkeypatch.setattr(storage, "COMPACT_FACTOR", 0.01)  # about every write or two
    data_file = str(tmp_path / "emulators.json")
    with running_emulators(seed=3, size=2, data_file=data_file, rate_limits=False) as emus:
        wrote = write_some(emus)
        with emus.crmoffice.client() as api:
            many = [api.post("/companies", json={"name": f"Firma {n}"}).json() for n in range(30)]
    with running_emulators(seed=3, size=2, data_file=data_file, rate_limits=False) as emus:
        check_kept(emus, wrote)
        with emus.crmoffice.client() as api:
            for company in many:
                assert api.get(f"/companies/{company['id']}").json() == company
    assert not list(tmp_path.glob(".*.tmp"))
