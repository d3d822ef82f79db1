"""The Powerofficego emulator, driven only through HTTP as a client would."""

from __future__ import annotations

import itertools
from datetime import timedelta

import httpx
import pytest

from talk_assets.systems.emulator import SystemHandle
from talk_assets.systems.timestamps import format_timestamp, parse_timestamp

PATCH = {"Content-Type": "application/json-patch+json"}
SYSTEM = "powerofficego"
EMULATOR_DATA = {"seed": 3, "size": 8}
DATATYPES = [
    "Customers",
    "Suppliers",
    "Employees",
    "Products",
    "Projects",
    "ContactPersons",
    "TimeTracking/Activities",
    "ProjectActivities",
]


def patch(api: httpx.Client, path: str, ops: list[dict]) -> httpx.Response:
    return api.patch(path, json=ops, headers=PATCH)


def org_customer(api: httpx.Client) -> dict:
    return next(c for c in api.get("/Customers").json() if not c["IsPerson"])


# --- auth ------------------------------------------------------------------------------------------


def test_token_endpoint(system: SystemHandle) -> None:
    env = system.env
    key = {"Ocp-Apim-Subscription-Key": env["POWEROFFICEGO_SUBSCRIPTION_KEY"]}
    auth = (env["POWEROFFICEGO_APPLICATION_KEY"], env["POWEROFFICEGO_CLIENT_KEY"])
    form = {"grant_type": "client_credentials"}
    ok = httpx.post(system.token_url, data=form, auth=auth, headers=key)
    assert ok.status_code == 200
    assert ok.json()["token_type"] == "Bearer" and ok.json()["expires_in"] == 1200
    wrong = httpx.post(system.token_url, data=form, auth=("x", "y"), headers=key)
    assert wrong.status_code == 401 and wrong.json()["status"] == 401
    assert httpx.post(system.token_url, data=form, auth=auth).status_code == 401
    grant = httpx.post(system.token_url, data={"grant_type": "password"}, auth=auth, headers=key)
    assert grant.status_code == 400 and "grant_type" in grant.json()["errors"]


def test_api_needs_key_and_token(system: SystemHandle, api: httpx.Client) -> None:
    key = {"Ocp-Apim-Subscription-Key": system.env["POWEROFFICEGO_SUBSCRIPTION_KEY"]}
    url = system.base_url + "/Customers"
    assert httpx.get(url, headers=key).status_code == 401
    assert httpx.get(url, headers={**key, "Authorization": "Bearer nope"}).status_code == 401
    bearer = api.headers["Authorization"]
    assert httpx.get(url, headers={"Authorization": bearer}).status_code == 401
    wrong_key = {"Authorization": bearer, "Ocp-Apim-Subscription-Key": "wrong"}
    answer = httpx.get(url, headers=wrong_key)
    assert answer.status_code == 401
    assert set(answer.json()) == {"title", "status", "detail", "errors"}


# --- lists, paging, filters ---------------------------------------------------------------------


@pytest.mark.parametrize("datatype", DATATYPES)
def test_every_list_is_a_bare_array(api: httpx.Client, datatype: str) -> None:
    answer = api.get(f"/{datatype}")
    assert answer.status_code == 200
    rows = answer.json()
    assert isinstance(rows, list) and len(rows) == 8
    assert all("Id" in r and "LastChangedDateTimeOffset" in r for r in rows)
    assert [r["Id"] for r in rows] == sorted(r["Id"] for r in rows)


def test_paging_edges(api: httpx.Client) -> None:
    everything = api.get("/Customers").json()
    exact = api.get("/Customers", params={"PageNumber": 1, "PageSize": 8}).json()
    assert exact == everything
    assert api.get("/Customers", params={"PageNumber": 2, "PageSize": 8}).json() == []
    first = api.get("/Customers", params={"pageNumber": 1, "pageSize": 5}).json()
    second = api.get("/Customers", params={"PageNumber": 2, "PageSize": 5}).json()
    assert len(first) == 5 and len(second) == 3 and first + second == everything
    for bad in ({"PageSize": 20001}, {"PageSize": 0}, {"PageNumber": 0}, {"PageSize": "x"}):
        answer = api.get("/Customers", params=bad)
        assert answer.status_code == 400 and answer.json()["errors"]
    assert len(api.get("/Customers", params={"PageSize": 20000}).json()) == 8


