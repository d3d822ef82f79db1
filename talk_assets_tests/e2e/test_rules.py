"""One end-to-end scenario per rule of SEMANTICS.md: real emulators on loopback, a real DuckDB
file, real Dagster runs of the generated asset graph."""

from __future__ import annotations

import json

import polars as pl
import pytest

from talk_assets.flows.model import DatatypeRef, Flow, MergeCriterion, PropertyMapping, RuleKind
from talk_assets.flows.spec import committed_flows
from talk_assets.store.clusters import linked_ids
from talk_assets.systems import resolve_flow

from .conftest import World, scope_of

pytestmark = pytest.mark.e2e

PO, CRM = "Powerofficego", "Crmoffice"


def linked_pair(world: World, left: str, right: str) -> tuple[str, str]:
    """The first (left id, right id) whose records share a cluster."""
    pairs = linked_ids(world.store, left, right)
    assert pairs, f"no {left} linked to a {right}"
    return pairs[0]


def assert_one_partner_per_source_record(world: World, flows: list[Flow] | None = None) -> None:
    """S1/S3: after the sync, every source record of every inserting flow (default: the
    committed ones) has exactly one record of the target datatype in its cluster, except the
    ones the plan rejected."""
    rejected = set(world.table("plan", "rejects")["record"].to_list())
    cl = world.clusters()
    assert cl["record"].is_unique().all(), "a record is in two clusters"
    for flow in (resolve_flow(f) for f in (committed_flows() if flows is None else flows)):
        if not flow.flow.rule.inserts or not any(t.writable for _, t, _ in flow.properties):
            continue
        sources = cl.filter((pl.col("datatype") == flow.source.key) & ~pl.col("gone"))
        if flow.source_filter:
            path, value = flow.source_filter
            snap = world.table(flow.source.system, flow.source.name)
            ids = snap.filter(pl.col(path) == value)[flow.source.id_field].cast(pl.String)
            sources = sources.filter(
                pl.col("record").is_in((flow.source.key + ":" + ids).implode())
            )
        targets = cl.filter(pl.col("datatype") == flow.target.key).group_by("cluster").len()
        counted = sources.join(targets, on="cluster", how="left").with_columns(
            pl.col("len").fill_null(0)
        )
        for record, n in counted.select("record", "len").iter_rows():
            expected = 0 if record in rejected else 1
            assert n == expected, f"{flow.flow.title}: {record} has {n} partners"


def test_s1_every_source_record_gets_exactly_one_partner_across_all_nine_flows(world: World):
    world.settle()
    assert_one_partner_per_source_record(world)
    # One contact per person cluster even where four flows could each insert one.
    contacts = world.clusters().filter(pl.col("datatype") == "crmoffice.contacts")
    assert contacts.group_by("cluster").len()["len"].max() == 1
    # The self-flow closes without a loop: customers and contact persons stop growing.
    customers, persons = len(world.po("/Customers")), len(world.po("/ContactPersons"))
    world.settle()
    assert (len(world.po("/Customers")), len(world.po("/ContactPersons"))) == (customers, persons)


def test_s2_merge_criteria_link_without_inserting(world: World):
    existing = world.crm("/contacts")[0]
    employee = world.po("/Employees")[0]
    world.crm_patch(f"/contacts/{existing['id']}", email=employee["EmailAddress"])
    world.flows = [
        Flow(
            DatatypeRef(PO, "Employees"),
            DatatypeRef(CRM, "Contacts"),
            RuleKind.MERGE_ONLY,
            merge_criteria=(MergeCriterion("EmailAddress", "email"),),
            properties=(PropertyMapping("FirstName", "givenName"),),
        ),
        *committed_flows()[6:7],  # Supplier -> Address, merge only on MailAddress.Id
    ]
    contacts_before = len(world.crm("/contacts"))
    rep = world.sync()
    assert rep.success, rep.error
    assert world.partners(f"powerofficego.employees:{employee['Id']}", "crmoffice.contacts") == [
        f"crmoffice.contacts:{existing['id']}"
    ]
    assert len(world.crm("/contacts")) == contacts_before, "a merge-only flow inserted"
    assert not world.requests("POST") or all(
        "token" in r["path"].lower() for r in world.requests("POST")
    )
    # First link: the document's source side wins the differing name.
    world.settle()
    with world.emu.crmoffice.client() as c:
        assert c.get(f"/contacts/{existing['id']}").json()["givenName"] == employee["FirstName"]
    # Supplier -> Address: every supplier with a mail address is linked to that address.
    suppliers = [s for s in world.po("/Suppliers") if s["MailAddress"] and s["MailAddress"]["Id"]]
    assert suppliers
    for s in suppliers:
        assert world.partners(f"powerofficego.suppliers:{s['Id']}", "powerofficego.addresses") == [
            f"powerofficego.addresses:{s['MailAddress']['Id']}"
        ]
    merges = world.state("links").filter(pl.col("origin") == "merge")
    assert merges.height >= len(suppliers) + 1


