"""PowerOfficeGoClient against the real Powerofficego emulator on loopback, faults on and off."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from talk_assets.systems import SchemaError, datatype
from talk_assets.systems.connector import WriteOp, WriteRejected
from talk_assets.systems.emulator import Emulators, running_emulators
from talk_assets.systems.powerofficego.client import PowerOfficeGoClient
from talk_assets_tests.systems.clients import FAST

DATATYPES = [
    "customers",
    "suppliers",
    "contactpersons",
    "employees",
    "products",
    "projects",
    "timetrackingactivities",
    "projectactivities",
]
SYSTEM = "powerofficego"
CLIENT = PowerOfficeGoClient
EMULATOR_DATA = {"seed": 11, "size": 20}


def api_count(emus: Emulators, endpoint: str) -> int:
    """Records of a datatype, counted with plain httpx (not through the client under test)."""
    env = emus.env
    token = httpx.post(
        env["POWEROFFICEGO_TOKEN_URL"],
        data={"grant_type": "client_credentials"},
        auth=(env["POWEROFFICEGO_APPLICATION_KEY"], env["POWEROFFICEGO_CLIENT_KEY"]),
        headers={"Ocp-Apim-Subscription-Key": env["POWEROFFICEGO_SUBSCRIPTION_KEY"]},
    ).json()["access_token"]
    answer = httpx.get(
        f"{env['POWEROFFICEGO_BASE_URL']}/{endpoint}",
        params={"PageSize": 20000},
        headers={
            "Authorization": f"Bearer {token}",
            "Ocp-Apim-Subscription-Key": env["POWEROFFICEGO_SUBSCRIPTION_KEY"],
        },
    )
    return len(answer.json())


def new_values(name: str, i: int, client: PowerOfficeGoClient) -> tuple[dict[str, Any], Any]:
    """Values of a valid new record of a datatype, and its parent id."""
    if name in ("customers", "suppliers"):
        return {"Name": f"Nytt Firma {i} AS", "city": "Tromsø"}, None
    if name == "contactpersons":
        parent = client.read("customers").frame["Id"][0]
        return {"FirstName": "Åse", "LastName": f"Ny{i}"}, parent
    if name == "employees":
        return {"FirstName": "Per", "LastName": f"Ansatt{i}", "StartDate": "2024-05-01"}, None
    if name == "products":
        return {"Name": f"Vare {i}", "UnitPrice": 99.5, "Code": f"V{i}"}, None
    if name == "timetrackingactivities":
        return {"Name": f"Reise {i}", "Code": f"R{i}", "active": True}, None
    if name == "projectactivities":
        project = client.read("projects").frame["Id"][0]
        return {"projectId": project, "name": f"Testing {i}", "IsActive": False}, None
    return {"Name": f"Prosjekt {i}", "StartDate": "2024-01-01", "IsActive": True}, None


@pytest.mark.parametrize("name", DATATYPES)
def test_every_datatype_reads_fully_and_incrementally(
    emus: Emulators, client: PowerOfficeGoClient, name: str
) -> None:
    dt = datatype(f"powerofficego.{name}")
    full = client.read(name, page_size=6)
    assert dict(full.frame.schema) == dt.polars_schema()
    assert full.frame.height == api_count(emus, str(dt.endpoint)) > 6
    assert full.pages == full.frame.height // 6 + 1
    assert full.frame["Id"].is_unique().all()
    assert full.cursor == max(full.frame["LastChangedDateTimeOffset"].to_list())
    assert full.problems == []

    # Nothing changed: one cheap probe says so, the incremental read is one empty page.
    assert client.has_changes(name, full.cursor) is False
    quiet = client.read(name, full.cursor)
    assert (quiet.frame.height, quiet.pages, quiet.cursor) == (0, 1, full.cursor)
    assert dict(quiet.frame.schema) == dt.polars_schema()

    values, parent = new_values(name, 1, client)
    inserted = client.insert(name, values, reference=f"inc-{name}", parent_id=parent)
    first = full.frame.row(0, named=True)
    field = "LastName" if name in ("contactpersons", "employees") else "Name"
    updated = client.update(name, first["Id"], {field: "Endret"}, parent_id=first.get("ContactId"))
    assert updated[field] == "Endret"

    assert client.has_changes(name, full.cursor) is True
    delta = client.read(name, full.cursor, page_size=1)
    assert sorted(delta.frame["Id"].to_list()) == sorted([inserted["Id"], first["Id"]])
    assert delta.cursor == updated["LastChangedDateTimeOffset"]
    assert client.read(name, delta.cursor).frame.height == 0


def test_exact_multiple_of_the_page_size_reads_one_empty_page(client: PowerOfficeGoClient) -> None:
    total = client.read("employees").frame.height
    paged = client.read("employees", page_size=total)
    assert paged.frame.height == total and paged.pages == 2


def test_derived_datatypes_are_not_read_over_http(client: PowerOfficeGoClient) -> None:
    with pytest.raises(SchemaError, match="derived"):
        client.read("addresses")


def test_customer_and_contact_person_writes(client: PowerOfficeGoClient) -> None:
    customer = client.insert(
        "customers",
        {"Name": "Ærlig Øl AS", "MailAddress.City": "Bodø", "zipCode": "8006"},
        reference="cust-w1",
    )
    assert customer["ExternalImportReference"] == "cust-w1"
    assert customer["MailAddress.City"] == "Bodø" and customer["MailAddress.Id"] is not None
    changed = client.update("customers", customer["Id"], {"city": "Narvik", "PhoneNumber": "+47 1"})
    assert (changed["MailAddress.City"], changed["MailAddress.ZipCode"]) == ("Narvik", "8006")
    assert changed["PhoneNumber"] == "+47 1"

    supplier = client.insert("suppliers", {"Name": "Leverandør AS"}, reference="sup-w1")
    for parent in (customer["Id"], supplier["Id"]):
        person = client.insert(
            "contactpersons",
            {"FirstName": "Kåre", "LastName": "Ødegård"},
            reference=f"cp-{parent}",
            parent_id=parent,
        )
        assert person["ContactId"] == parent and person["ExternalCode"] == f"cp-{parent}"
        # MailAddress is null on this record: the nested replace is refused, the client adds
        # the whole object instead.
        moved = client.update(
            "contactpersons",
            person["Id"],
            {"MailAddress.City": "Alta", "Title": "Daglig leder"},
            parent_id=parent,
        )
        assert (moved["MailAddress.City"], moved["Title"]) == ("Alta", "Daglig leder")
        again = client.update("contactpersons", person["Id"], {"zipCode": "9510"}, parent_id=parent)
        assert (again["MailAddress.City"], again["MailAddress.ZipCode"]) == ("Alta", "9510")
        assert client.get("contactpersons", person["Id"], parent_id=parent) == again


def test_write_many_rejects_a_bad_record_and_writes_the_next(client: PowerOfficeGoClient) -> None:
    product = client.read("products").frame.row(0, named=True)
    ops = [
        WriteOp.insert("products", {"Name": "Ok 1", "UnitPrice": 10}, reference="p-ok1", key=1),
        WriteOp.insert("products", {"Name": "Bad", "UnitPrice": "ti kroner"}, reference="p-bad"),
        WriteOp.insert("employees", {"FirstName": "Uten etternavn"}, reference="e-bad"),
        WriteOp.update("products", product["Id"], {"Name": "Ok 2"}),
        WriteOp.update("products", 999_999_999, {"Name": "Finnes ikke"}),
    ]
    results = client.write_many_blocking(ops)
    assert [r.outcome for r in results] == [
        "inserted",
        "rejected",
        "rejected",
        "updated",
        "rejected",
    ]
    assert results[0].op.key == 1
    assert results[0].record is not None and results[0].record["Name"] == "Ok 1"
    assert results[0].status == 201 and results[0].record_id == results[0].record["Id"]
    bad = results[1]
    assert (bad.status, bad.field) == (400, "UnitPrice") and "ti kroner" in (bad.message or "")
    assert results[2].field == "LastName" and results[2].status is None
    assert results[4].status == 404
    assert results[3].record is not None and results[3].record["Name"] == "Ok 2"
    with pytest.raises(WriteRejected) as info:
        client.insert("products", {"Name": "Bad", "UnitPrice": "x"}, reference="p-bad2")
    assert "UnitPrice" in str(info.value)


def test_lost_answers_on_insert_never_duplicate(
    emus: Emulators, client: PowerOfficeGoClient
) -> None:
    """drop (before processing), drop_after (processed, answer lost) and 500s on every call,
    inserts of datatypes with a reference field and without one (matched on values)."""
    parent = client.read("suppliers").frame["Id"][0]
    ops: list[WriteOp] = []
    for i in range(8):
        ops.append(WriteOp.insert("customers", {"Name": f"Tap {i}"}, reference=f"lost-c{i}"))
        ops.append(
            WriteOp.insert(
                "contactpersons",
                {"FirstName": "Tap", "LastName": f"Person {i}"},
                reference=f"lost-p{i}",
                parent_id=parent,
            )
        )
        ops.append(WriteOp.insert("products", {"Name": f"Tapt vare {i}"}, reference=f"lost-v{i}"))
    emus.powerofficego.set_faults(0.35, ["drop", "drop_after", "500"])
    results = client.write_many_blocking(ops, concurrency=4)
    emus.powerofficego.set_faults(0)
    assert [r.outcome for r in results] == ["inserted"] * len(ops), [r.message for r in results]
    assert any(r.recovered for r in results)  # some answers were lost and found again

    customers = client.read("customers").frame
    persons = client.read("contactpersons").frame
    products = client.read("products").frame
    for i in range(8):
        assert customers.filter(customers["ExternalImportReference"] == f"lost-c{i}").height == 1
        assert persons.filter(persons["ExternalCode"] == f"lost-p{i}").height == 1
        assert products.filter(products["Name"] == f"Tapt vare {i}").height == 1
    by_ref = {r.op.reference: r.record_id for r in results}
    assert set(
        customers.filter(customers["ExternalImportReference"].str.starts_with("lost-c"))[
            "Id"
        ].to_list()
    ) == {by_ref[f"lost-c{i}"] for i in range(8)}


def test_5xx_bursts_and_dropped_reads_are_retried(
    emus: Emulators, client: PowerOfficeGoClient
) -> None:
    clean = {name: client.read(name).frame for name in ("customers", "projects")}
    emus.powerofficego.set_faults(0.4, ["500", "drop", "slow"], slow_seconds=0.05)
    try:
        for name, frame in clean.items():
            assert client.read(name, page_size=4).frame.equals(frame)
        project = clean["projects"].row(0, named=True)
        stored = client.update("projects", project["Id"], {"EndDate": "2030-12-31"})
        assert stored["EndDate"] == "2030-12-31"
    finally:
        emus.powerofficego.set_faults(0)
    statuses = client.transport.statuses
    assert statuses[500] + statuses["RemoteProtocolError"] > 0


def test_429_storm_is_ridden_out(client: PowerOfficeGoClient, emus: Emulators) -> None:
    """Every other answer a 429 with `Retry-After: 1`: slow, but nothing fails."""
    expected = client.read("products").frame
    emus.powerofficego.set_faults(0.5, ["429"])
    started = time.monotonic()
    try:
        frame = client.read("products", page_size=expected.height // 2 + 1).frame
    finally:
        emus.powerofficego.set_faults(0)
    assert frame.equals(expected)
    waited = time.monotonic() - started
    assert waited >= client.transport.statuses[429] * 1.0 > 0  # Retry-After honoured


@pytest.fixture(scope="module")
def limited() -> Iterator[Emulators]:
    with running_emulators(seed=5, size=8, rate_limits=True) as emulators:
        yield emulators


def test_rate_limit_is_kept_client_side_and_429s_are_honoured(limited: Emulators) -> None:
    with PowerOfficeGoClient.from_env(limited.env, **{**FAST, "requests_per_second": 10}) as paced:
        products = paced.read("products").frame
        ops = [
            WriteOp.update("products", pid, {"Description": f"d{i}"})
            for i, pid in enumerate(products["Id"].to_list() * 2)
        ]
        results = paced.write_many_blocking(ops, concurrency=6)
        assert all(r.ok for r in results)
        assert paced.transport.statuses[429] == 0
    # Without the client-side limiter the server's 429s (Retry-After) carry the same writes.
    with PowerOfficeGoClient.from_env(limited.env, **FAST) as unpaced:
        results = unpaced.write_many_blocking(ops, concurrency=6)
        assert all(r.ok for r in results)
        assert unpaced.transport.statuses[429] > 0


def test_token_expiry_mid_run() -> None:
    """Tokens live 0.6 s on this emulator but it announces 1 s: the client refreshes before
    the announced expiry, and once more on each 401 the announcement did not prevent."""
    with (
        running_emulators(seed=5, size=8, rate_limits=False, token_ttl=0.6) as short,
        PowerOfficeGoClient.from_env(short.env, **FAST) as c,
    ):
        started = time.monotonic()
        rounds = 0
        while time.monotonic() - started < 2.0:
            for name in ("customers", "employees"):
                assert c.read(name).frame.height > 0
            rounds += 1
            time.sleep(0.01)
        assert c.token_fetches >= 3 and rounds > 20
        assert c.transport.statuses[401] > 0


def test_timed_out_inserts_are_given_time_to_land_before_the_lookup(emus: Emulators) -> None:
    """Slow answers (0.3 s) beyond the timeout (0.15 s): the client waits `timeout_grace`, looks
    the reference up and resends only what is not there. (This emulator drops a slow write
    whose client has gone, so here the lookups find nothing and the resends carry the inserts;
    writes that land with their answer lost are the drop_after test's.)"""
    settings = {**FAST, "timeout": 0.15, "timeout_grace": 0.4}
    with PowerOfficeGoClient.from_env(emus.env, **settings) as impatient:
        ops = [
            WriteOp.insert("customers", {"Name": f"Treg {i}"}, reference=f"slow-c{i}")
            for i in range(6)
        ]
        emus.powerofficego.set_faults(0.3, ["slow"], slow_seconds=0.3)
        try:
            results = impatient.write_many_blocking(ops)
        finally:
            emus.powerofficego.set_faults(0)
        assert all(r.ok for r in results), [r.message for r in results]
        assert impatient.transport.statuses["ReadTimeout"] > 0
        customers = impatient.read("customers").frame
    for i in range(6):
        assert customers.filter(customers["ExternalImportReference"] == f"slow-c{i}").height == 1