def test_empty_list(system: SystemHandle, api: httpx.Client) -> None:
    system.reset()
    assert api.get("/Customers").json() == []
    assert api.get("/ContactPersons").json() == []


def test_last_changed_filter_is_exclusive(api: httpx.Client) -> None:
    rows = api.get("/Customers").json()
    stamps = sorted(r["LastChangedDateTimeOffset"] for r in rows)
    pivot = stamps[3]
    param = "lastChangedDateTimeOffsetGreaterThan"
    newer = api.get("/Customers", params={param: pivot}).json()
    assert sorted(r["LastChangedDateTimeOffset"] for r in newer) == stamps[4:]
    # The same instant in another offset, with .NET's seven fraction digits.
    moment = parse_timestamp(pivot).astimezone(parse_timestamp("2024-01-01T00:00:00+02:00").tzinfo)
    seven = moment.isoformat(timespec="microseconds").replace("+02:00", "0+02:00")
    assert len(api.get("/Customers", params={param: seven}).json()) == len(stamps) - 4
    # An unencoded "+" arrives as a space.
    raw = api.get(f"/Customers?{param}={pivot}")
    assert len(raw.json()) == len(stamps) - 4
    assert api.get("/Customers", params={param: stamps[-1]}).json() == []
    for bad in ("2024-01-01T00:00:00", "yesterday"):
        answer = api.get("/Customers", params={param: bad})
        assert answer.status_code == 400 and param in answer.json()["errors"]


def test_new_writes_pass_the_filter(api: httpx.Client) -> None:
    last = max(r["LastChangedDateTimeOffset"] for r in api.get("/Employees").json())
    created = api.post("/Employees", json={"FirstName": "Nils", "LastName": "Ås"}).json()
    newer = api.get("/Employees", params={"lastChangedDateTimeOffsetGreaterThan": last}).json()
    assert [r["Id"] for r in newer] == [created["Id"]]


def test_external_import_reference_lookup(api: httpx.Client) -> None:
    body = {"Name": "Referanse AS", "ExternalImportReference": "talk:abc-1"}
    created = api.post("/Suppliers", json=body).json()
    found = api.get("/Suppliers", params={"externalImportReference": "talk:abc-1"}).json()
    assert [r["Id"] for r in found] == [created["Id"]]
    assert api.get("/Customers", params={"externalImportReference": "talk:abc-1"}).json() == []


def test_contact_person_filters(api: httpx.Client) -> None:
    owner = org_customer(api)
    body = {"FirstName": "Liv", "LastName": "Ødegaard", "ExternalCode": "X-7"}
    created = api.post(f"/ContactPersons/{owner['Id']}", json=body).json()
    by_code = api.get("/ContactPersons", params={"externalCodes": "A, X-7"}).json()
    assert [r["Id"] for r in by_code] == [created["Id"]]
    by_owner = api.get("/ContactPersons", params={"contactIds": str(owner["Id"])}).json()
    assert created["Id"] in [r["Id"] for r in by_owner]
    assert all(r["ContactId"] == owner["Id"] for r in by_owner)
    assert api.get("/ContactPersons", params={"contactIds": "x"}).status_code == 400


# --- create, read, delete --------------------------------------------------------------------------


def test_create_every_datatype(api: httpx.Client) -> None:
    employee = api.post("/Employees", json={"FirstName": "Åse", "LastName": "Berg"})
    assert employee.status_code == 201
    bodies = {
        "Customers": {"Name": "Bølgen & Moi AS", "IsPerson": False, "OrganizationNumber": "9"},
        "Suppliers": {"FirstName": "Per", "LastName": "Ås", "IsPerson": True},
        "Products": {"Name": "Kaffe", "UnitPrice": 12.5, "IsArchived": False, "Code": "K1"},
        "Projects": {
            "Name": "Nytt lager",
            "ProjectManagerEmployeeId": employee.json()["Id"],
            "StartDate": "2025-02-01",
        },
    }
    for datatype, body in bodies.items():
        answer = api.post(f"/{datatype}", json=body)
        assert answer.status_code == 201, answer.text
        record = answer.json()
        assert isinstance(record["Id"], int) and record["LastChangedDateTimeOffset"]
        assert {k: record[k] for k in body} == body
        assert api.get(f"/{datatype}/{record['Id']}").json() == record