def test_s3_inserts_follow_the_documents_direction_filters_and_required_fields(world: World):
    crm_before = {c["id"] for c in world.crm("/contacts")}
    companies_before = len(world.crm("/companies"))
    world.settle()
    inserted = world.state("inserted")
    flows = {f.name: resolve_flow(f) for f in committed_flows()}
    for name, target in inserted.select("flow", "target").iter_rows():
        assert target.startswith(flows[name].target.key + ":"), (name, target)
    # Contacts that existed in Crmoffice before are never copied into PowerOffice.
    for cid in crm_before:
        record = f"crmoffice.contacts:{cid}"
        for dt in ("powerofficego.customers", "powerofficego.employees", "powerofficego.suppliers"):
            assert world.partners(record, dt) == []
    # "Customers person": organisations never become contacts.
    for c in world.po("/Customers"):
        if not c["IsPerson"] and c["ExternalImportReference"] is None:
            assert world.partners(f"powerofficego.customers:{c['Id']}", "crmoffice.contacts") == []
    # Product -> Companies maps no property: nothing is inserted, the plan says why.
    assert len(world.crm("/companies")) == companies_before
    notes = world.table("plan", "notes").filter(pl.col("flow").str.contains("product"))
    assert any("nothing to write" in n for n in notes["note"].to_list())
    # A contact person needs FirstName and LastName: decided before any request is sent.
    rejects = world.table("plan", "rejects").filter(
        pl.col("flow") == "powerofficego_customer__powerofficego_contactperson"
    )
    for record, reason in rejects.select("record", "reason").iter_rows():
        assert "FirstName" in reason or "LastName" in reason
        parent = record.split(":", 1)[1]
        assert not [
            r for r in world.requests("POST") if r["path"] == f"/v2/ContactPersons/{parent}"
        ]


def test_s4_an_edit_on_either_side_arrives_on_the_other(world: World):
    world.settle()
    emp, contact = linked_pair(world, "powerofficego.employees", "crmoffice.contacts")
    world.crm_patch(f"/contacts/{contact}", familyName="Nordmann-Crm")
    world.po_patch(f"/Employees/{emp}", PhoneNumber="+47 400 00 001")
    rep = world.sync()
    assert rep.success, rep.error
    with world.emu.powerofficego.client() as po, world.emu.crmoffice.client() as crm:
        assert po.get(f"/Employees/{emp}").json()["LastName"] == "Nordmann-Crm"
        assert crm.get(f"/contacts/{contact}").json()["mobilePhone"] == "+47 400 00 001"
    assert world.sync().writes == 0  # the written values are not edits (S5)


def test_s4_conflicts_resolve_by_recency_both_ways(world: World):
    world.settle()
    emp, contact = linked_pair(world, "powerofficego.employees", "crmoffice.contacts")
    world.po_patch(f"/Employees/{emp}", FirstName="Older-PO")
    world.crm_patch(f"/contacts/{contact}", givenName="Newer-Crm")
    assert world.sync().success
    conflicts = world.table("plan", "conflicts")
    assert conflicts.filter(pl.col("winner") == "target").height == 1
    world.crm_patch(f"/contacts/{contact}", givenName="Older-Crm")
    world.po_patch(f"/Employees/{emp}", FirstName="Newer-PO")
    assert world.sync().success
    with world.emu.powerofficego.client() as po, world.emu.crmoffice.client() as crm:
        assert po.get(f"/Employees/{emp}").json()["FirstName"] == "Newer-PO"
        assert crm.get(f"/contacts/{contact}").json()["givenName"] == "Newer-PO"


def test_s4_empty_never_overwrites_a_value(world: World):
    world.settle()
    emp, contact = linked_pair(world, "powerofficego.employees", "crmoffice.contacts")
    last_name = world.po(f"/Employees/{emp}")["LastName"]
    world.crm_patch(f"/contacts/{contact}", familyName=None)
    assert world.sync().success
    with world.emu.powerofficego.client() as po, world.emu.crmoffice.client() as crm:
        assert po.get(f"/Employees/{emp}").json()["LastName"] == last_name
        assert crm.get(f"/contacts/{contact}").json()["familyName"] == last_name


def test_s5_a_steady_state_makes_no_write_requests(world: World):
    world.settle()
    before = world.write_requests()
    rep = world.sync()
    assert rep.success and rep.writes == 0
    assert world.write_requests() == before


