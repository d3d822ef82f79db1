"""The emulators' sample data: deterministic, realistic and awkward on purpose."""

from __future__ import annotations

from collections import Counter

import pytest

from talk_assets.systems import datatype
from talk_assets.systems.sampling import SampleData, generate, organization_number

SIZE = 30


@pytest.fixture(scope="module")
def data() -> SampleData:
    return generate(seed=1, size=SIZE)


def test_same_seed_and_size_give_identical_data(data: SampleData) -> None:
    assert generate(seed=1, size=SIZE) == data
    assert generate(seed=2, size=SIZE) != data


def test_size_is_records_per_datatype(data: SampleData) -> None:
    for rows in (*data.powerofficego.values(), *data.crmoffice.values()):
        assert len(rows) == SIZE
    empty = generate(seed=1, size=0)
    assert not any(empty.powerofficego.values()) and not any(empty.crmoffice.values())


def test_records_match_the_schemas(data: SampleData) -> None:
    for system, tables in (("powerofficego", data.powerofficego), ("crmoffice", data.crmoffice)):
        for name, rows in tables.items():
            dt = datatype(f"{system}.{name}")
            known = {f.parts[0] for f in dt.fields}
            for row in rows:
                assert set(row) <= known, (name, set(row) - known)
                for f in dt.required:
                    assert row.get(f), (name, f)


def test_ids_and_timestamps_are_unique(data: SampleData) -> None:
    parties = data.powerofficego["customers"] + data.powerofficego["suppliers"]
    assert len({r["Id"] for r in parties}) == len(parties)
    addresses = [r["MailAddress"]["Id"] for r in parties if r["MailAddress"]]
    assert len(set(addresses)) == len(addresses)
    stamps = [r["LastChangedDateTimeOffset"] for rows in data.powerofficego.values() for r in rows]
    stamps += [r["updatedAt"] for rows in data.crmoffice.values() for r in rows]
    assert len(set(stamps)) == len(stamps)


def test_awkward_records(data: SampleData) -> None:
    po = data.powerofficego
    parties = po["customers"] + po["suppliers"]
    names = " ".join(str(r["Name"]) for r in parties)
    assert any(ch in names for ch in "ØÅÆ")
    for table in (po["customers"], po["suppliers"]):
        assert {r["IsPerson"] for r in table} == {True, False}
    assert any(r["EmailAddress"] == "" for r in parties) or any(
        r["PhoneNumber"] == "" for r in parties
    )
    assert any(r["EmailAddress"] is None for r in parties)
    assert any(r["MailAddress"] is None for r in parties)
    emails = Counter(r["EmailAddress"] for r in parties if r["EmailAddress"])
    assert max(emails.values()) >= 2
    customer_mails = {r["EmailAddress"] for r in po["customers"] if r["EmailAddress"]}
    assert customer_mails & {r["EmailAddress"] for r in po["suppliers"]}
    assert any("email" not in r for r in data.crmoffice["contacts"])


def test_relations_point_at_existing_records(data: SampleData) -> None:
    po = data.powerofficego
    organisations = {r["Id"] for r in po["customers"] + po["suppliers"] if not r["IsPerson"]}
    owners = {r["ContactId"] for r in po["contactpersons"]}
    assert owners <= organisations
    assert owners & {r["Id"] for r in po["customers"]} and owners & {
        r["Id"] for r in po["suppliers"]
    }
    employees = {r["Id"] for r in po["employees"]}
    customers = {r["Id"] for r in po["customers"]}
    for project in po["projects"]:
        assert project["ProjectManagerEmployeeId"] in employees | {None}
        assert project["CustomerId"] in customers | {None}
    projects = {r["Id"] for r in po["projects"]}
    assert {r["ProjectId"] for r in po["projectactivities"]} <= projects
    companies = {r["id"] for r in data.crmoffice["companies"]}
    assert {r["companyId"] for r in data.crmoffice["contacts"] if "companyId" in r} <= companies


def test_the_systems_share_people_and_companies(data: SampleData) -> None:
    po_mails = {r["EmailAddress"] for r in data.powerofficego["customers"] if r["EmailAddress"]}
    crm_mails = {r.get("email") for r in data.crmoffice["contacts"]}
    assert po_mails & crm_mails
    po_orgs = {
        r["OrganizationNumber"]
        for rows in data.powerofficego.values()
        for r in rows
        if r.get("OrganizationNumber")
    }
    assert po_orgs & {r.get("orgNr") for r in data.crmoffice["companies"]}


def test_organization_numbers_have_a_valid_check_digit() -> None:
    import random

    rng = random.Random(0)
    for _ in range(50):
        number = organization_number(rng)
        digits = [int(d) for d in number]
        rest = sum(d * w for d, w in zip(digits, (3, 2, 7, 6, 5, 4, 3, 2), strict=False)) % 11
        assert len(number) == 9 and digits[8] == (0 if rest == 0 else 11 - rest)
