import pytest

from talk_assets.flows.model import RuleKind
from talk_assets.flows.spec import (
    SpecError,
    committed_documents,
    dump_document,
    load_document,
)


def test_committed_specs_hold_the_nine_flows_of_the_two_documents():
    docs = {d.title: d for d in committed_documents()}
    crm = docs["Powerofficego to Crmoffice Dataflow"]
    self_flow = docs["Powerofficego to PowerOfficeGo Dataflow"]
    assert [f.title for f in crm.flows] == [
        "Powerofficego Customers person to Crmoffice Contacts",
        "Powerofficego Employees to Crmoffice Contacts",
        "Powerofficego Product to Crmoffice Companies",
        "Powerofficego Projects to Crmoffice Activities",
        "Powerofficego Contactperson to Crmoffice Contacts",
        "Powerofficego Suppliers person to Crmoffice Contacts",
    ]
    assert [len(f.properties) for f in crm.flows] == [3, 3, 0, 3, 3, 3]
    assert [len(f.properties) for f in self_flow.flows] == [0, 9, 9]
    supplier = self_flow.flows[0]
    assert supplier.rule is RuleKind.MERGE_ONLY
    assert [(c.source, c.target) for c in supplier.merge_criteria] == [("MailAddress.Id", "id")]
    assert self_flow.flows[2].properties[4].type == "integer"


def test_spec_round_trips_through_yaml():
    for doc in committed_documents():
        assert load_document(dump_document(doc)) == doc


def test_bad_spec_names_where():
    with pytest.raises(SpecError, match=r"flows\[0\]\.rule: 'sometimes'"):
        load_document(
            "title: t\nflows:\n- source: {system: A, datatype: B}\n"
            "  target: {system: C, datatype: D}\n  rule: sometimes\n"
        )
    with pytest.raises(SpecError, match=r"flows\[0\]\.properties\[0\]: unknown key"):
        load_document(
            "title: t\nflows:\n- source: {system: A, datatype: B}\n"
            "  target: {system: C, datatype: D}\n  rule: insert\n"
            "  properties:\n  - {source: a, target: b, colour: red}\n"
        )