def test_customer_name_and_numbers(api: httpx.Client) -> None:
    person = api.post("/Customers", json={"IsPerson": True, "FirstName": "Kari", "LastName": "Ø"})
    assert person.json()["Name"] == "Kari Ø"
    assert person.json()["Number"] > max(
        c["Number"] for c in api.get("/Customers").json() if c["Id"] != person.json()["Id"]
    )
    nameless = api.post("/Customers", json={"IsPerson": False, "EmailAddress": "a@b.no"})
    assert nameless.status_code == 400 and "Name" in nameless.json()["errors"]
    only_last = api.post("/Customers", json={"LastName": "Hansen"})
    assert only_last.status_code == 201 and only_last.json()["Name"] == "Hansen"


def test_numbers_stay_unique_after_a_chosen_number(api: httpx.Client) -> None:
    """Numbers come from a high-water mark (O(1) per insert): a number a client chose itself,
    on insert or by a patch, is never handed out again."""
    first = api.post("/Customers", json={"Name": "Første"}).json()
    chosen = api.post("/Customers", json={"Name": "Valgt", "Number": first["Number"] + 50})
    assert chosen.status_code == 201, chosen.text
    after = api.post("/Customers", json={"Name": "Etter"}).json()
    assert after["Number"] == first["Number"] + 51
    patched = api.patch(
        f"/Customers/{first['Id']}",
        json=[{"op": "replace", "path": "/Number", "value": after["Number"] + 10}],
        headers={"Content-Type": "application/json-patch+json"},
    )
    assert patched.status_code == 200, patched.text
    numbers = [c["Number"] for c in api.get("/Customers").json()]
    assert api.post("/Customers", json={"Name": "Sist"}).json()["Number"] not in numbers


def test_mail_address_ids_are_unique_across_customers_and_suppliers(api: httpx.Client) -> None:
    a = api.post("/Customers", json={"Name": "A", "MailAddress": {"City": "Bodø"}}).json()
    b = api.post("/Suppliers", json={"Name": "B", "MailAddress": {"City": "Tromsø"}}).json()
    ids = [
        r["MailAddress"]["Id"]
        for dt in ("Customers", "Suppliers")
        for r in api.get(f"/{dt}").json()
        if r["MailAddress"]
    ]
    assert a["MailAddress"]["Id"] in ids and b["MailAddress"]["Id"] in ids
    assert len(ids) == len(set(ids))


def test_validation_errors_name_the_field(api: httpx.Client) -> None:
    cases = [
        ({"Name": "X", "Colour": "red"}, "Colour"),
        ({"Name": "X", "Id": 5}, "Id"),
        (
            {"Name": "X", "LastChangedDateTimeOffset": "2024-01-01T00:00:00+00:00"},
            "LastChangedDateTimeOffset",
        ),
        ({"Name": "X", "IsPerson": "yes"}, "IsPerson"),
        ({"Name": "X", "Number": "12"}, "Number"),
        ({"Name": "X", "DateOfBirth": "01.02.1990"}, "DateOfBirth"),
        ({"Name": "X", "MailAddress": {"Town": "Oslo"}}, "MailAddress.Town"),
        ({"Name": "X", "MailAddress": {"Id": 3}}, "MailAddress.Id"),
        ({"Name": 5}, "Name"),
    ]
    for body, field in cases:
        answer = api.post("/Customers", json=body)
        assert answer.status_code == 400, body
        problem = answer.json()
        assert set(problem) == {"title", "status", "detail", "errors"}
        assert problem["status"] == 400 and field in problem["errors"], problem
    assert api.post("/Customers", content=b"{nope").status_code == 400
    assert api.post("/Customers", json=[1]).status_code == 400


