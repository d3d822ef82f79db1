"""Flow assets as the UI shows them: short unique keys, and one column per mapped target
property, from plans the real engine makes."""

from __future__ import annotations

from dataclasses import replace

import polars as pl
import pytest

from talk_assets.defs.flow_tables import (
    KEY_COLUMNS,
    check_unique_keys,
    flow_column_lineage,
    flow_key,
    flow_output,
    flow_table,
    flow_table_schema,
)
from talk_assets.engine import SyncState
from talk_assets.flows.catalog import FlowsError
from talk_assets.flows.model import DatatypeRef
from talk_assets.flows.spec import committed_flows
from talk_assets.systems import resolve_flow
from talk_assets_tests.engine.sim import frame, run

FLOWS = {f.name: f for f in committed_flows()}
PERSONS = FLOWS["powerofficego_customers_person__crmoffice_contacts"]
T0, T1 = "2024-01-01T00:00:00+00:00", "2024-02-01T00:00:00+00:00"


def test_flow_keys_are_short_unique_and_depend_only_on_their_flow():
    resolved = [resolve_flow(f) for f in committed_flows()]
    keys = [flow_key(f) for f in resolved]
    assert len(set(keys)) == len(keys) == 9
    assert all(len(k.path[-1]) <= 32 for k in keys), [k.path[-1] for k in keys]
    assert flow_key(resolve_flow(PERSONS)).to_user_string() == (
        "flows/powerofficego_to_crmoffice/customers_person_to_contacts"
    )
    both_ways = {
        flow_key(resolve_flow(FLOWS[n])).path[-1]
        for n in (
            "powerofficego_customer__powerofficego_contactperson",
            "powerofficego_contactperson__powerofficego_customer",
        )
    }
    assert both_ways == {"customer_to_contactperson", "contactperson_to_customer"}
    check_unique_keys(resolved)


def test_two_flows_with_one_key_are_refused_naming_both():
    # The same flow with the target system spelled another way: another name, one key.
    twin = replace(PERSONS, target=DatatypeRef("Crm Office", "Contacts"))
    assert twin.name != PERSONS.name
    with pytest.raises(FlowsError, match="Powerofficego Customers person to Crmoffice Contacts"):
        check_unique_keys([resolve_flow(PERSONS), resolve_flow(twin)])


def customers(*rows: tuple[int, str, str]) -> pl.DataFrame:
    return frame(
        "powerofficego.customers",
        [
            dict(
                Id=i,
                IsPerson=True,
                FirstName=first,
                LastName=last,
                PhoneNumber="12345678",
                LastChangedDateTimeOffset=T0,
            )
            for i, first, last in rows
        ],
    )


def synced_pairs():
    """Two customers synced to contacts, then one renamed in Powerofficego: (flow, plan)."""
    flow = resolve_flow(PERSONS)
    records = {
        "powerofficego.customers": customers((1, "Ola", "Nordmann"), (2, "Kari", "Hansen")),
        "crmoffice.contacts": frame("crmoffice.contacts", []),
    }
    records, state, _ = run(records, [PERSONS], SyncState.empty())
    edited = records["powerofficego.customers"].with_columns(
        FirstName=pl.when(pl.col("Id") == 1).then(pl.lit("Olav")).otherwise("FirstName"),
        LastChangedDateTimeOffset=pl.lit(T1),
    )
    _, _, plan = run({**records, "powerofficego.customers": edited}, [PERSONS], state)
    return flow, plan


def test_flow_table_columns_are_the_keys_and_the_mapped_target_properties():
    flow, plan = synced_pairs()
    table = flow_table(flow, plan.mapped_for(PERSONS.name), plan.updates)
    mapped = [p.target for p in PERSONS.properties]
    assert table.columns == [*KEY_COLUMNS, *mapped]
    assert table.columns == [c.name for c in flow_table_schema(flow).columns]
    assert table.height == 2
    rows = {r["source_record"]: r for r in table.iter_rows(named=True)}
    # the planned value of this run, not the target's current one
    assert rows["powerofficego.customers:1"]["givenName"] == "Olav"
    assert rows["powerofficego.customers:2"]["givenName"] == "Kari"
    assert rows["powerofficego.customers:2"]["familyName"] == "Hansen"
    assert all(r["target_record"].startswith("crmoffice.contacts:") for r in rows.values())


def test_flow_table_of_any_subset_of_clusters_keeps_every_column():
    flow, plan = synced_pairs()
    mapped = plan.mapped_for(PERSONS.name)
    one = mapped.filter(pl.col("cluster") == mapped["cluster"][0])
    assert flow_table(flow, one, plan.updates).height == 1
    empty, metadata = flow_output(flow, mapped.clear(), plan.updates.clear())
    assert empty.is_empty()
    assert empty.columns == [c.name for c in flow_table_schema(flow).columns]
    assert "dagster/column_schema" not in metadata  # the definition's, in the column case
    assert metadata["dagster/row_count"] == 0


def test_column_lineage_and_descriptions_name_the_flow_columns():
    for flow in (resolve_flow(f) for f in committed_flows()):
        columns = {c.name: c for c in flow_table_schema(flow).columns}
        lineage = flow_column_lineage(flow).deps_by_column
        assert set(lineage) == set(columns) - set(KEY_COLUMNS)
        for name, deps in lineage.items():
            assert {d.asset_key.path[0] for d in deps} == {flow.source.system, flow.target.system}
            assert name in {d.column_name for d in deps}
        assert all(c.description for c in columns.values())
    given = {c.name: c for c in flow_table_schema(resolve_flow(PERSONS)).columns}["givenName"]
    assert "powerofficego.customers.FirstName" in given.description
