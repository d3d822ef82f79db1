"""The project's own Talk documents in the other direction (Crmoffice -> PowerOfficeGo,
Crmoffice -> Crmoffice): they import, resolve and run with the committed specs; qualifiers on
datatypes without `IsPerson`, `N/A` data types, and a spec filter on top of a qualifier."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from talk_assets.engine import SyncState, make_plan
from talk_assets.engine.flows import prepare
from talk_assets.flows.catalog import ACTIVE, ERROR, FlowsError, active_flows, catalog
from talk_assets.flows.document import import_file
from talk_assets.flows.model import NO_DATA_TYPE, DatatypeRef, Flow, PropertyMapping, RuleKind
from talk_assets.flows.spec import SPECS_DIR, committed_flows
from talk_assets.lineage import edges_of
from talk_assets.systems import resolve_flow
from talk_assets_tests.engine.sim import frame

DOCUMENTS = Path(__file__).parent / "documents"
TO_PO = DOCUMENTS / "crmoffice_to_powerofficego.rst"
TO_CRM = DOCUMENTS / "crmoffice_to_crmoffice.rst"
CUST = "powerofficego.customers"


def test_both_documents_run_with_the_committed_specs():
    entries = catalog([SPECS_DIR, TO_PO, TO_CRM])
    assert {e.status for e in entries} == {ACTIVE}
    flows = active_flows([SPECS_DIR, TO_PO, TO_CRM])
    assert flows[: len(committed_flows())] == committed_flows()
    companies, contacts = import_file(TO_PO).flows
    (merge,) = import_file(TO_CRM).flows
    assert (companies.rule, contacts.rule, merge.rule) == (
        RuleKind.MERGE_ELSE_INSERT,
        RuleKind.INSERT,
        RuleKind.MERGE_ONLY,
    )
    # The companies' customers are organisations: inserts carry IsPerson false.
    assert resolve_flow(companies).target_filter == ("IsPerson", False)


def test_human_data_on_a_datatype_of_people_only_is_every_record():
    contacts = import_file(TO_PO).flows[1]
    assert contacts.source.filter == "(human data)"
    assert resolve_flow(contacts).source_filter is None  # crmoffice.contacts has no IsPerson
    assert prepare([contacts])[0].inserts


def test_a_qualifier_a_datatype_cannot_meet_is_an_error_naming_document_flow_and_qualifier(
    tmp_path,
):
    text = TO_PO.read_text(encoding="utf-8").replace(
        "Contacts (human data)", "Contacts (organisation data)"
    )
    doc = tmp_path / "wrong.rst"
    doc.write_text(text, encoding="utf-8")
    entries = catalog([doc])
    assert [e.status for e in entries] == [ACTIVE, ERROR]
    (problem,) = entries[1].problems
    assert "crmoffice.contacts has no filter '(organisation data)'" in problem
    assert "human data (all records)" in problem
    with pytest.raises(FlowsError) as caught:
        active_flows([doc])
    assert "Crmoffice to PowerOfficeGo Dataflow" in str(caught.value)
    assert "Crmoffice Contacts (organisation data) to PowerOfficeGo Contactperson" in str(
        caught.value
    )


def test_a_mapping_without_data_type_is_kept_and_synced_as_string():
    contacts = import_file(TO_PO).flows[1]
    phone = contacts.properties[0]
    assert (phone.source, phone.type) == ("directPhone", NO_DATA_TYPE)  # kept for lineage
    (ctx,) = prepare([contacts])
    assert [typ for i, s, t, typ in ctx.properties if s.path == "directPhone"] == ["string"]
    assert any("directPhone -> phoneNumber: data type N/A" in n for n in ctx.notes)
    (edge,) = [e for e in edges_of(resolve_flow(contacts)) if e.source.endswith("directPhone")]
    assert edge.target_type == "N/A, as string"  # lineage shows what the document says
    # A number typed into the phone field syncs as its text.
    flow = Flow(
        DatatypeRef("Powerofficego", "Customers"),
        DatatypeRef("Crmoffice", "Contacts"),
        RuleKind.INSERT,
        properties=(PropertyMapping("Number", "directPhone", NO_DATA_TYPE),),
    )
    recs = {
        CUST: frame(CUST, [dict(Id=1, Number=4711, LastChangedDateTimeOffset="2024-01-01Z")]),
        "crmoffice.contacts": frame("crmoffice.contacts", []),
    }
    plan = make_plan(recs, [flow], SyncState.empty())
    assert plan.inserts["values"].to_list() == ['{"directPhone":"4711"}']


def test_a_spec_filter_and_the_datatype_qualifier_both_apply():
    base = committed_flows()[0]  # Powerofficego Customers person -> Crmoffice Contacts
    flow = Flow(
        base.source,
        base.target,
        RuleKind.INSERT,
        properties=base.properties,
        filter="FirstName is Kari",
    )
    people = [
        dict(Id=1, IsPerson=True, FirstName="Kari", LastChangedDateTimeOffset="2024-01-01Z"),
        dict(Id=2, IsPerson=True, FirstName="Ola", LastChangedDateTimeOffset="2024-01-01Z"),
        dict(Id=3, IsPerson=False, FirstName="Kari", LastChangedDateTimeOffset="2024-01-01Z"),
    ]
    recs = {CUST: frame(CUST, people), "crmoffice.contacts": frame("crmoffice.contacts", [])}
    plan = make_plan(recs, [flow], SyncState.empty())
    assert plan.inserts["source"].to_list() == [f"{CUST}:1"]
    assert plan.inserts.filter(pl.col("source") == f"{CUST}:3").is_empty()
