"""One test per sync rule (SEMANTICS.md), on small hand-built frames."""

from __future__ import annotations

import json

import polars as pl
import pytest

from talk_assets.engine import (
    SyncState,
    apply,
    check_circuit_breaker,
    make_plan,
    mark_gone,
    merge_incremental,
)
from talk_assets.flows.model import DatatypeRef, Flow, PropertyMapping, RuleKind
from talk_assets.flows.spec import committed_flows
from talk_assets.systems import datatype
from talk_assets_tests.engine.sim import execute, frame, run

FLOWS = {f.name: f for f in committed_flows()}
CUST = "powerofficego.customers"
CP = "powerofficego.contactpersons"
CONTACTS = "crmoffice.contacts"
T0, T1, T2 = "2024-01-01T00:00:00+00:00", "2024-02-01T00:00:00+00:00", "2024-03-01T00:00:00+00:00"


def flows(*names: str) -> list[Flow]:
    return [FLOWS[n] for n in names]


def person(i: int, first: str | None = "Ola", last: str | None = "Nordmann", **kw) -> dict:
    return dict(
        Id=i, IsPerson=True, FirstName=first, LastName=last, LastChangedDateTimeOffset=T0, **kw
    )


def settle(records, fl, state, runs: int = 5):
    """Run until a plan has no writes; returns (records, state, plans)."""
    plans = []
    for _ in range(runs):
        records, state, plan = run(records, fl, state)
        plans.append(plan)
        if plan.is_empty:
            break
    return records, state, plans


def test_s1_clusters_are_transitive_and_insert_links_hold():
    links = pl.DataFrame(
        {
            "source": [f"{CUST}:1", f"{CUST}:1"],
            "target": [f"{CONTACTS}:k1", f"{CP}:7"],
            "origin": ["insert", "insert"],
            "flow": ["a", "b"],
        }
    )
    state = SyncState.from_frames({"links": links})
    records = {
        CUST: frame(CUST, [person(1), person(2)]),
        CONTACTS: frame(CONTACTS, [dict(id="k1", givenName="Ola", familyName="Nordmann")]),
        CP: frame(CP, [dict(Id=7, ContactId=1, FirstName="Ola", LastName="Nordmann")]),
    }
    plan = make_plan(
        records,
        flows("powerofficego_contactperson__crmoffice_contacts"),
        state,
        datatypes=[datatype(CUST)],  # the customers take part in clusters only
    )
    cl = dict(plan.clusters.select("record", "cluster").iter_rows())
    # {C, K, P} is one cluster named by its smallest key; the contact person finds K there.
    assert cl[f"{CONTACTS}:k1"] == cl[f"{CP}:7"] == cl[f"{CUST}:1"] == f"{CONTACTS}:k1"
    assert plan.clusters["record"].is_unique().all()
    assert plan.inserts.is_empty()
    assert plan.mapped["target"].unique().to_list() == [f"{CONTACTS}:k1"]


def test_s1_self_flow_contactperson_customer_no_loop_no_duplicates():
    fl = committed_flows()  # all nine flows, the self-flow included
    records = {
        CUST: frame(
            CUST,
            [person(1, PhoneNumber="123"), dict(Id=2, IsPerson=False, Name="Acme AS")],
        ),
        CP: frame(CP, [dict(Id=5, ContactId=2, FirstName="Kari", LastName="Hansen")]),
        CONTACTS: frame(CONTACTS, []),
    }
    state = SyncState.empty()
    records, state, plans = settle(records, fl, state, runs=6)
    assert plans[-1].is_empty and len(plans) <= 4
    for _ in range(3):  # steady: more runs change nothing
        records, state, plan = run(records, fl, state)
        assert plan.is_empty and plan.inserts.is_empty()
    # Customer 1 got one contact person, contact person 5 one customer, no more.
    assert records[CP].height == 2 and records[CUST].height == 3
    assert records[CONTACTS].height == 2  # one per person cluster: Ola and Kari
    cl = plans[-1].clusters
    per_cluster = cl.filter(pl.col("datatype") == CONTACTS).group_by("cluster").len()
    assert per_cluster["len"].max() == 1