def test_contact_persons(api: httpx.Client) -> None:
    owner = org_customer(api)
    missing = api.post(f"/ContactPersons/{owner['Id']}", json={"FirstName": "Ola"})
    assert missing.status_code == 400 and "LastName" in missing.json()["errors"]
    both = api.post(f"/ContactPersons/{owner['Id']}", json={"Title": "Sjef"})
    assert {"FirstName", "LastName"} <= set(both.json()["errors"])
    assert (
        api.post("/ContactPersons/1", json={"FirstName": "A", "LastName": "B"}).status_code == 404
    )
    clash = {"FirstName": "A", "LastName": "B", "ContactId": owner["Id"] + 1}
    assert api.post(f"/ContactPersons/{owner['Id']}", json=clash).status_code == 400
    body = {"FirstName": "Åge", "LastName": "Ærø", "MailAddress": {"City": "Ås"}}
    created = api.post(f"/ContactPersons/{owner['Id']}", json=body)
    assert created.status_code == 201
    cp = created.json()
    assert cp["ContactId"] == owner["Id"] and cp["MailAddress"]["City"] == "Ås"
    path = f"/ContactPersons/{owner['Id']}/{cp['Id']}"
    assert api.get(path).json() == cp
    assert api.get(f"/ContactPersons/{owner['Id'] + 1}/{cp['Id']}").status_code == 404
    updated = patch(api, path, [{"op": "replace", "path": "/Title", "value": "Innkjøper"}])
    assert updated.status_code == 200 and updated.json()["Title"] == "Innkjøper"
    assert api.delete(f"/Customers/{owner['Id']}").status_code == 409
    assert api.delete(path).status_code == 200
    assert api.get(path).status_code == 404


def test_get_and_delete(api: httpx.Client) -> None:
    product = api.get("/Products").json()[0]
    assert api.get(f"/Products/{product['Id']}").json() == product
    assert api.delete(f"/Products/{product['Id']}").status_code == 200
    assert api.get(f"/Products/{product['Id']}").status_code == 404
    assert api.delete(f"/Products/{product['Id']}").status_code == 404
    missing = api.get("/Products/999")
    assert missing.status_code == 404 and missing.json()["status"] == 404
    assert api.get("/Products/abc").status_code == 404
    assert api.get("/Invoices").status_code == 404
    assert api.delete("/Products").status_code == 405
    assert api.get("/customers").status_code == 200  # routes match case-insensitively


# --- JSON Patch --------------------------------------------------------------------------------------


def test_every_patch_operation(api: httpx.Client) -> None:
    c = api.post(
        "/Customers",
        json={"Name": "Fjord AS", "EmailAddress": "a@fjord.no", "MailAddress": {"City": "Oslo"}},
    ).json()
    path = f"/Customers/{c['Id']}"
    ops = [
        {"op": "test", "path": "/Name", "value": "Fjord AS"},
        {"op": "replace", "path": "/Name", "value": "Fjord Øst AS"},
        {"op": "add", "path": "/PhoneNumber", "value": "22 33 44 55"},
        {"op": "copy", "from": "/EmailAddress", "path": "/ExternalImportReference"},
        {"op": "move", "from": "/MailAddress/City", "path": "/MailAddress/AddressLine2"},
        {"op": "add", "path": "/MailAddress/City", "value": "Bærum"},
        {"op": "remove", "path": "/EmailAddress"},
    ]
    answer = patch(api, path, ops)
    assert answer.status_code == 200, answer.text
    r = answer.json()
    assert r["Name"] == "Fjord Øst AS" and r["PhoneNumber"] == "22 33 44 55"
    assert r["ExternalImportReference"] == "a@fjord.no" and r["EmailAddress"] is None
    assert r["MailAddress"]["AddressLine2"] == "Oslo" and r["MailAddress"]["City"] == "Bærum"
    assert r["MailAddress"]["Id"] == c["MailAddress"]["Id"]
    assert r["LastChangedDateTimeOffset"] > c["LastChangedDateTimeOffset"]
    assert api.get(path).json() == r


