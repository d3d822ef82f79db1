"""One plan cascades through its own planned inserts and writes: an initial load settles in one
run (plan -> confirmed writes -> apply -> replan writes nothing)."""

from __future__ import annotations

import itertools
import json

import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from talk_assets.engine import SyncPlan, SyncState, apply, make_plan
from talk_assets.engine.apply import batch_plan, merged_plans, plan_records, state_delta
from talk_assets.flows.spec import committed_flows
from talk_assets.systems import datatype, resolve_ref
from talk_assets.systems.derived import derive_records
from talk_assets.systems.records import FrameBuilder
from talk_assets.systems.sampling import generate
from talk_assets_tests.engine.sim import edit_first_names, execute, frame, run

FLOWS = {f.name: f for f in committed_flows()}
CUST, CP, CONTACTS = "powerofficego.customers", "powerofficego.contactpersons", "crmoffice.contacts"
PERSON_TO_CONTACT = "powerofficego_customers_person__crmoffice_contacts"
CUSTOMER_TO_CP = "powerofficego_customer__powerofficego_contactperson"
CP_TO_CONTACT = "powerofficego_contactperson__crmoffice_contacts"
CP_TO_CUSTOMER = "powerofficego_contactperson__powerofficego_customer"
T0 = "2024-01-01T00:00:00+00:00"


def sample_frames(size: int, seed: int = 1) -> dict[str, pl.DataFrame]:
    """The emulators' sample data as the sources read it: customers (persons and organisations),
    suppliers, contact persons under organisations, employees, products, projects, Crmoffice;
    only the datatypes the committed flows name (as the sources read only those)."""
    data = generate(seed, size)
    named = {resolve_ref(ref)[0].key for f in committed_flows() for ref in (f.source, f.target)}
    out = {}
    for system, tables in (("powerofficego", data.powerofficego), ("crmoffice", data.crmoffice)):
        for name, rows in tables.items():
            dt = datatype(f"{system}.{name}")
            if dt.key not in named:
                continue
            fb = FrameBuilder(dt)
            for row in rows:
                fb.add(row)
            out[dt.key] = fb.frame()
    addr = datatype("powerofficego.addresses")
    sup = datatype("powerofficego.suppliers")
    out[addr.key] = derive_records(addr, sup, out[sup.key])
    return out


def test_s3_initial_load_settles_in_one_run_with_committed_flows():
    fl = committed_flows()
    records = sample_frames(80)
    assert records[CP].height and records["powerofficego.projects"].height
    records, state, plan = run(records, fl, SyncState.empty())
    assert plan.inserts.height > 0
    # Contact persons inserted from person customers carry the phone of the contact inserted
    # beside them (Contactperson -> Contacts pairs the two new records in the same plan).
    cp_values = [
        json.loads(v) for v in plan.inserts.filter(pl.col("datatype") == CP)["values"].to_list()
    ]
    assert any("PhoneNumber" in v for v in cp_values)
    replan = make_plan(records, fl, state)
    assert replan.is_empty
    assert replan.baselines.is_empty()  # every pair's agreement was recorded in run one
    records, state, again = run(records, fl, state)
    assert again.is_empty


def test_s3_chained_insert_values_join_the_insert():
    """Customer person C gets Contact K (phone mapped) and Contactperson P (no phone mapping);
    Contactperson -> Contacts pairs (P, K) in the same plan: K's phone joins P's insert."""
    fl = [FLOWS[n] for n in (PERSON_TO_CONTACT, CUSTOMER_TO_CP, CP_TO_CONTACT, CP_TO_CUSTOMER)]
    records = {
        CUST: frame(
            CUST,
            [
                dict(
                    Id=1,
                    IsPerson=True,
                    FirstName="Ola",
                    LastName="Nordmann",
                    PhoneNumber="+47 1",
                    LastChangedDateTimeOffset=T0,
                )
            ],
        ),
        CP: frame(CP, []),
        CONTACTS: frame(CONTACTS, []),
    }
    plan = make_plan(records, fl, SyncState.empty())
    values = {r["datatype"]: json.loads(r["values"]) for r in plan.inserts.iter_rows(named=True)}
    assert values[CONTACTS] == {
        "givenName": "Ola",
        "familyName": "Nordmann",
        "directPhone": "+47 1",
    }
    assert values[CP] == {"FirstName": "Ola", "LastName": "Nordmann", "PhoneNumber": "+47 1"}
    assert plan.updates.is_empty() and plan.writes.height == 2
    # The (P, K) pair's agreement waits for both inserts.
    pending = plan.baselines.filter(pl.col("flow") == CP_TO_CONTACT)
    assert pending["source"].is_null().all() and pending["target"].is_null().all()
    assert set(pending["source_write"]) == {f"insert:{CP}:{CUST}:1"}
    records, state, _ = run(records, fl, SyncState.empty())
    synced = state.synced.filter(
        (pl.col("flow") == CP_TO_CONTACT) & (pl.col("property") == "directPhone")
    )
    assert synced["value"].to_list() == ["+47 1"]
    assert make_plan(records, fl, state).is_empty