def test_s2_merge_criteria_link_without_inserting():
    sup = "powerofficego.suppliers"
    addr = "powerofficego.addresses"
    records = {
        sup: frame(
            sup,
            [
                {"Id": 1, "MailAddress.Id": 10},
                {"Id": 2, "MailAddress.Id": 11},
                {"Id": 3, "MailAddress.Id": None},
                {"Id": 4, "MailAddress.Id": 10},  # shares the value with supplier 1
            ],
        ),
        addr: frame(addr, [{"Id": 10, "OwnerId": 1}, {"Id": 12}, {"Id": 13}]),
    }
    fl = flows("powerofficego_supplier__powerofficego_address")
    plan = make_plan(records, fl, SyncState.empty())
    assert plan.inserts.is_empty() and plan.writes.is_empty()
    merges = set(plan.merges.select("source", "target").iter_rows())
    assert merges == {(f"{sup}:1", f"{addr}:10"), (f"{sup}:4", f"{addr}:10")}
    cl = dict(plan.clusters.select("record", "cluster").iter_rows())
    assert cl[f"{sup}:1"] == cl[f"{sup}:4"] == cl[f"{addr}:10"]
    assert cl[f"{sup}:3"] == f"{sup}:3"  # empty never matches
    assert cl[f"{addr}:12"] != cl[f"{addr}:13"]
    assert any("merge only" in n for n in plan.notes["note"])
    state = apply(SyncState.empty(), plan, execute(records, plan)[1])
    assert state.links.filter(pl.col("origin") == "merge").height == 2
    assert make_plan(records, fl, state).is_empty


def test_s3_five_flows_give_one_contact_per_person_cluster():
    emp, sup = "powerofficego.employees", "powerofficego.suppliers"
    records = {
        CUST: frame(
            CUST,
            [
                person(1, first=None, last="Nordmann", PhoneNumber="111"),
                dict(Id=2, IsPerson=False, Name="Acme AS", FirstName="Not", LastName="Person"),
            ],
        ),
        CP: frame(CP, [dict(Id=5, ContactId=1, FirstName="Ola", LastName="Other")]),
        emp: frame(emp, [dict(Id=8, FirstName="Eva", LastName="Ansatt", PhoneNumber="999")]),
        sup: frame(sup, [dict(Id=9, IsPerson=True, FirstName="Sven", LastName="Lev")]),
        "powerofficego.products": frame("powerofficego.products", [dict(Id=3, Name="Widget")]),
        CONTACTS: frame(CONTACTS, []),
    }
    # Customer 1 and contact person 5 are one cluster (an earlier self-flow insert).
    links = pl.DataFrame(
        {"source": [f"{CUST}:1"], "target": [f"{CP}:5"], "origin": ["insert"], "flow": ["x"]}
    )
    state = SyncState.from_frames({"links": links})
    crm = [n for n in FLOWS if n.endswith("crmoffice_contacts")] + [
        "powerofficego_product__crmoffice_companies"
    ]
    assert len(crm) == 5  # four flows into Contacts (the documents have four) + Product
    plan = make_plan(records, flows(*crm), state)
    ins = plan.inserts.filter(pl.col("datatype") == CONTACTS)
    assert ins.height == 3  # {C1, P5}, employee 8, supplier 9; not the company customer 2
    values = {r["source"]: json.loads(r["values"]) for r in ins.iter_rows(named=True)}
    # Document order, first non-empty wins: C1 has no first name, P5 gives it.
    assert values[f"{CUST}:1"] == {
        "givenName": "Ola",
        "familyName": "Nordmann",
        "directPhone": "111",
    }
    assert values["powerofficego.employees:8"]["mobilePhone"] == "999"
    assert set(plan.insert_sources.filter(pl.col("source").str.starts_with(CP))["source"]) == {
        f"{CP}:5"
    }
    # Product -> Companies has no mappings: linked only, never an empty record.
    assert plan.inserts.filter(pl.col("datatype") == "crmoffice.companies").is_empty()
    assert any("nothing to write" in n for n in plan.notes["note"])
    # Direction: nothing is planned into Powerofficego by these flows.
    assert set(plan.writes["system"]) == {"crmoffice"}
    records, state, _ = settle(records, flows(*crm), state)
    assert records[CONTACTS].height == 3


