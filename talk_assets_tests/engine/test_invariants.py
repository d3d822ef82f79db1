"""Property-based invariants of the engine (hypothesis)."""

from __future__ import annotations

import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from talk_assets.engine import SyncState, apply, make_plan
from talk_assets.flows.spec import committed_flows
from talk_assets_tests.engine.sim import edit_first_names, execute, frame, run

CUST, EMP, CONTACTS = "powerofficego.customers", "powerofficego.employees", "crmoffice.contacts"
FLOWS = [
    f
    for f in committed_flows()
    if f.name
    in (
        "powerofficego_customers_person__crmoffice_contacts",
        "powerofficego_employees__crmoffice_contacts",
    )
]
SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])

names = st.sampled_from([None, "", " ", "Ola", "Kari", "Åse", "17"])
customer = st.fixed_dictionaries(
    {
        "IsPerson": st.sampled_from([True, False, None]),
        "FirstName": names,
        "LastName": names,
        "PhoneNumber": names,
        "LastChangedDateTimeOffset": st.sampled_from(
            [None, "2024-01-01T00:00:00+00:00", "2024-03-01T00:00:00Z"]
        ),
    }
)
employee = st.fixed_dictionaries({"FirstName": names, "LastName": names, "PhoneNumber": names})
contact = st.fixed_dictionaries({"givenName": names, "familyName": names})


def build(customers: list[dict], employees: list[dict], contacts: list[dict]) -> dict:
    return {
        CUST: frame(CUST, [dict(Id=i + 1, **c) for i, c in enumerate(customers)]),
        EMP: frame(EMP, [dict(Id=i + 1, **e) for i, e in enumerate(employees)]),
        CONTACTS: frame(CONTACTS, [dict(id=f"c{i}", **c) for i, c in enumerate(contacts)]),
    }


data = st.tuples(
    st.lists(customer, max_size=8), st.lists(employee, max_size=5), st.lists(contact, max_size=4)
)


@SETTINGS
@given(data=data, edits=st.lists(st.tuples(st.integers(0, 7), names), max_size=4))
def test_plan_apply_replan_is_empty(data, edits):
    records = build(*data)
    state = SyncState.empty()
    plan = make_plan(records, FLOWS, state)
    unlinked = plan.clusters.join(
        plan.clusters.filter(pl.col("datatype") == CONTACTS).select("cluster"),
        on="cluster",
        how="anti",
    )
    eligible = unlinked.filter(pl.col("datatype").is_in([CUST, EMP])).height
    assert plan.inserts.height <= eligible
    assert plan.clusters["record"].is_unique().all()
    records, state, _ = run(records, FLOWS, state)
    assert make_plan(records, FLOWS, state).is_empty
    # Edits on the source side sync, then the state is steady again.
    records[CUST] = edit_first_names(records[CUST], edits, "2024-09-01T00:00:00+00:00")
    records, state, _ = run(records, FLOWS, state)
    replan = make_plan(records, FLOWS, state)
    assert replan.is_empty
    assert replan.clusters["record"].is_unique().all()


@SETTINGS
@given(data=data, seed=st.integers(0, 1000))
def test_plan_does_not_depend_on_row_order(data, seed):
    records = build(*data)
    state = SyncState.empty()
    records, state, _ = run(records, FLOWS, state)  # some links and synced values
    shuffled = {k: v.sample(fraction=1.0, shuffle=True, seed=seed) for k, v in records.items()}
    a, b = make_plan(records, FLOWS, state), make_plan(shuffled, FLOWS, state)
    for name, frame_a in a.frames().items():
        assert frame_a.equals(b.frames()[name]), name


@SETTINGS
@given(data=data)
def test_no_record_in_two_clusters_and_no_duplicate_inserts(data):
    records = build(*data)
    state = SyncState.empty()
    for _ in range(3):
        plan = make_plan(records, FLOWS, state)
        new, res = execute(records, plan)
        state = apply(state, plan, res)
        records = new
        cl = make_plan(records, FLOWS, state).clusters
        assert cl["record"].is_unique().all()
        per_cluster = cl.filter(pl.col("datatype") == CONTACTS).group_by("cluster").len()
        created = state.inserted.group_by("target").len()
        assert created.is_empty() or created["len"].max() <= 2  # one contact serves its flows
        assert per_cluster.is_empty() or per_cluster["len"].max() == 1
