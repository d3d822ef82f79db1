"""Time-tracking activities and project activities on the Powerofficego emulator (HTTP as a client
would use it, and through the connector), and contact persons without `DateOfBirth`."""

from __future__ import annotations

import httpx
import pytest

from talk_assets.systems import datatype
from talk_assets.systems.connector import ApiError
from talk_assets.systems.powerofficego.client import PowerOfficeGoClient
from talk_assets.systems.powerofficego.emulator import PowerofficegoEmulator

PATCH = {"Content-Type": "application/json-patch+json"}
SYSTEM = "powerofficego"
CLIENT = PowerOfficeGoClient
EMULATOR_DATA = {"seed": 5, "size": 9}
ENDPOINTS = ["/TimeTracking/Activities", "/ProjectActivities"]


def patch(api: httpx.Client, path: str, ops: list[dict]) -> httpx.Response:
    return api.patch(path, json=ops, headers=PATCH)


def a_project(api: httpx.Client) -> int:
    return api.get("/Projects").json()[0]["Id"]


def test_sample_data_is_awkward_and_points_at_existing_projects(api: httpx.Client) -> None:
    activities = api.get("/TimeTracking/Activities").json()
    assert len(activities) == 9
    assert set(activities[0]) == {"Id", "LastChangedDateTimeOffset", "Code", "Name", "IsActive"}
    names = [a["Name"] for a in activities]
    assert len(set(names)) < len(names)  # a name used twice
    assert any(ch in "".join(names) for ch in "øå–")
    assert {a["IsActive"] for a in activities} == {True, False}
    projects = {p["Id"] for p in api.get("/Projects").json()}
    project_activities = api.get("/ProjectActivities").json()
    assert len(project_activities) == 9
    assert {a["ProjectId"] for a in project_activities} <= projects
    per_project = [a["ProjectId"] for a in project_activities]
    assert max(per_project.count(p) for p in per_project) >= 2


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_create_get_patch_delete(api: httpx.Client, endpoint: str) -> None:
    body = {"Code": "X1", "Name": "Kjøring", "IsActive": True}
    if endpoint == "/ProjectActivities":
        body["ProjectId"] = a_project(api)
    created = api.post(endpoint, json={k.lower(): v for k, v in body.items()})
    assert created.status_code == 201, created.text
    record = created.json()
    assert {k: record[k] for k in body} == body
    assert isinstance(record["Id"], int) and record["LastChangedDateTimeOffset"]
    url = f"{endpoint}/{record['Id']}"
    assert api.get(url).json() == record
    changed = patch(api, url, [{"op": "replace", "path": "/name", "value": "Reise"}]).json()
    assert changed["Name"] == "Reise" and changed["Code"] == "X1"
    assert changed["LastChangedDateTimeOffset"] > record["LastChangedDateTimeOffset"]
    since = {"lastChangedDateTimeOffsetGreaterThan": record["LastChangedDateTimeOffset"]}
    assert [r["Id"] for r in api.get(endpoint, params=since).json()] == [record["Id"]]
    page = api.get(endpoint, params={"PageNumber": 2, "PageSize": 4}).json()
    assert [r["Id"] for r in page] == [r["Id"] for r in api.get(endpoint).json()][4:8]
    assert api.delete(url).status_code == 200
    assert api.get(url).status_code == 404


@pytest.mark.parametrize(
    ("endpoint", "body", "field"),
    [
        ("/TimeTracking/Activities", {"Code": "A"}, "Name"),
        ("/TimeTracking/Activities", {"Name": "  "}, "Name"),
        ("/TimeTracking/Activities", {"Name": "A", "IsActive": "yes"}, "IsActive"),
        ("/TimeTracking/Activities", {"Name": "A", "Code": 7}, "Code"),
        ("/TimeTracking/Activities", {"Name": "A", "Id": 5}, "Id"),
        ("/TimeTracking/Activities", {"Name": "A", "ProjectId": 5}, "ProjectId"),
        ("/ProjectActivities", {"Name": "A"}, "ProjectId"),
        ("/ProjectActivities", {"Name": "A", "ProjectId": "1"}, "ProjectId"),
        ("/ProjectActivities", {"Name": "A", "ProjectId": 1}, "ProjectId"),  # no such project
        ("/ProjectActivities", {"ProjectId": None, "Name": None}, "Name"),
    ],
)
def test_invalid_records_are_400_naming_the_field(
    api: httpx.Client, endpoint: str, body: dict, field: str
) -> None:
    before = len(api.get(endpoint).json())
    answer = api.post(endpoint, json=body)
    assert answer.status_code == 400, answer.text
    assert field in answer.json()["errors"], answer.json()
    assert len(api.get(endpoint).json()) == before