def test_s3_required_fields_parent_and_conditions():
    records = {
        CUST: frame(CUST, [person(1, last=None), person(2), dict(Id=3, IsPerson=False)]),
        CP: frame(CP, []),
    }
    fl = flows("powerofficego_customer__powerofficego_contactperson")
    plan = make_plan(records, fl, SyncState.empty())
    assert plan.inserts["source"].to_list() == [f"{CUST}:2"]
    assert plan.inserts["parent_id"].to_list() == ["2"]  # created under its customer
    rej = plan.rejects.filter(pl.col("record") == f"{CUST}:1")
    assert rej["reason"].to_list() == ["required field LastName missing"]
    assert plan.skipped["record"].to_list() == [f"{CUST}:3"]  # nothing to write

    # A child datatype can only be created under a parent datatype.
    emp = "powerofficego.employees"
    child = Flow(
        DatatypeRef("Powerofficego", "Employees"),
        DatatypeRef("Powerofficego", "Contactperson"),
        RuleKind.INSERT,
        properties=(
            PropertyMapping("FirstName", "FirstName"),
            PropertyMapping("LastName", "LastName"),
        ),
    )
    recs = {emp: frame(emp, [dict(Id=1, FirstName="A", LastName="B")]), CP: frame(CP, [])}
    plan = make_plan(recs, [child], SyncState.empty())
    assert plan.inserts.is_empty() and "created under" in plan.rejects["reason"][0]

    # conditional_insert: a parseable condition filters, an unparseable one is merge only.
    def cond(text: str) -> Flow:
        f = FLOWS["powerofficego_customers_person__crmoffice_contacts"]
        return Flow(
            DatatypeRef("Powerofficego", "Customers"),
            f.target,
            RuleKind.CONDITIONAL_INSERT,
            properties=f.properties,
            condition=text,
        )

    recs = {CUST: frame(CUST, [person(1), dict(Id=2, IsPerson=False, FirstName="Co")])}
    assert make_plan(recs, [cond("IsPerson is true")], SyncState.empty()).inserts.height == 1
    plan = make_plan(recs, [cond("only when the moon is full")], SyncState.empty())
    assert plan.inserts.is_empty() and any("not understood" in n for n in plan.notes["note"])


def _pair(cust: dict, contact: dict, synced: dict | None):
    flow = FLOWS["powerofficego_customers_person__crmoffice_contacts"]
    links = pl.DataFrame(
        {
            "source": [f"{CUST}:1"],
            "target": [f"{CONTACTS}:k"],
            "origin": ["insert"],
            "flow": [flow.name],
        }
    )
    rows = [
        {
            "flow": flow.name,
            "source": f"{CUST}:1",
            "target": f"{CONTACTS}:k",
            "property": p,
            "value": v,
        }
        for p, v in (synced or {}).items()
    ]
    synced_df = pl.DataFrame(
        rows, schema={c: pl.String for c in ("flow", "source", "target", "property", "value")}
    )
    state = SyncState.from_frames({"links": links, "synced": synced_df})
    records = {
        CUST: frame(CUST, [dict(Id=1, IsPerson=True, **cust)]),
        CONTACTS: frame(CONTACTS, [dict(id="k", **contact)]),
    }
    return records, [flow], state


def _updates(plan) -> set[tuple]:
    return set(plan.updates.select("direction", "property", "new_value").iter_rows())