def test_s6_uncoercible_value_is_rejected_and_the_rest_of_the_record_syncs(world: World):
    world.settle()
    project, activity = linked_pair(world, "powerofficego.projects", "crmoffice.activities")
    manager_before = world.po(f"/Projects/{project}")["ProjectManagerEmployeeId"]
    world.crm_patch(f"/activities/{activity}", ownerId="not-a-number", subject="Renamed in Crm")
    rep = world.sync()
    assert rep.success, rep.error
    stored = world.po(f"/Projects/{project}")
    assert stored["Name"] == "Renamed in Crm"
    assert stored["ProjectManagerEmployeeId"] == manager_before
    rejects = world.table("plan", "rejects").filter(pl.col("value") == "not-a-number")
    assert rejects.height == 1
    row = rejects.row(0, named=True)
    assert row["record"] == f"powerofficego.projects:{project}"
    assert row["property"] == "ProjectManagerEmployeeId" and "integer" in row["reason"]
    log = world.state("sync_log").filter(pl.col("operation") == "reject")
    assert log.filter(pl.col("properties").str.contains("not-a-number")).height == 1


def test_s6_integer_and_string_values_that_are_equal_after_coercion_cause_no_update(world: World):
    world.settle()
    activities = [a for a in world.crm("/activities") if a.get("ownerId")]
    assert activities, "no activity with an owner to compare"
    project, activity = linked_pair(world, "powerofficego.projects", "crmoffice.activities")
    world.po_patch(f"/Projects/{project}", ProjectManagerEmployeeId=3000001)
    assert world.sync().success
    with world.emu.crmoffice.client() as crm:
        assert crm.get(f"/activities/{activity}").json()["ownerId"] == "3000001"
    assert world.sync().writes == 0  # "3000001" == 3000001 after coercion


def test_s7_nested_paths_case_insensitive_names_and_read_only_fields(world: World):
    world.settle()
    person, customer = linked_pair(world, "powerofficego.contactpersons", "powerofficego.customers")
    cp = next(p for p in world.po("/ContactPersons") if str(p["Id"]) == person)
    world.po_patch(f"/ContactPersons/{cp['ContactId']}/{person}", **{"MailAddress.City": "Tromsø"})
    assert world.sync().success
    assert world.po(f"/Customers/{customer}")["MailAddress"]["City"] == "Tromsø"
    written = world.state("sync_log")["properties"].drop_nulls().to_list()
    for props in written:
        parsed = json.loads(props)
        names = {p["property"] for p in parsed} if isinstance(parsed, list) else set(parsed)
        assert not names & {"Id", "id", "LastChangedDateTimeOffset", "updatedAt"}, props


def test_s8_nothing_is_deleted_and_a_gone_record_is_not_recreated(world: World):
    world.settle()
    emp, contact = linked_pair(world, "powerofficego.employees", "crmoffice.contacts")
    employee_before = world.po(f"/Employees/{emp}")
    with world.emu.crmoffice.client() as crm:
        assert crm.delete(f"/contacts/{contact}").status_code in (200, 204)
    contacts = len(world.crm("/contacts"))
    rep = world.sync(full_read=True)
    assert rep.success, rep.error
    assert f"crmoffice.contacts:{contact}" in world.state("gone")["record"].to_list()
    world.sync()
    assert len(world.crm("/contacts")) == contacts, "the gone contact was created again"
    assert world.po(f"/Employees/{emp}") == employee_before, "the partner was touched"
    assert sum(r["count"] for r in world.requests("DELETE")) == 1  # only ours


def test_s9_runs_read_only_what_changed_and_a_full_read_reads_everything(world: World):
    world.settle()
    emp, _ = linked_pair(world, "powerofficego.employees", "crmoffice.contacts")
    world.po_patch(f"/Employees/{emp}", JobTitle="Daglig leder")
    rep = world.sync()
    assert rep.success
    assert rep.read["powerofficego/employees"] == 1
    assert rep.read["powerofficego/customers"] == 0 and rep.read["crmoffice/contacts"] == 0
    rep = world.sync(full_read=True)
    assert rep.read["powerofficego/employees"] == len(world.po("/Employees"))


def test_s10_faults_lose_nothing_and_double_nothing(world: World):
    world.emu.set_faults(0.25, ["429", "500", "503", "drop", "drop_after"])
    for _ in range(8):  # runs may fail while the systems misbehave; none may double a record
        world.sync()
    world.emu.set_faults(0.0)
    world.settle(max_runs=6)
    assert_one_partner_per_source_record(world)
    refs = [
        c["ExternalImportReference"] for c in world.po("/Customers") if c["ExternalImportReference"]
    ]
    assert len(refs) == len(set(refs)), "an insert landed twice"


