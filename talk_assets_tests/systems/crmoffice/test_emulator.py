"""The Crmoffice emulator, driven only through HTTP as a client would."""

from __future__ import annotations

import httpx
import pytest

from talk_assets.systems.emulator import SystemHandle

SYSTEM = "crmoffice"
EMULATOR_DATA = {"seed": 5, "size": 8}
MERGE = {"Content-Type": "application/merge-patch+json"}


def error_of(answer: httpx.Response, status: int) -> dict:
    assert answer.status_code == status, answer.text
    body = answer.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "field"}
    return body["error"]


def merge(api: httpx.Client, path: str, body: dict) -> httpx.Response:
    return api.patch(path, json=body, headers=MERGE)


def read_all(api: httpx.Client, datatype: str, **params: object) -> list[dict]:
    rows, cursor = [], None
    for _ in range(100):
        page = api.get(f"/{datatype}", params={**params, **({"cursor": cursor} if cursor else {})})
        assert page.status_code == 200
        rows += page.json()["items"]
        cursor = page.json()["nextCursor"]
        if cursor is None:
            return rows
    raise AssertionError("paging did not end")


# --- auth ------------------------------------------------------------------------------------------


def test_token_endpoint(system: SystemHandle) -> None:
    env = system.env
    form = {
        "grant_type": "client_credentials",
        "client_id": env["CRMOFFICE_CLIENT_ID"],
        "client_secret": env["CRMOFFICE_CLIENT_SECRET"],
        "scope": "crmoffice",
    }
    ok = httpx.post(system.token_url, data=form)
    assert ok.status_code == 200
    assert ok.json()["token_type"] == "Bearer" and ok.json()["expires_in"] == 3600
    basic = httpx.post(
        system.token_url,
        data={"grant_type": "client_credentials"},
        auth=(env["CRMOFFICE_CLIENT_ID"], env["CRMOFFICE_CLIENT_SECRET"]),
    )
    assert basic.status_code == 200
    error_of(httpx.post(system.token_url, data={**form, "client_secret": "x"}), 401)
    assert (
        error_of(httpx.post(system.token_url, data={**form, "grant_type": "x"}), 400)["field"]
        == "grant_type"
    )
    assert (
        error_of(httpx.post(system.token_url, data={**form, "scope": "all"}), 400)["field"]
        == "scope"
    )


def test_api_needs_a_valid_token(system: SystemHandle) -> None:
    assert error_of(httpx.get(system.base_url + "/contacts"), 401)["code"] == "unauthorized"
    error_of(httpx.get(system.base_url + "/contacts", headers={"Authorization": "Bearer x"}), 401)


# --- lists -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("datatype", ["contacts", "companies", "activities"])
def test_lists(api: httpx.Client, datatype: str) -> None:
    body = api.get(f"/{datatype}").json()
    assert set(body) == {"items", "nextCursor"} and body["nextCursor"] is None
    assert len(body["items"]) == 8
    assert all(isinstance(r["id"], str) and r["updatedAt"].endswith("Z") for r in body["items"])


def test_paging_edges(system: SystemHandle, api: httpx.Client) -> None:
    everything = api.get("/contacts").json()["items"]
    exact = api.get("/contacts", params={"limit": 8}).json()
    assert exact == {"items": everything, "nextCursor": None}
    first = api.get("/contacts", params={"limit": 7}).json()
    assert len(first["items"]) == 7 and first["nextCursor"]
    last = api.get("/contacts", params={"limit": 7, "cursor": first["nextCursor"]}).json()
    assert last["nextCursor"] is None and first["items"] + last["items"] == everything
    assert read_all(api, "contacts", limit=3) == everything
    for bad in ({"limit": 0}, {"limit": 1001}, {"limit": "x"}, {"cursor": "not-a-cursor"}):
        assert error_of(api.get("/contacts", params=bad), 400)["field"] in ("limit", "cursor")
    system.reset()
    assert api.get("/contacts").json() == {"items": [], "nextCursor": None}


def test_updated_since_is_exclusive(api: httpx.Client) -> None:
    rows = api.get("/companies").json()["items"]
    stamps = [r["updatedAt"] for r in rows]
    assert stamps == sorted(stamps)
    newer = read_all(api, "companies", updatedSince=stamps[2], limit=2)
    assert [r["updatedAt"] for r in newer] == stamps[3:]
    assert read_all(api, "companies", updatedSince=stamps[-1]) == []
    offset = stamps[2].replace("Z", "+00:00")
    assert len(read_all(api, "companies", updatedSince=offset)) == len(stamps) - 3
    error_of(api.get("/companies", params={"updatedSince": "2024-01-01T00:00:00"}), 400)
    error_of(api.get("/companies", params={"updatedSince": "soon"}), 400)


def test_a_record_changed_while_paging_is_still_seen(api: httpx.Client) -> None:
    first = api.get("/contacts", params={"limit": 4}).json()
    early = first["items"][0]
    merge(api, f"/contacts/{early['id']}", {"givenName": "Endret"})
    rest = read_all(api, "contacts", cursor=first["nextCursor"], limit=4)
    assert [r["givenName"] for r in rest if r["id"] == early["id"]] == ["Endret"]


# --- create ----------------------------------------------------------------------------------------