def test_s4_three_way_property_by_property():
    base = {"givenName": "Ola", "familyName": "Nordmann", "directPhone": "1"}
    cust = dict(FirstName="Ole", LastName="Nordmann", PhoneNumber="3", LastChangedDateTimeOffset=T1)
    contact = dict(givenName="Ola", familyName="Norman", directPhone="2", updatedAt=T2)
    plan = make_plan(*_pair(cust, contact, base))
    # Each side changed a different property: each goes to the other side; the phone changed
    # on both sides: the most recent record (the contact) wins, as a conflict.
    assert _updates(plan) == {
        ("to_target", "givenName", "Ole"),
        ("to_source", "LastName", "Norman"),
        ("to_source", "PhoneNumber", "2"),
    }
    assert plan.conflicts["winner"].to_list() == ["target"]
    assert plan.writes.height == 2  # one write per record
    # Tie on timestamps -> the document's source side.
    contact["updatedAt"] = T1
    plan = make_plan(*_pair(cust, contact, base))
    assert ("to_target", "directPhone", "3") in _updates(plan)
    # Emptied: never overwrites, the old value is written back.
    plan = make_plan(*_pair({**cust, "FirstName": " "}, {**contact, "givenName": "Ola"}, base))
    assert ("to_source", "FirstName", "Ola") in _updates(plan)
    # First link: source wins where values differ; equal values only become the synced value.
    plan = make_plan(*_pair(cust, {**contact, "familyName": "Nordmann"}, None))
    assert _updates(plan) == {("to_target", "givenName", "Ole"), ("to_target", "directPhone", "3")}
    assert plan.baselines.filter(pl.col("write_id").is_null())["property"].to_list() == [
        "familyName"
    ]


def test_s5_echo_suppression_and_failed_writes():
    base = {"givenName": "Ola", "familyName": "Nordmann", "directPhone": "1"}
    cust = dict(FirstName="Ole", LastName="Nordmann", PhoneNumber="1", LastChangedDateTimeOffset=T1)
    contact = dict(givenName="Ola", familyName="Nordmann", directPhone="1", updatedAt=T0)
    records, fl, state = _pair(cust, contact, base)
    plan = make_plan(records, fl, state)
    # A failed write changes no state: it is planned again.
    _, res = execute(records, plan, fail={plan.writes["write_id"][0]})
    assert make_plan(records, fl, apply(state, plan, res)).writes.height == 1
    # Confirmed: the written value read back is not an edit; no write requests at all.
    new, res = execute(records, plan)
    state = apply(state, plan, res)
    assert make_plan(new, fl, state).is_empty


def test_s6_coercion_to_target_types():
    flow = Flow(
        DatatypeRef("Powerofficego", "Customers"),
        DatatypeRef("Crmoffice", "Contacts"),
        RuleKind.INSERT,
        properties=(
            PropertyMapping("Number", "directPhone", "integer"),
            PropertyMapping("PhoneNumber", "mobilePhone", "integer"),
            PropertyMapping("FirstName", "givenName", "string"),
        ),
    )
    records = {
        CUST: frame(CUST, [dict(Id=1, Number=17, PhoneNumber="abc", FirstName="Ola")]),
        CONTACTS: frame(
            CONTACTS, [dict(id="k", directPhone="17", mobilePhone=None, givenName="X")]
        ),
    }
    links = pl.DataFrame(
        {
            "source": [f"{CUST}:1"],
            "target": [f"{CONTACTS}:k"],
            "origin": ["insert"],
            "flow": [flow.name],
        }
    )
    plan = make_plan(records, [flow], SyncState.from_frames({"links": links}))
    # 17 and "17" are equal after coercion; "abc" is rejected; the first name still syncs.
    assert _updates(plan) == {("to_target", "givenName", "Ola")}
    rej = plan.rejects.row(0, named=True)
    assert (rej["record"], rej["property"], rej["value"]) == (f"{CUST}:1", "PhoneNumber", "abc")
    assert "integer" in rej["reason"]


def test_s7_paths_names_and_read_only_fields():
    fl = flows("powerofficego_contactperson__powerofficego_customer")
    records = {
        CP: frame(
            CP,
            [
                {
                    "Id": 5,
                    "ContactId": 2,
                    "FirstName": "Kari",
                    "LastName": "Hansen",
                    "MailAddress.City": "Oslo",
                }
            ],
        ),
        CUST: frame(CUST, []),
    }
    plan = make_plan(records, fl, SyncState.empty())
    values = json.loads(plan.inserts["values"][0])
    # `city` resolved to the nested path; `id` and `lastChanged` never written.
    assert values == {"FirstName": "Kari", "LastName": "Hansen", "MailAddress.City": "Oslo"}
    records, state, _ = run(records, fl, SyncState.empty())
    plan = make_plan(records, fl, state)
    assert plan.is_empty
    ids = plan.mapped.filter(pl.col("property") == "Id")
    assert ids.height == 1 and not ids["writable"][0]  # compared (lineage) but never written


