"""Parents of new child records (engine/parents.py): a Crmoffice contact becomes a PowerOffice
contact person under the customer linked to its company, or a reject naming record, field and
reason that leaves the state as it was."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from talk_assets.engine import SyncState, make_plan
from talk_assets.flows.document import import_file
from talk_assets.systems import datatype, resolve_flow
from talk_assets_tests.engine.sim import frame, run

DOCUMENTS = Path(__file__).parents[1] / "flows" / "documents"
COMPANIES, CONTACTS = "crmoffice.companies", "crmoffice.contacts"
CUST, SUPP, CP = (
    "powerofficego.customers",
    "powerofficego.suppliers",
    "powerofficego.contactpersons",
)
T0 = "2024-01-01T00:00:00Z"


def crm_flows():
    return list(import_file(DOCUMENTS / "crmoffice_to_powerofficego.rst").flows)


def contact(i: int, company: str | None, first: str = "Kari") -> dict:
    return dict(
        id=f"ct{i}", givenName=first, familyName="Nordmann", companyId=company, updatedAt=T0
    )


def company(i: int, org: str | None = None) -> dict:
    return dict(id=f"co{i}", name=f"Firma {i}", orgNr=org, updatedAt=T0)


def records(contacts: list[dict], companies: list[dict], customers=(), suppliers=()) -> dict:
    out = {
        CONTACTS: frame(CONTACTS, contacts),
        COMPANIES: frame(COMPANIES, companies),
        CUST: frame(CUST, list(customers)),
        CP: frame(CP, []),
    }
    if suppliers:
        out[SUPP] = frame(SUPP, list(suppliers))
    return out


def org_customer(i: int, org: str) -> dict:
    return dict(
        Id=i, IsPerson=False, Name=f"AS {i}", OrganizationNumber=org, LastChangedDateTimeOffset=T0
    )


def test_the_parent_is_the_customer_linked_to_the_contacts_company():
    recs = records([contact(1, "co1")], [company(1, "911")], customers=[org_customer(7, "911")])
    plan = make_plan(recs, crm_flows(), SyncState.empty())
    persons = plan.inserts.filter(pl.col("datatype") == CP)
    assert persons["source"].to_list() == [f"{CONTACTS}:ct1"]
    assert persons["parent_id"].to_list() == ["7"]  # co1 merged with customer 7 by orgNr
    assert plan.rejects.filter(pl.col("record") == f"{CONTACTS}:ct1").is_empty()


def test_no_parent_is_a_reject_naming_record_field_and_reason_before_any_request():
    recs = records([contact(1, "co1"), contact(2, None), contact(3, "co9")], [company(1)])
    fl = [f for f in crm_flows() if f.target.datatype == "Contactperson"]  # no company flow
    # The flow reads the companies its contacts reference, though no flow names them.
    assert [d.key for d in resolve_flow(fl[0]).datatypes] == [CONTACTS, CP, COMPANIES]
    plan = make_plan(recs, fl, SyncState.empty(), datatypes=[datatype(CUST)])
    assert plan.inserts.is_empty() and plan.writes.is_empty()
    rej = {r["record"]: r for r in plan.rejects.iter_rows(named=True)}
    one = rej[f"{CONTACTS}:ct1"]
    assert (one["property"], one["value"]) == ("companyId", "co1")
    assert one["reason"] == (
        f"no parent customers or suppliers record: {COMPANIES}:co1 (companyId) is not linked "
        "to a powerofficego customers or suppliers record (planned again once it is)"
    )
    assert rej[f"{CONTACTS}:ct2"]["reason"].endswith("companyId is empty")
    assert "names crmoffice.companies:co9, not known" in rej[f"{CONTACTS}:ct3"]["reason"]


def test_a_supplier_linked_to_the_company_is_a_parent_too():
    supplier = dict(
        Id=4, IsPerson=False, Name="Lev", OrganizationNumber="922", LastChangedDateTimeOffset=T0
    )
    recs = records([contact(1, "co1")], [company(1, "922")], suppliers=[supplier])
    fl = [f for f in crm_flows() if f.target.datatype == "Contactperson"]
    # The supplier joins the company's cluster through a merge-only flow on orgNr.
    from talk_assets.flows.model import DatatypeRef, Flow, MergeCriterion, RuleKind

    link = Flow(
        DatatypeRef("Crmoffice", "Companies"),
        DatatypeRef("Powerofficego", "Suppliers"),
        RuleKind.MERGE_ONLY,
        merge_criteria=(MergeCriterion("orgNr", "OrganizationNumber"),),
    )
    plan = make_plan(recs, [link, *fl], SyncState.empty(), datatypes=[datatype(CUST)])
    assert plan.inserts.filter(pl.col("datatype") == CP)["parent_id"].to_list() == ["4"]


def test_a_rejected_contact_is_planned_again_once_its_company_has_a_customer():
    recs = records([contact(1, "co1")], [company(1)])
    recs, state, plan = run(recs, crm_flows(), SyncState.empty())
    # Run 1: the company is inserted as a customer; the contact waits for it (a reject).
    assert plan.inserts["datatype"].to_list() == [CUST]
    assert plan.rejects.filter(pl.col("record") == f"{CONTACTS}:ct1").height == 1
    assert state.inserted.filter(pl.col("source") == f"{CONTACTS}:ct1").is_empty()
    customer_id = recs[CUST]["Id"][0]
    recs, state, plan = run(recs, crm_flows(), state)
    persons = plan.inserts.filter(pl.col("datatype") == CP)
    assert persons["parent_id"].to_list() == [str(customer_id)]
    assert recs[CP]["ContactId"].to_list() == [customer_id]
    _, _, plan = run(recs, crm_flows(), state)
    assert plan.writes.is_empty()