def test_create(api: httpx.Client) -> None:
    company = api.post(
        "/companies", json={"name": "Ørsta Fisk AS", "visitAddress": {"postalArea": "Ørsta"}}
    )
    assert company.status_code == 201
    co = company.json()
    assert co["id"].startswith("co_") and co["updatedAt"].endswith("Z")
    contact = api.post(
        "/contacts", json={"givenName": "Åsne", "companyId": co["id"], "email": None}
    )
    assert contact.status_code == 201 and "email" not in contact.json()
    activity = api.post(
        "/activities", json={"subject": "Møte", "ownerId": "3000001", "startsAt": "2025-03-01"}
    )
    assert activity.status_code == 201
    for path, record in (
        ("companies", co),
        ("contacts", contact.json()),
        ("activities", activity.json()),
    ):
        assert api.get(f"/{path}/{record['id']}").json() == record


def test_validation_errors(api: httpx.Client) -> None:
    cases = [
        ("/contacts", {"nickname": "x"}, 400, "nickname"),
        ("/contacts", {"id": "ct_1"}, 400, "id"),
        ("/contacts", {"updatedAt": "2024-01-01T00:00:00Z"}, 400, "updatedAt"),
        ("/contacts", {"givenName": 5}, 422, "givenName"),
        ("/contacts", {"companyId": "co_99999999"}, 422, "companyId"),
        ("/companies", {"orgNr": "123"}, 422, "name"),
        ("/companies", {"name": ""}, 422, "name"),
        ("/companies", {"name": "X", "visitAddress": {"street": "y"}}, 400, "visitAddress.street"),
        ("/companies", {"name": "X", "visitAddress": "Storgata 1"}, 422, "visitAddress"),
        ("/activities", {"subject": "x", "startsAt": "neste uke"}, 422, "startsAt"),
        ("/activities", {"ownerId": "1"}, 422, "subject"),
    ]
    for path, body, status, field in cases:
        assert error_of(api.post(path, json=body), status)["field"] == field, body
    error_of(api.post("/contacts", content=b"{"), 400)
    error_of(api.post("/contacts", json=["x"]), 400)
    assert error_of(api.post("/deals", json={}), 404)["code"] == "not_found"


def test_idempotency_key(api: httpx.Client) -> None:
    body = {"givenName": "Ingrid", "familyName": "Æsøy"}
    key = {"Idempotency-Key": "run-1:contact-7"}
    assert api.get("/contacts", params={"idempotencyKey": "run-1:contact-7"}).json()["items"] == []
    first = api.post("/contacts", json=body, headers=key)
    again = api.post("/contacts", json=body, headers=key)
    assert first.status_code == 201 and again.status_code == 200
    assert again.json() == first.json()
    found = api.get("/contacts", params={"idempotencyKey": "run-1:contact-7"}).json()["items"]
    assert found == [first.json()]
    assert api.get("/companies", params={"idempotencyKey": "run-1:contact-7"}).json()["items"] == []
    assert error_of(api.post("/contacts", json={"givenName": "Annen"}, headers=key), 409)
    assert error_of(api.post("/companies", json={"name": "X"}, headers=key), 409)
    total = len(read_all(api, "contacts"))
    assert total == 9


# --- patch and delete -----------------------------------------------------------------------------


def test_merge_patch(api: httpx.Client) -> None:
    co = api.post(
        "/companies",
        json={
            "name": "Vik AS",
            "orgNr": "912345678",
            "visitAddress": {"streetAddress": "Kaia 1", "postCode": "6893"},
        },
    ).json()
    path = f"/companies/{co['id']}"
    r = merge(
        api, path, {"orgNr": None, "visitAddress": {"postalArea": "Vik i Sogn", "postCode": None}}
    )
    assert r.status_code == 200
    got = r.json()
    assert "orgNr" not in got
    assert got["visitAddress"] == {"streetAddress": "Kaia 1", "postalArea": "Vik i Sogn"}
    assert got["updatedAt"] > co["updatedAt"] and api.get(path).json() == got
    same = merge(api, path, {"name": "Vik AS"})
    assert same.json() == got
    assert error_of(merge(api, path, {"name": None}), 422)["field"] == "name"
    assert error_of(merge(api, path, {"id": "co_1"}), 400)["field"] == "id"
    assert error_of(merge(api, path, {"name": 1}), 422)["field"] == "name"
    assert error_of(api.patch(path, json={"name": "Y"}), 400)["code"] == "unsupported_media_type"
    error_of(merge(api, "/companies/co_404", {"name": "Y"}), 404)
    assert api.get(path).json() == got


def test_delete(api: httpx.Client) -> None:
    co = api.post("/companies", json={"name": "Slett AS"}).json()
    ct = api.post("/contacts", json={"givenName": "Bo", "companyId": co["id"]}).json()
    assert error_of(api.delete(f"/companies/{co['id']}"), 409)["code"] == "conflict"
    assert api.delete(f"/contacts/{ct['id']}").status_code == 204
    assert api.delete(f"/companies/{co['id']}").status_code == 204
    error_of(api.get(f"/companies/{co['id']}"), 404)
    error_of(api.delete(f"/companies/{co['id']}"), 404)
    error_of(api.put(f"/companies/{co['id']}", json={}), 405)