def test_s10_an_unreachable_system_fails_the_run_with_a_clear_error(world: World, monkeypatch):
    monkeypatch.setenv("CRMOFFICE_BASE_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("CRMOFFICE_TOKEN_URL", "http://127.0.0.1:9/connect/token")
    rep = world.sync()
    assert not rep.success
    assert "crmoffice" in rep.error.lower()


def test_s11_every_write_is_in_the_sync_log(world: World):
    rep = world.sync()
    assert rep.success, rep.error
    log = world.state("sync_log").filter(pl.col("run_id") == rep.run_id)
    written = log.filter(pl.col("operation").is_in(["insert", "update"]))
    assert written.height == world.write_requests() > 0
    assert written["write_id"].is_unique().all()
    assert set(written["system"].unique()) == {"powerofficego", "crmoffice"}
    assert written.filter(pl.col("operation") == "insert")["record_id"].null_count() == 0
    assert written["http_status"].is_in([200, 201]).all()


def test_s12_dry_run_publishes_the_plan_and_writes_nothing(world: World):
    rep = world.sync(dry_run=True)
    assert rep.success, rep.error
    assert world.write_requests() == 0
    assert rep.flows["inserted"].sum() > 0  # planned
    links = world.store.read_table("state", "links")
    assert links is None or links.filter(pl.col("origin") == "insert").is_empty()


def test_s12_circuit_breaker_stops_mass_writes_unless_overridden(world: World):
    rep = world.sync(mass_write_limit=3)
    assert not rep.success
    assert "circuit breaker" in rep.error
    assert world.write_requests() == 0
    rep = world.sync(mass_write_limit=3, allow_mass_write=True)
    assert rep.success and world.write_requests() > 3


def test_s10_a_crash_after_the_system_stored_inserts_doubles_nothing(world: World, monkeypatch):
    import talk_assets.defs.sink_writes as sinks

    real_commit, crashed = sinks._commit, []

    def crash_before_recording(store, plan, results, log, run_id, settled=(), **keywords):
        if not crashed and log is not None and log.height:
            inserts = log.filter(
                (pl.col("datatype") == "powerofficego.customers")
                & (pl.col("operation") == "insert")
            )
            if inserts.height:
                crashed.append(inserts.height)
                raise RuntimeError("simulated crash: stored by the system, not yet recorded")
        return real_commit(store, plan, results, log, run_id, settled, **keywords)

    monkeypatch.setattr(sinks, "_commit", crash_before_recording)
    assert not world.sync().success
    assert crashed and world.state("pending_inserts").height >= crashed[0]
    monkeypatch.setattr(sinks, "_commit", real_commit)

    world.settle()
    refs = [c["ExternalImportReference"] for c in world.po("/Customers")]
    refs = [r for r in refs if r]
    assert len(refs) >= crashed[0]
    assert len(refs) == len(set(refs)), "a customer inserted before the crash was inserted again"
    assert_one_partner_per_source_record(world)
    assert world.state("pending_inserts").is_empty()


def test_s11_an_unchanged_reject_is_logged_once_not_every_run(world: World):
    world.settle()
    rejects = world.state("sync_log").filter(pl.col("operation") == "reject")
    assert rejects.height > 0  # organisation customers cannot become contact persons
    assert world.sync().success
    again = world.state("sync_log").filter(pl.col("operation") == "reject")
    assert again.height == rejects.height
    assert world.table("plan", "rejects").height > 0  # still reported by every plan

    # An incremental plan carries the decisions of clusters it did not plan: still reported,
    # not logged again. A new organisation customer is decided (skipped as a person): logged.
    decided = pl.col("operation").is_in(["reject", "skip"])
    before = world.state("sync_log").filter(decided)
    emp, _ = linked_pair(world, "powerofficego.employees", "crmoffice.contacts")
    world.po_patch(f"/Employees/{emp}", LastName="Uendret-Avvisning")
    with world.emu.powerofficego.client() as client:
        new = client.post(
            "/Customers", json={"IsPerson": False, "Name": "Ny Organisasjon AS"}
        ).raise_for_status()
    rep = world.sync()
    assert rep.success and rep.writes >= 1
    assert scope_of(world) != "full"
    logged = world.state("sync_log").filter(decided)
    fresh = logged.filter(pl.col("run_id") == rep.run_id)
    assert fresh["source_record"].to_list() == [f"powerofficego.customers:{new.json()['Id']}"]
    assert logged.height == before.height + 1
    carried = world.table("plan", "rejects")["record"].unique()
    assert set(rejects["source_record"].to_list()) <= set(carried.to_list())