def test_patch_keeps_required_fields_and_references(api: httpx.Client) -> None:
    record = api.get("/ProjectActivities").json()[0]
    url = f"/ProjectActivities/{record['Id']}"
    for ops, field in (
        ([{"op": "remove", "path": "/ProjectId"}], "ProjectId"),
        ([{"op": "replace", "path": "/ProjectId", "value": 42}], "ProjectId"),
        ([{"op": "replace", "path": "/Name", "value": ""}], "Name"),
        ([{"op": "replace", "path": "/IsActive", "value": 1}], "IsActive"),
    ):
        answer = patch(api, url, ops)
        assert answer.status_code == 400 and field in answer.json()["errors"], answer.text
    assert api.get(url).json() == record


def test_a_project_with_activities_cannot_be_deleted(api: httpx.Client) -> None:
    project = api.get("/ProjectActivities").json()[0]["ProjectId"]
    answer = api.delete(f"/Projects/{project}")
    assert answer.status_code == 409 and "projectactivities" in answer.json()["detail"]


def test_contact_persons_have_no_date_of_birth(api: httpx.Client) -> None:
    person = api.get("/ContactPersons").json()[0]
    assert "DateOfBirth" not in person
    owner = person["ContactId"]
    body = {"FirstName": "Åse", "LastName": "Lie", "dateOfBirth": "1980-01-02"}
    refused = api.post(f"/ContactPersons/{owner}", json=body)
    assert refused.status_code == 400
    assert "DateOfBirth" in refused.json()["errors"]
    assert "ContactPersonDto" in refused.json()["detail"]
    url = f"/ContactPersons/{owner}/{person['Id']}"
    ops = [{"op": "add", "path": "/DateOfBirth", "value": "1980-01-02"}]
    refused = patch(api, url, ops)
    assert refused.status_code == 400 and "DateOfBirth" in refused.json()["errors"]
    assert api.get(url).json() == person
    # customers and employees keep theirs
    customer = api.get("/Customers").json()[0]
    ops = [{"op": "replace", "path": "/DateOfBirth", "value": "1980-01-02"}]
    assert patch(api, f"/Customers/{customer['Id']}", ops).status_code == 200


def test_the_connector_round_trips_both_datatypes(client: PowerOfficeGoClient, api) -> None:
    project = a_project(api)
    for name, values in (
        ("timetrackingactivities", {"name": "Møte", "code": "M1", "isActive": False}),
        ("projectactivities", {"ProjectId": project, "Name": "Analyse", "Code": None}),
    ):
        dt = datatype(f"powerofficego.{name}")
        before = client.read(name)
        assert dict(before.frame.schema) == dt.polars_schema()
        created = client.insert(name, values, reference=f"rt-{name}")
        stored = client.get(name, created["Id"])
        assert stored == created
        for key, value in values.items():
            assert stored[dt.field(key).path] == value
        updated = client.update(name, created["Id"], {"Name": "Ny ø"})
        assert updated["Name"] == "Ny ø"
        delta = client.read(name, before.cursor)
        assert delta.frame["Id"].to_list() == [created["Id"]]
        assert delta.frame.row(0, named=True)["Name"] == "Ny ø"
    with pytest.raises(ApiError) as caught:
        client.insert("projectactivities", {"Name": "Uten prosjekt"}, reference="rt-bad")
    assert caught.value.field == "ProjectId"


def test_an_older_data_file_takes_the_current_shape() -> None:
    """Stored contact persons with a DateOfBirth (an older data file) lose it on load; records
    without the new datatypes load empty ones."""
    emulator = PowerofficegoEmulator(seed=2, size=3, rate_limits=False)
    old = emulator.snapshot()
    del old["records"]["projectactivities"]
    person = old["records"]["contactpersons"][0]
    person["DateOfBirth"] = "1970-05-06"
    emulator.restore(old)
    restored = emulator.records["contactpersons"][person["Id"]]
    assert "DateOfBirth" not in restored and restored["LastName"] == person["LastName"]
    assert emulator.records["projectactivities"] == {}
    assert len(emulator.records["timetrackingactivities"]) == 3
