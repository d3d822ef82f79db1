"""Crmoffice companies' `postAddress`: schema, sample data, emulator and connector."""

from __future__ import annotations

import httpx

from talk_assets.systems import datatype
from talk_assets.systems.crmoffice.client import CrmofficeClient

MERGE = {"Content-Type": "application/merge-patch+json"}
SYSTEM = "crmoffice"
CLIENT = CrmofficeClient
EMULATOR_DATA = {"seed": 4, "size": 12}
POST_FIELDS = {"streetAddress", "postCode", "postalArea", "country"}


def test_schema_and_sample_data(api: httpx.Client) -> None:
    companies = datatype("crmoffice.companies")
    assert {f"postAddress.{name}" for name in POST_FIELDS} <= set(companies.polars_schema())
    assert companies.field("postPostalArea").path == "postAddress.postalArea"
    assert companies.field("postalArea").path == "visitAddress.postalArea"  # unchanged
    rows = api.get("/companies", params={"limit": 1000}).json()["items"]
    posted = [r for r in rows if "postAddress" in r]
    assert posted and len(posted) < len(rows)  # some companies have none
    assert all(set(r["postAddress"]) <= POST_FIELDS for r in posted)
    assert any(r["postAddress"]["streetAddress"].startswith("Postboks") for r in posted)


def test_emulator_validates_and_merges_it(api: httpx.Client) -> None:
    bad = api.post("/companies", json={"name": "X", "postAddress": {"postCode": 1234}})
    assert bad.status_code in (400, 422) and "postAddress.postCode" in bad.text
    unknown = api.post("/companies", json={"name": "X", "postAddress": {"zip": "1"}})
    assert unknown.status_code == 400 and "postAddress.zip" in unknown.text
    post = {"streetAddress": "Postboks 9", "postCode": "0101", "postalArea": "Oslo"}
    created = api.post("/companies", json={"name": "Åpen Post AS", "postAddress": post}).json()
    assert created["postAddress"] == post
    url = f"/companies/{created['id']}"
    merged = api.patch(url, json={"postAddress": {"postalArea": "Bærum"}}, headers=MERGE).json()
    assert merged["postAddress"] == {**post, "postalArea": "Bærum"}


def test_connector_round_trip(client: CrmofficeClient) -> None:
    created = client.insert(
        "companies",
        {"name": "Postkassa AS", "postAddress.streetAddress": "Postboks 1", "postCountry": "NO"},
        reference="post-1",
    )
    assert created["postAddress.streetAddress"] == "Postboks 1"
    assert created["postAddress.country"] == "NO" and created["postAddress.postCode"] is None
    updated = client.update("companies", created["id"], {"postAddress.postCode": "9990"})
    assert (updated["postAddress.postCode"], updated["postAddress.streetAddress"]) == (
        "9990",
        "Postboks 1",
    )
    frame = client.read("companies").frame
    row = frame.filter(frame["id"] == created["id"]).row(0, named=True)
    assert row["postAddress.postCode"] == "9990" and row["visitAddress.postCode"] is None