def test_patch_whole_object_and_case_insensitive_paths(api: httpx.Client) -> None:
    c = api.post("/Suppliers", json={"Name": "Ved AS"}).json()
    path = f"/Suppliers/{c['Id']}"
    nested = patch(api, path, [{"op": "replace", "path": "/MailAddress/City", "value": "Oslo"}])
    assert nested.status_code == 400  # no MailAddress yet
    added = patch(api, path, [{"op": "add", "path": "/mailAddress", "value": {"city": "Oslo"}}])
    assert added.status_code == 200
    address = added.json()["MailAddress"]
    assert address["City"] == "Oslo" and isinstance(address["Id"], int)
    replaced = patch(
        api, path, [{"op": "replace", "path": "/MailAddress", "value": {"City": "Hamar"}}]
    )
    assert replaced.json()["MailAddress"] == {
        **{k: None for k in address},
        "Id": address["Id"],
        "City": "Hamar",
    }


def test_patch_errors_apply_nothing(api: httpx.Client) -> None:
    c = api.get("/Customers").json()[0]
    path = f"/Customers/{c['Id']}"
    bad = [
        [
            {"op": "replace", "path": "/Name", "value": "Ny"},
            {"op": "test", "path": "/Name", "value": "Gammel"},
        ],
        [{"op": "replace", "path": "/Id", "value": 1}],
        [{"op": "replace", "path": "/LastChangedDateTimeOffset", "value": "2024-01-01T00:00:00Z"}],
        [{"op": "replace", "path": "/MailAddress/Id", "value": 1}],
        [{"op": "replace", "path": "/Nope", "value": 1}],
        [{"op": "replace", "path": "/Number", "value": "ti"}],
        [{"op": "jump", "path": "/Name"}],
        [{"op": "replace", "path": "/Name"}],
        [{"op": "move", "path": "/Name"}],
        [{"op": "replace", "path": "Name", "value": "x"}],
        {"op": "replace", "path": "/Name", "value": "x"},
    ]
    for ops in bad:
        answer = patch(api, path, ops)  # type: ignore[arg-type]
        assert answer.status_code == 400, ops
        assert answer.json()["status"] == 400
    assert api.get(path).json() == c
    plain = api.patch(path, json=[{"op": "replace", "path": "/Name", "value": "x"}])
    assert plain.status_code == 415
    assert patch(api, "/Customers/1", []).status_code == 404


def test_patch_without_change_keeps_timestamp(api: httpx.Client) -> None:
    c = api.get("/Products").json()[0]
    same = patch(
        api, f"/Products/{c['Id']}", [{"op": "replace", "path": "/Name", "value": c["Name"]}]
    )
    assert same.json() == c


def test_person_name_follows_first_and_last_name(api: httpx.Client) -> None:
    c = api.post(
        "/Customers", json={"IsPerson": True, "FirstName": "Eva", "LastName": "Lie"}
    ).json()
    r = patch(
        api, f"/Customers/{c['Id']}", [{"op": "replace", "path": "/FirstName", "value": "Åsa"}]
    )
    assert r.json()["Name"] == "Åsa Lie"
    r = patch(
        api,
        f"/Customers/{c['Id']}",
        [{"op": "remove", "path": "/LastName"}, {"op": "remove", "path": "/Name"}],
    )
    assert r.json()["Name"] == "Åsa"


def test_required_fields_hold_on_patch(api: httpx.Client) -> None:
    e = api.get("/Employees").json()[0]
    answer = patch(api, f"/Employees/{e['Id']}", [{"op": "remove", "path": "/LastName"}])
    assert answer.status_code == 400 and "LastName" in answer.json()["errors"]


def test_timestamps_strictly_increase(api: httpx.Client) -> None:
    stamps = [
        api.post("/Products", json={"Name": f"Vare {i}"}).json()["LastChangedDateTimeOffset"]
        for i in range(30)
    ]
    moments = [parse_timestamp(s) for s in stamps]
    assert all(b - a >= timedelta(microseconds=1) for a, b in itertools.pairwise(moments))
    assert stamps == [format_timestamp(m) for m in moments]
