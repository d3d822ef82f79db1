"""CrmofficeClient against the real Crmoffice emulator on loopback, faults on and off."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from talk_assets.systems import datatype
from talk_assets.systems.connector import WriteOp
from talk_assets.systems.crmoffice.client import CrmofficeClient
from talk_assets.systems.emulator import Emulators, running_emulators
from talk_assets_tests.systems.clients import FAST

DATATYPES = ["contacts", "companies", "activities"]
SYSTEM = "crmoffice"
CLIENT = CrmofficeClient
EMULATOR_DATA = {"seed": 12, "size": 20}


def new_values(name: str, i: int) -> dict[str, Any]:
    if name == "contacts":
        return {"firstName": "Søren", "lastName": f"Ny {i}", "email": f"ny{i}@example.no"}
    if name == "companies":
        return {"name": f"Nytt AS {i}", "city": "Hønefoss", "postCode": "3510"}
    return {"subject": f"Møte {i}", "startsAt": "2024-06-01T10:00:00+02:00"}


@pytest.mark.parametrize("name", DATATYPES)
def test_every_datatype_reads_fully_and_incrementally(client: CrmofficeClient, name: str) -> None:
    dt = datatype(f"crmoffice.{name}")
    everything = client.read(name)
    full = client.read(name, page_size=6)
    assert full.frame.equals(everything.frame)
    assert dict(full.frame.schema) == dt.polars_schema()
    assert full.pages == -(-full.frame.height // 6) > 1
    assert full.frame["id"].is_unique().all()
    assert full.cursor == max(full.frame["updatedAt"].to_list())

    assert client.has_changes(name, full.cursor) is False
    quiet = client.read(name, full.cursor)
    assert (quiet.frame.height, quiet.pages, quiet.cursor) == (0, 1, full.cursor)

    inserted = client.insert(name, new_values(name, 1), reference=f"inc-{name}")
    first = full.frame.row(0, named=True)
    field = {"contacts": "familyName", "companies": "name", "activities": "subject"}[name]
    updated = client.update(name, first["id"], {field: "Endret"})
    assert updated[field] == "Endret"

    assert client.has_changes(name, full.cursor) is True
    delta = client.read(name, full.cursor, page_size=1)
    assert sorted(delta.frame["id"].to_list()) == sorted([inserted["id"], first["id"]])
    assert delta.cursor == updated["updatedAt"]
    assert client.read(name, delta.cursor).frame.height == 0


def test_company_writes_merge_nested_objects(client: CrmofficeClient) -> None:
    company = client.insert(
        "companies", {"name": "Fjord AS", "visitAddress.postalArea": "Florø"}, reference="co-w1"
    )
    assert company["visitAddress.postalArea"] == "Florø"
    changed = client.update("companies", company["id"], {"postCode": "6900", "orgNr": "999888777"})
    assert (changed["visitAddress.postalArea"], changed["visitAddress.postCode"]) == (
        "Florø",
        "6900",
    )
    contact = client.insert(
        "contacts",
        {"givenName": "Ida", "familyName": "Ås", "companyId": company["id"]},
        reference="ct-w1",
    )
    assert contact["companyId"] == company["id"]
    assert client.get("contacts", contact["id"]) == contact


def test_repeated_insert_of_a_reference_answers_the_first_record(client: CrmofficeClient) -> None:
    first = client.insert("activities", {"subject": "Samme"}, reference="same-key")
    again = client.write_many_blocking(
        [WriteOp.insert("activities", {"subject": "Samme"}, reference="same-key")]
    )[0]
    assert again.outcome == "inserted" and again.recovered and again.record_id == first["id"]
    # Different values under a used key: still the record that key created, never a second one.
    other = client.write_many_blocking(
        [WriteOp.insert("activities", {"subject": "Annet"}, reference="same-key")]
    )[0]
    assert other.ok and other.recovered and other.record_id == first["id"]


def test_write_many_rejects_a_bad_record_and_writes_the_next(client: CrmofficeClient) -> None:
    ops = [
        WriteOp.insert("activities", {"subject": "Ok"}, reference="a-ok"),
        WriteOp.insert("activities", {"subject": "Feil", "startsAt": "i morgen"}, reference="a-b"),
        WriteOp.insert("contacts", {"givenName": "X", "companyId": "co_nope"}, reference="c-b"),
        WriteOp.insert("companies", {"orgNr": "1"}, reference="co-b"),
        WriteOp.update("contacts", "ct_missing", {"givenName": "Y"}),
        WriteOp.insert("activities", {"subject": "Ok igjen"}, reference="a-ok2"),
    ]
    results = client.write_many_blocking(ops)
    outcomes = [r.outcome for r in results]
    assert outcomes == ["inserted", "rejected", "rejected", "rejected", "rejected", "inserted"]
    assert (results[1].status, results[1].field) == (422, "startsAt")
    assert "i morgen" in (results[1].message or "")
    assert (results[2].status, results[2].field) == (422, "companyId")
    assert results[3].field == "name"  # required: refused before sending
    assert results[4].status == 404
    assert results[5].record is not None and results[5].record["subject"] == "Ok igjen"


def test_lost_answers_on_insert_never_duplicate(emus: Emulators, client: CrmofficeClient) -> None:
    ops = [
        WriteOp.insert("contacts", {"givenName": "Tap", "familyName": f"K{i}"}, reference=f"lk{i}")
        for i in range(20)
    ]
    before = client.read("contacts").frame.height
    emus.crmoffice.set_faults(0.35, ["drop", "drop_after", "500"])
    results = client.write_many_blocking(ops, concurrency=4)
    emus.crmoffice.set_faults(0)
    assert all(r.outcome == "inserted" for r in results), [r.message for r in results]
    assert any(r.recovered for r in results)
    after = client.read("contacts").frame
    assert after.height == before + len(ops)
    for i in range(20):
        assert after.filter(after["familyName"] == f"K{i}").height == 1


def test_timeouts_on_insert_with_slow_answers_never_duplicate(
    emus: Emulators, client: CrmofficeClient
) -> None:
    """The answer comes after the client gave up (slow > timeout): the key makes resending safe."""
    with CrmofficeClient.from_env(
        emus.env, **{**FAST, "timeout": 0.15, "timeout_grace": 0.2}
    ) as impatient:
        before = impatient.read("companies").frame.height
        emus.crmoffice.set_faults(0.5, ["slow"], slow_seconds=0.3)
        try:
            results = impatient.write_many_blocking(
                [
                    WriteOp.insert("companies", {"name": f"Treg {i}"}, reference=f"slow{i}")
                    for i in range(6)
                ]
            )
        finally:
            emus.crmoffice.set_faults(0)
        assert all(r.ok for r in results), [r.message for r in results]
        time.sleep(0.35)  # let any answer still in flight land
        after = impatient.read("companies").frame
        assert after.height == before + 6
        assert impatient.transport.statuses["ReadTimeout"] > 0


def test_5xx_bursts_and_429s_during_reads(emus: Emulators, client: CrmofficeClient) -> None:
    expected = client.read("activities").frame
    emus.crmoffice.set_faults(0.3, ["500", "503", "429", "drop"])
    try:
        got = client.read("activities", page_size=expected.height // 2 + 1).frame
    finally:
        emus.crmoffice.set_faults(0)
    assert got.equals(expected)


def test_rate_limit_is_kept_client_side() -> None:
    with (
        running_emulators(seed=4, size=5, rate_limits=True) as limited,
        CrmofficeClient.from_env(limited.env, **{**FAST, "requests_per_second": 20}) as c,
    ):
        contacts = c.read("contacts").frame["id"].to_list()
        ops = [
            WriteOp.update("contacts", cid, {"mobilePhone": f"+47 {i}"})
            for i, cid in enumerate(contacts * 6)
        ]
        results = c.write_many_blocking(ops, concurrency=8)
        assert all(r.ok for r in results) and len(results) == 30
        assert c.transport.statuses[429] == 0


def test_write_many_from_the_callers_own_event_loop(client: CrmofficeClient) -> None:
    ops = [
        WriteOp.insert("activities", {"subject": f"Async {i}"}, reference=f"as{i}")
        for i in range(5)
    ]
    ops.append(WriteOp.update("activities", "ac_missing", {"subject": "x"}))

    async def main() -> list[str]:
        results = await client.write_many(ops, concurrency=3)
        return [r.outcome for r in results]

    assert asyncio.run(main()) == ["inserted"] * 5 + ["rejected"]
    assert client.has_changes("activities", None) is True  # no cursor yet: a full read is due