def test_s5_batches_confirmed_one_sink_at_a_time_record_each_pair_once():
    """The sinks apply their batches separately; a pair of two new records is recorded when the
    second one is confirmed, whichever sink runs first."""
    fl = committed_flows()
    records = sample_frames(30)
    for order in ([CP, CONTACTS], [CONTACTS, CP]):
        state = SyncState.empty()
        plan = make_plan(records, fl, state)
        new, res = execute(records, plan)
        datatypes = dict(plan.writes.select("write_id", "datatype").iter_rows())
        batch_of = res["write_id"].replace_strict(datatypes, return_dtype=pl.String)
        rest = [d for d in batch_of.unique().sort().to_list() if d not in order]
        for dt in [*order, *rest]:
            state = apply(state, plan, res.filter(batch_of == dt))
        one = apply(SyncState.empty(), plan, res)
        key = ["flow", "source", "target", "property"]
        assert state.synced.sort(key).equals(one.synced.sort(key))
        assert make_plan(new, fl, state).is_empty


def test_s5_failed_insert_leaves_pairs_pending_until_planned_again():
    fl = [FLOWS[n] for n in (PERSON_TO_CONTACT, CUSTOMER_TO_CP, CP_TO_CONTACT)]
    records = {
        CUST: frame(
            CUST,
            [dict(Id=1, IsPerson=True, FirstName="A", LastName="B", PhoneNumber="9")],
        ),
        CP: frame(CP, []),
        CONTACTS: frame(CONTACTS, []),
    }
    plan = make_plan(records, fl, SyncState.empty())
    failed = f"insert:{CONTACTS}:{CUST}:1"
    new, res = execute(records, plan, fail={failed})
    state = apply(SyncState.empty(), plan, res)
    assert state.synced.filter(pl.col("flow") == CP_TO_CONTACT).is_empty()
    records, state, replan = run(new, fl, state)
    assert replan.inserts["datatype"].to_list() == [CONTACTS]
    assert make_plan(records, fl, state).is_empty


# --- hypothesis: chained flows -------------------------------------------------------------

CHAINED = [FLOWS[n] for n in (PERSON_TO_CONTACT, CUSTOMER_TO_CP, CP_TO_CONTACT, CP_TO_CUSTOMER)]
names = st.sampled_from([None, "", " ", "Ola", "Kari", "Åse", "17"])
person = st.fixed_dictionaries(
    {
        "IsPerson": st.just(True),
        "FirstName": names,
        "LastName": names,
        "PhoneNumber": names,
        "EmailAddress": names,
    }
)
organisation = st.fixed_dictionaries(
    {"IsPerson": st.sampled_from([False, None]), "Name": names, "PhoneNumber": names}
)
contact_person = st.fixed_dictionaries(
    {
        "owner": st.integers(0, 5),
        "FirstName": names,
        "LastName": names,
        "PhoneNumber": names,
        "EmailAddress": names,
    }
)
contact = st.fixed_dictionaries({"givenName": names, "familyName": names, "directPhone": names})


def chained_records(customers, people, contacts) -> dict[str, pl.DataFrame]:
    cust = [dict(Id=i + 1, LastChangedDateTimeOffset=T0, **c) for i, c in enumerate(customers)]
    cps = [
        dict(Id=100 + i, ContactId=p.pop("owner") % len(cust) + 1, **p)
        for i, p in enumerate(dict(p) for p in people)
        if cust
    ]
    return {
        CUST: frame(CUST, cust),
        CP: frame(CP, cps),
        CONTACTS: frame(CONTACTS, [dict(id=f"c{i}", **c) for i, c in enumerate(contacts)]),
    }


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    customers=st.lists(st.one_of(person, organisation), max_size=6),
    people=st.lists(contact_person, max_size=4),
    contacts=st.lists(contact, max_size=3),
    edits=st.lists(st.tuples(st.integers(0, 5), names), max_size=3),
)
def test_s5_chained_flows_plan_apply_replan_is_empty(customers, people, contacts, edits):
    records = chained_records(customers, people, contacts)
    records, state, _ = run(records, CHAINED, SyncState.empty())
    replan = make_plan(records, CHAINED, state)
    assert replan.is_empty, replan.writes
    assert replan.clusters["record"].is_unique().all()
    # Edits travel through the chain (customer -> contact person -> contact) in one run.
    records[CUST] = edit_first_names(records[CUST], edits, "2024-09-01T00:00:00+00:00")
    records, state, _ = run(records, CHAINED, state)
    assert make_plan(records, CHAINED, state).is_empty


