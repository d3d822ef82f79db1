"""The committed specs plus a newer Talk document (PowerOffice GO project and time-tracking
activities -> Crmoffice activities) against real emulators: steady state, one partner per
record per flow, and contact persons' `DateOfBirth` (not in the API) never sent."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from talk_assets.flows.catalog import active_flows
from talk_assets.flows.spec import SPECS_DIR

from .conftest import World
from .test_rules import assert_one_partner_per_source_record

pytestmark = pytest.mark.e2e

DOCUMENT = (
    Path(__file__).parents[1] / "flows" / "documents" / "powerofficego_activities_to_crmoffice.rst"
)
PROJECT_FLOW = "powerofficego_projectactivity__crmoffice_activities"
TIME_FLOW = "powerofficego_timetrackingactivity__crmoffice_activities"


def subjects_by_partner(world: World, datatype: str, endpoint: str) -> dict[str, str]:
    """Each record's Name -> the subject of its Crmoffice activity partner."""
    activities = {a["id"]: a.get("subject") for a in world.crm("/activities")}
    out = {}
    for record in world.po(endpoint):
        (partner,) = world.partners(
            f"powerofficego.{datatype}:{record['Id']}", "crmoffice.activities"
        )
        out[record["Name"]] = activities[partner.split(":", 1)[1]]
    return out


def test_activities_document_with_the_committed_specs_reaches_a_steady_state(world: World):
    world.flows = active_flows([SPECS_DIR, DOCUMENT])
    assert {PROJECT_FLOW, TIME_FLOW} <= {f.name for f in world.flows}
    activities_before = len(world.crm("/activities"))
    projects = len(world.po("/Projects"))
    time_activities = world.po("/TimeTracking/Activities")
    project_activities = world.po("/ProjectActivities")
    world.settle()
    assert_one_partner_per_source_record(world, world.flows)
    # every project, project activity and time-tracking activity got its own activity
    assert len(world.crm("/activities")) == (
        activities_before + projects + len(time_activities) + len(project_activities)
    )
    for datatype, endpoint in (
        ("timetrackingactivities", "/TimeTracking/Activities"),
        ("projectactivities", "/ProjectActivities"),
    ):
        for name, subject in subjects_by_partner(world, datatype, endpoint).items():
            assert subject == name
    # steady: a further sync writes nothing
    rep = world.sync()
    assert rep.success, rep.error
    assert rep.writes == 0
    # an edit on the Crmoffice side comes back to the PowerOffice record
    record = project_activities[0]
    (partner,) = world.partners(
        f"powerofficego.projectactivities:{record['Id']}", "crmoffice.activities"
    )
    world.crm_patch(f"/activities/{partner.split(':', 1)[1]}", subject="Årsoppgjør – analyse")
    world.settle()
    with world.emu.powerofficego.client() as c:
        stored = c.get(f"/ProjectActivities/{record['Id']}").json()
    assert stored["Name"] == "Årsoppgjør – analyse"
    assert stored["ProjectId"] == record["ProjectId"]
    assert_one_partner_per_source_record(world, world.flows)


def test_date_of_birth_of_contact_persons_is_noted_and_never_sent(world: World):
    world.flows = active_flows([SPECS_DIR, DOCUMENT])
    world.settle()
    notes = world.table("plan", "notes")
    for flow in (
        "powerofficego_customer__powerofficego_contactperson",
        "powerofficego_contactperson__powerofficego_customer",
    ):
        texts = notes.filter(pl.col("flow") == flow)["note"].to_list()
        assert any("DateOfBirth" in n and "not in the API" in n for n in texts), texts
    writes = [r for r in world.requests("POST") + world.requests("PATCH")]
    assert any("/ContactPersons/" in r["path"] for r in writes)  # contact persons were written
    rejects = world.table("plan", "rejects")["reason"].to_list()
    assert not any("DateOfBirth" in r for r in rejects)
    with world.emu.powerofficego.client() as c:
        persons = c.get("/ContactPersons").json()
    assert persons and all("DateOfBirth" not in p for p in persons)