def test_s8_gone_records_are_not_recreated():
    fl = flows("powerofficego_customers_person__crmoffice_contacts")
    records = {CUST: frame(CUST, [person(1)]), CONTACTS: frame(CONTACTS, [])}
    records, state, _ = run(records, fl, SyncState.empty())
    snapshot = records[CONTACTS]
    full = snapshot.clear()  # the contact was deleted in Crmoffice
    state = mark_gone(state, CONTACTS, snapshot, full, "id", run="r2")
    records[CONTACTS] = full
    plan = make_plan(records, fl, state)
    assert plan.is_empty and plan.inserts.is_empty()
    gone = plan.clusters.filter(pl.col("gone"))
    assert gone["record"].to_list() == state.gone["record"].to_list()
    assert state.gone["run"].to_list() == ["r2"]
    # Even without the link, insert tracking remembers the insert.
    state = state.replace(links=state.links.clear())
    assert make_plan(records, fl, state).inserts.is_empty()


def test_s9_merge_incremental_upserts_by_id():
    snap = pl.DataFrame({"Id": [1, 2, 3], "Name": ["a", "b", "c"]})
    changed = pl.DataFrame({"Id": [2, 4, 4], "Name": ["B", "d", "D"]})
    out = merge_incremental(snap, changed, "Id").sort("Id")
    assert out.rows() == [(1, "a"), (2, "B"), (3, "c"), (4, "D")]
    assert merge_incremental(snap, changed.clear(), "Id").equals(snap)


def test_s12_dry_run_counts_and_circuit_breaker():
    fl = flows("powerofficego_customers_person__crmoffice_contacts")
    records = {CUST: frame(CUST, [person(i) for i in range(1, 6)]), CONTACTS: frame(CONTACTS, [])}
    state = SyncState.empty()
    plan = make_plan(records, fl, state)  # a dry run is a plan that is not applied
    assert plan.counts().rows() == [(CONTACTS, 5, 0, 5)]
    assert check_circuit_breaker(plan, 4) == [(CONTACTS, 5)]
    assert check_circuit_breaker(plan, 5) == []
    assert make_plan(records, fl, state).writes.equals(plan.writes)  # nothing changed


@pytest.mark.parametrize("name", list(FLOWS))
def test_every_committed_flow_plans_on_empty_data(name: str):
    assert make_plan({}, flows(name), SyncState.empty()).is_empty


def test_s6_date_time_is_compared_as_the_date_the_other_side_holds():
    """A project's StartDate (date) maps to an activity's startsAt (date or date-time string):
    a time of day the project cannot hold is no difference, and is never written over."""
    projects, activities = "powerofficego.projects", "crmoffice.activities"
    flow = next(f for f in FLOWS.values() if f.target.datatype.lower().startswith("activit"))
    t0 = "2024-01-01T00:00:00+00:00"
    records = {
        projects: frame(
            projects,
            [dict(Id=1, Name="Bygg", StartDate="2026-05-04", LastChangedDateTimeOffset=t0)],
        ),
        activities: frame(activities, []),
    }
    records, state, plan = run(records, [flow], SyncState.empty())
    assert plan.inserts.height == 1
    activity = records[activities]
    assert activity["startsAt"].to_list() == ["2026-05-04"]

    def user_sets_starts_at(value: str) -> None:
        records[activities] = records[activities].with_columns(
            startsAt=pl.lit(value), updatedAt=pl.lit("2024-09-01T00:00:00+00:00")
        )

    user_sets_starts_at("2026-05-04T10:00:00")
    records, state, plan = run(records, [flow], state)
    assert plan.writes.is_empty(), plan.updates
    assert records[activities]["startsAt"].to_list() == ["2026-05-04T10:00:00"]

    user_sets_starts_at("2026-05-06T09:30:00")
    records, state, plan = run(records, [flow], state)
    assert _updates(plan) == {("to_source", "StartDate", "2026-05-06")}
    assert records[projects]["StartDate"].to_list() == ["2026-05-06"]
    assert records[activities]["startsAt"].to_list() == ["2026-05-06T09:30:00"]
    assert make_plan(records, [flow], state).is_empty