def _naming(state: SyncState, part: SyncPlan) -> SyncState:
    """What a sink's commit reads of the state (`sink_writes._commit`): the links naming the
    records of its part of the plan and, when the part has inserts, the insert tracking whose
    source is one of them."""
    keys = plan_records(part).implode()
    inserted = state.inserted.filter(pl.col("source").is_in(keys))
    return SyncState.empty().replace(
        links=state.links.filter(pl.col("source").is_in(keys) | pl.col("target").is_in(keys)),
        inserted=inserted if part.insert_sources.height else inserted.clear(),
    )


def _executed_batches(
    seed: int, cuts: list[int], edited: bool
) -> tuple[SyncPlan, SyncState, list[pl.DataFrame]]:
    """A plan (of a fresh load, or of a settled tenant with edits: updates, not only inserts),
    the state it was made from, and its executed writes' results split at `cuts` into sink
    batches, in a shuffled order."""
    fl = committed_flows()
    records = sample_frames(30)
    start = SyncState.empty()
    if edited:
        records, start, _ = run(records, fl, start)
        edits = [(row, f"Endret{seed}") for row in range(seed % 5, 30, 4)]
        records = dict(records)
        records[CUST] = edit_first_names(records[CUST], edits, "2024-09-01T00:00:00+00:00")
    plan = make_plan(records, fl, start)
    _, res = execute(records, plan)
    res = res.sample(fraction=1.0, shuffle=True, seed=seed)
    bounds = sorted({0, *(c % (res.height + 1) for c in cuts), res.height})
    return plan, start, [res.slice(lo, hi - lo) for lo, hi in itertools.pairwise(bounds)]


def _assert_same_state(ours: SyncState, theirs: SyncState) -> None:
    for table, key in (
        ("links", ["source", "target"]),
        ("synced", ["flow", "source", "target", "property"]),
        ("inserted", ["flow", "source", "target"]),
    ):
        assert getattr(ours, table).sort(key).equals(getattr(theirs, table).sort(key)), table


@given(
    seed=st.integers(0, 1000),
    cuts=st.lists(st.integers(1, 400), min_size=0, max_size=8),
    edited=st.booleans(),
)
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_s10_a_commit_of_its_batchs_part_of_the_plan_records_what_the_whole_plan_would(
    seed: int, cuts: list[int], edited: bool
):
    """Each sink batch commits `batch_plan` (its part of the plan) against the state rows that
    part names: over any order and split of the writes into batches, the state ends exactly as
    committing the whole plan every batch would leave it (links, synced values, inserts)."""
    plan, start, batches = _executed_batches(seed, cuts, edited)
    whole, scoped, confirmed = start, start, []
    for number, batch in enumerate(batches):
        whole = apply(whole, plan, batch, confirmed_earlier=confirmed)
        part = batch_plan(plan, batch["write_id"], standing=number == 0)
        delta = state_delta(_naming(scoped, part), part, batch, confirmed)
        # what a store appends without a keyed delete has no stored row to replace
        key = ["flow", "source", "target", "property"]
        assert delta.synced_new.join(scoped.synced, on=key, how="semi").is_empty()
        scoped = delta.fold_into(scoped)
        confirmed += batch.filter(pl.col("ok"))["write_id"].to_list()
    _assert_same_state(scoped, whole)


@given(
    seed=st.integers(0, 1000),
    cuts=st.lists(st.integers(1, 400), min_size=0, max_size=8),
    groups=st.lists(st.integers(1, 9), min_size=0, max_size=4),
    edited=st.booleans(),
)
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_s10_a_group_commit_records_what_its_batches_one_after_the_other_would(
    seed: int, cuts: list[int], groups: list[int], edited: bool
):
    """Sinks that wait for the commit lock at once are recorded in one commit of their
    batches' parts merged (`merged_plans`): over any split of the writes into batches and of
    the batches into groups, the state ends as committing the whole plan every batch would."""
    plan, start, batches = _executed_batches(seed, cuts, edited)
    edges = sorted({0, *(g % (len(batches) + 1) for g in groups), len(batches)})
    whole, one_by_one = start, []
    for batch in batches:
        whole = apply(whole, plan, batch, confirmed_earlier=one_by_one)
        one_by_one += batch.filter(pl.col("ok"))["write_id"].to_list()
    grouped, confirmed = start, []
    for first, last in itertools.pairwise(edges):
        group = batches[first:last]
        parts = [
            batch_plan(plan, batch["write_id"], standing=first == 0 and number == 0)
            for number, batch in enumerate(group)
        ]
        merged, results = merged_plans(parts), pl.concat(group)
        delta = state_delta(_naming(grouped, merged), merged, results, confirmed)
        grouped = delta.fold_into(grouped)
        confirmed += results.filter(pl.col("ok"))["write_id"].to_list()
    _assert_same_state(grouped, whole)
