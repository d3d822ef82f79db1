"""Shared emulator behaviour through HTTP: hooks, faults, rate limits, tokens, persistence."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from talk_assets.systems.emulator import (
    Emulators,
    SystemHandle,
    running_emulators,
    spawned_emulators,
)
from talk_assets.systems.emulator.controls import FAULT_KINDS

EMULATOR_DATA = {"seed": 2, "size": 6}


@pytest.fixture(autouse=True)
def clean(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    if "emus" in request.fixturenames:
        emus: Emulators = request.getfixturevalue("emus")
        emus.set_faults(0.0, list(FAULT_KINDS))
        emus.reset(**EMULATOR_DATA)


def hook(handle: SystemHandle, method: str, name: str, body: object = None) -> httpx.Response:
    return httpx.request(method, f"{handle.url}/_emulator/{name}", json=body)


def test_handles_and_env(emus: Emulators) -> None:
    po, crm = emus.powerofficego, emus.crmoffice
    assert po.url.startswith("http://127.0.0.1:") and po.base_url == po.url + "/v2"
    assert po.token_url == po.url + "/OAuth/Token"
    assert crm.base_url == crm.url and crm.token_url == crm.url + "/connect/token"
    assert emus.env == {
        "POWEROFFICEGO_BASE_URL": po.base_url,
        "POWEROFFICEGO_TOKEN_URL": po.token_url,
        "POWEROFFICEGO_APPLICATION_KEY": "demo-application-key",
        "POWEROFFICEGO_CLIENT_KEY": "demo-client-key",
        "POWEROFFICEGO_SUBSCRIPTION_KEY": "demo-subscription-key",
        "CRMOFFICE_BASE_URL": crm.base_url,
        "CRMOFFICE_TOKEN_URL": crm.token_url,
        "CRMOFFICE_CLIENT_ID": "demo-client-id",
        "CRMOFFICE_CLIENT_SECRET": "demo-client-secret",
    }


def test_credentials_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRMOFFICE_CLIENT_SECRET", "s3cret")
    with running_emulators(size=0) as e:
        assert e.crmoffice.env["CRMOFFICE_CLIENT_SECRET"] == "s3cret"
        form = {"grant_type": "client_credentials", "client_id": "demo-client-id"}
        assert httpx.post(
            e.crmoffice.token_url, data={**form, "client_secret": "s3cret"}
        ).is_success
        wrong = httpx.post(
            e.crmoffice.token_url, data={**form, "client_secret": "demo-client-secret"}
        )
        assert wrong.status_code == 401


def test_servers_stop_cleanly() -> None:
    before = {t.name for t in threading.enumerate()}
    with running_emulators(size=1) as e:
        ports = [int(h.url.rsplit(":", 1)[1]) for h in (e.powerofficego, e.crmoffice)]
        with e.powerofficego.client() as client:
            assert client.get("/Customers").status_code == 200  # a kept-alive connection
    assert {t.name for t in threading.enumerate()} - before == set()
    for port in ports:
        with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
            pass


# --- hooks -----------------------------------------------------------------------------------------


def test_stats_shape(emus: Emulators) -> None:
    po = emus.powerofficego
    with po.client() as api:
        api.get("/Customers", params={"PageSize": 2})
        api.get("/Customers")
        api.get("/Customers/12345")
        created = api.post("/Customers", json={"Name": "Stats AS"}).json()["Id"]
        api.patch(
            f"/Customers/{created}",
            json=[{"op": "replace", "path": "/Name", "value": "Stats 2 AS"}],
            headers={"Content-Type": "application/json-patch+json"},
        ).raise_for_status()
    stats = hook(po, "GET", "stats").json()
    assert set(stats) == {"requests", "totals"}
    counts = {(r["method"], r["path"]): r["count"] for r in stats["requests"]}
    assert counts == {
        ("POST", "/OAuth/Token"): 1,
        ("GET", "/v2/Customers"): 2,
        ("GET", "/v2/Customers/12345"): 1,
        ("POST", "/v2/Customers"): 1,
        ("PATCH", f"/v2/Customers/{created}"): 1,
    }
    assert all(set(r) == {"method", "path", "count"} for r in stats["requests"])
    # the running totals leave the token request out
    assert stats["totals"] == {"requests": 5, "writes": 2, "updates": 1}
    assert po.write_requests() == 2


def test_faults_hook(emus: Emulators) -> None:
    crm = emus.crmoffice
    answer = hook(crm, "POST", "faults", {"rate": 0.2})
    assert answer.json() == {"rate": 0.2, "kinds": list(FAULT_KINDS), "slow_seconds": 0.5}
    answer = hook(crm, "POST", "faults", {"rate": 0.5, "kinds": ["500", "drop"]})
    assert answer.json()["kinds"] == ["500", "drop"] and answer.json()["rate"] == 0.5
    assert hook(crm, "GET", "faults").json()["rate"] == 0.5
    for bad in ({"rate": 2}, {"rate": 0.1, "kinds": ["boom"]}, {"kinds": []}, {"rate": 0, "x": 1}):
        assert hook(crm, "POST", "faults", bad).status_code == 400
    assert hook(crm, "GET", "nothing").status_code == 404


def test_reset(emus: Emulators) -> None:
    po = emus.powerofficego
    with po.client() as api:
        original = api.get("/Customers").json()
        api.post("/Customers", json={"Name": "Ny AS"})
        assert hook(po, "POST", "reset").json()["reset"] is True
        assert api.get("/Customers").json() == []
        stats = hook(po, "GET", "stats").json()
        assert stats["requests"] == [{"method": "GET", "path": "/v2/Customers", "count": 1}]
        assert stats["totals"] == {"requests": 1, "writes": 0, "updates": 0}
        assert hook(po, "POST", "reset", {"seed": 2, "size": 6}).status_code == 200
        assert api.get("/Customers").json() == original
    assert hook(po, "POST", "reset", {"seed": "x"}).status_code == 400
    assert hook(po, "POST", "reset", {"size": -1}).status_code == 400


def test_hooks_are_never_faulted_or_limited() -> None:
    with running_emulators(size=1, fault_rate=1.0) as e:
        with httpx.Client(base_url=e.powerofficego.url) as client:
            for _ in range(30):
                assert client.get("/_emulator/stats").status_code == 200
        assert hook(e.crmoffice, "GET", "faults").json()["rate"] == 1.0


# --- faults ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["429", "500", "503"])
def test_status_faults(emus: Emulators, kind: str) -> None:
    po, crm = emus.powerofficego, emus.crmoffice
    with po.client() as p_api, crm.client() as c_api:
        emus.set_faults(1.0, [kind])
        p, c = p_api.get("/Customers"), c_api.get("/contacts")
    assert p.status_code == c.status_code == int(kind)
    assert p.json()["status"] == int(kind) and c.json()["error"]["code"]
    if kind != "500":
        assert p.headers["Retry-After"] == c.headers["Retry-After"] == "1"


def test_slow_fault(emus: Emulators) -> None:
    crm = emus.crmoffice
    with crm.client() as api:
        crm.set_faults(1.0, ["slow"], slow_seconds=0.3)
        started = time.monotonic()
        assert api.get("/contacts").status_code == 200
        assert time.monotonic() - started >= 0.3


def test_drop_before_loses_the_write(emus: Emulators) -> None:
    crm = emus.crmoffice
    with crm.client() as api:
        before = len(api.get("/companies", params={"limit": 1000}).json()["items"])
        crm.set_faults(1.0, ["drop"])
        with pytest.raises(httpx.TransportError):
            api.post("/companies", json={"name": "Tapt AS"})
        crm.set_faults(0.0)
        assert len(api.get("/companies", params={"limit": 1000}).json()["items"]) == before


def test_drop_after_applies_the_write_and_loses_the_answer(emus: Emulators) -> None:
    po, crm = emus.powerofficego, emus.crmoffice
    with po.client() as p_api, crm.client() as c_api:
        emus.set_faults(1.0, ["drop_after"])
        with pytest.raises(httpx.TransportError):
            p_api.post("/Customers", json={"Name": "Landet AS", "ExternalImportReference": "r-1"})
        with pytest.raises(httpx.TransportError):
            c_api.post("/companies", json={"name": "Landet AS"}, headers={"Idempotency-Key": "k-1"})
        emus.set_faults(0.0)
        landed = p_api.get("/Customers", params={"externalImportReference": "r-1"}).json()
        assert [c["Name"] for c in landed] == ["Landet AS"]
        found = c_api.get("/companies", params={"idempotencyKey": "k-1"}).json()["items"]
        assert [c["name"] for c in found] == ["Landet AS"]
        retry = c_api.post(
            "/companies", json={"name": "Landet AS"}, headers={"Idempotency-Key": "k-1"}
        )
        assert retry.status_code == 200 and retry.json()["id"] == found[0]["id"]


def test_fault_rate_from_start_is_a_probability() -> None:
    with running_emulators(seed=4, size=1, fault_rate=0.5, rate_limits=False) as e:
        e.set_faults(0.5, ["500"])
        with httpx.Client(base_url=e.crmoffice.url) as client:
            statuses = [client.get("/contacts").status_code for _ in range(60)]
    assert 10 < statuses.count(500) < 50 and statuses.count(401) == 60 - statuses.count(500)


# --- rate limits and tokens ------------------------------------------------------------------------


def test_rate_limits() -> None:
    with running_emulators(size=1) as e:
        with e.powerofficego.client() as api:
            statuses = [api.get("/Products").status_code for _ in range(12)]
            assert statuses.count(429) >= 2 and statuses[:9] == [200] * 9
            limited = api.get("/Products")
            assert limited.status_code == 429 and int(limited.headers["Retry-After"]) >= 1
            assert limited.json()["status"] == 429
        with e.crmoffice.client() as api:
            statuses = [api.get("/contacts").status_code for _ in range(22)]
            assert statuses[:20] == [200] * 20 and statuses[20:] == [429, 429]
            limited = api.get("/contacts")
            assert limited.json()["error"]["code"] == "rate_limited"
            assert int(limited.headers["Retry-After"]) >= 1
            crm = {s.emulator.system: s.emulator for s in e.servers}["crmoffice"]
            assert crm.limiter.refused == 3  # what benchmarks count
            time.sleep(1.05)
            assert api.get("/contacts").status_code == 200
        e.crmoffice.reset()
        assert crm.limiter.refused == 0


def test_rate_limits_off(emus: Emulators) -> None:
    with emus.crmoffice.client() as api:
        assert {api.get("/activities").status_code for _ in range(40)} == {200}


def test_tokens_expire() -> None:
    with running_emulators(size=1, token_ttl=3.0, rate_limits=False) as e:
        with e.powerofficego.client() as p_api, e.crmoffice.client() as c_api:
            assert p_api.get("/Customers").status_code == 200
            assert c_api.get("/contacts").status_code == 200
            time.sleep(3.1)  # a generous lifetime: a loaded machine is slow to the first call
            expired = p_api.get("/Customers")
            assert expired.status_code == 401 and "expired" in expired.json()["detail"]
            assert "expired" in c_api.get("/contacts").json()["error"]["message"]
        with e.crmoffice.client() as fresh:
            assert fresh.get("/contacts").status_code == 200


# --- persistence, determinism, subprocess ----------------------------------------------------------


def test_data_survives_a_restart(tmp_path: Path) -> None:
    data_file = tmp_path / "emulators.json"
    with running_emulators(seed=9, size=3, data_file=str(data_file), rate_limits=False) as e:
        with e.powerofficego.client() as api:
            customer = api.post("/Customers", json={"Name": "Varig AS"}).json()
        with e.crmoffice.client() as api:
            contact = api.post(
                "/contacts", json={"givenName": "Siri"}, headers={"Idempotency-Key": "p"}
            ).json()
    assert set(json.loads(data_file.read_text())) == {"powerofficego", "crmoffice"}
    assert not list(tmp_path.glob(".*.tmp"))
    with running_emulators(seed=1, size=10, data_file=str(data_file), rate_limits=False) as e:
        with e.powerofficego.client() as api:
            assert api.get(f"/Customers/{customer['Id']}").json() == customer
            assert len(api.get("/Customers").json()) == 4
            newer = api.post("/Customers", json={"Name": "Neste AS"}).json()
            assert newer["Id"] > customer["Id"]
            assert newer["LastChangedDateTimeOffset"] > customer["LastChangedDateTimeOffset"]
        with e.crmoffice.client() as api:
            assert api.get(f"/contacts/{contact['id']}").json() == contact
            again = api.post(
                "/contacts", json={"givenName": "Siri"}, headers={"Idempotency-Key": "p"}
            )
            assert again.status_code == 200 and again.json()["id"] == contact["id"]


def test_same_seed_same_data_over_http() -> None:
    answers = []
    for _ in range(2):
        with (
            running_emulators(seed=11, size=5, rate_limits=False) as e,
            e.powerofficego.client() as p,
            e.crmoffice.client() as c,
        ):
            po_lists = [p.get(f"/{d}").json() for d in ("Customers", "Suppliers", "ContactPersons")]
            crm_lists = [c.get(f"/{d}").json() for d in ("contacts", "companies", "activities")]
            answers.append((po_lists, crm_lists))
    assert answers[0] == answers[1]


def test_subprocess(tmp_path: Path) -> None:
    with spawned_emulators(seed=1, size=2, rate_limits=False) as e:
        with e.powerofficego.client() as api:
            assert len(api.get("/Customers").json()) == 2
        with e.crmoffice.client() as api:
            assert len(api.get("/contacts").json()["items"]) == 2
        port = int(e.crmoffice.url.rsplit(":", 1)[1])
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
        pass
