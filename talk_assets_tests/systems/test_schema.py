import pytest

from talk_assets.flows.model import DatatypeRef, Flow, PropertyMapping, RuleKind
from talk_assets.flows.spec import committed_flows
from talk_assets.systems import SYSTEMS, SchemaError, datatype, resolve_flow, resolve_ref


def test_every_property_of_every_committed_flow_resolves():
    flows = committed_flows()
    assert len(flows) == 9
    resolved = [resolve_flow(f) for f in flows]
    assert sum(len(r.properties) for r in resolved) == 31
    for r in resolved:
        assert len(r.properties) + len(r.not_in_api) == len(r.flow.properties)
        assert len(r.criteria) == len(r.flow.merge_criteria)
    # dateOfBirth <-> contact persons: documented, but the API has no such field (lineage only)
    absent = [(s.path, t.path) for r in resolved for s, t, _ in r.not_in_api]
    assert absent == [("DateOfBirth", "DateOfBirth")] * 2
    assert all(not (s.in_api and t.in_api) for r in resolved for s, t, _ in r.not_in_api)


def test_a_name_not_in_the_api_resolves_only_for_lineage():
    cp = datatype("powerofficego.contactpersons")
    absent = cp.lookup("dateOfBirth")
    assert absent.path == "DateOfBirth" and not absent.in_api and not absent.writable
    assert "ContactPersonDto" in (absent.not_in_api or "")
    with pytest.raises(SchemaError, match=r"'DateOfBirth' is not in the API: .*ContactPersonDto"):
        cp.field("dateOfBirth")
    assert "DateOfBirth" not in cp.polars_schema()
    assert datatype("powerofficego.customers").lookup("dateOfBirth").in_api


def test_document_names_resolve_to_real_fields_case_insensitively():
    customers = datatype("powerofficego.customers")
    assert customers.field("city").path == "MailAddress.City"
    assert customers.field("mailAddress.countryCode").path == "MailAddress.CountryCode"
    assert customers.field("LASTCHANGED").path == "LastChangedDateTimeOffset"
    cp = datatype("powerofficego.contactpersons")
    assert cp.field("residenceCountryCode").path == "MailAddress.CountryCode"
    assert cp.field("lastName").path == cp.field("LastName").path == "LastName"
    assert datatype("crmoffice.contacts").field("GIVENNAME").path == "givenName"


def test_identity_and_read_only_fields_are_not_writable():
    for system in SYSTEMS:
        for dt in system.datatypes:
            assert not dt.id.writable, dt.key
            assert not dt.last_changed.writable, dt.key
            for path in dt.required:
                assert dt.field(path).writable, (dt.key, path)


def test_document_datatype_names_and_filters():
    dt, flt = resolve_ref(DatatypeRef("Powerofficego", "Customers", "person"))
    assert (dt.key, flt) == ("powerofficego.customers", ("IsPerson", True))
    assert resolve_ref(DatatypeRef("PowerOfficeGo", "Contactperson"))[0].key == (
        "powerofficego.contactpersons"
    )
    assert resolve_ref(DatatypeRef("Powerofficego", "Product"))[0].key == "powerofficego.products"
    assert resolve_ref(DatatypeRef("PowerOfficeGo", "Address"))[0].key == "powerofficego.addresses"


def test_unresolvable_property_names_the_flow_and_the_property():
    flow = Flow(
        DatatypeRef("Powerofficego", "Employees"),
        DatatypeRef("Crmoffice", "Contacts"),
        RuleKind.INSERT,
        properties=(PropertyMapping("FirstName", "givenName"), PropertyMapping("Shoe", "size")),
    )
    with pytest.raises(SchemaError) as err:
        resolve_flow(flow)
    message = str(err.value)
    assert "Powerofficego Employees to Crmoffice Contacts" in message
    assert "'Shoe'" in message


def test_unknown_system_datatype_and_filter_are_clear_errors():
    with pytest.raises(SchemaError, match="unknown system 'Hubspot'"):
        resolve_ref(DatatypeRef("Hubspot", "Companies"))
    with pytest.raises(SchemaError, match="no datatype 'Invoices'"):
        resolve_ref(DatatypeRef("Crmoffice", "Invoices"))
    with pytest.raises(SchemaError, match="no filter 'organisation'"):
        resolve_ref(DatatypeRef("Powerofficego", "Employees", "organisation"))
