"""S10: a run cut after any write leaves state from which the next run finishes the job.

The sinks commit one batch at a time; a kill can land between any two writes, or between a
write and its record. Whatever the cut, the runs after it reach the same records as a run that
was never cut: no user edit is lost, nothing is written twice, the cluster converges.
"""

from __future__ import annotations

import json

import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from talk_assets.engine import SyncState, make_plan
from talk_assets.systems import datatype
from talk_assets_tests.engine.sim import frame, run, run_cut
from talk_assets_tests.engine.test_cascade import CHAINED, CONTACTS, CP, CUST, T0

EDITED = "2024-03-01T00:00:00+00:00"
LATER = "2024-04-01T00:00:00+00:00"
MAX_RUNS = 5
"""Runs allowed to settle after a cut (a settled tenant plans nothing)."""
EDITABLE = {CUST: "FirstName", CP: "FirstName", CONTACTS: "givenName"}


def settle(records, state):
    """Run until a run would write nothing and has no agreement left to record."""
    for _ in range(MAX_RUNS):
        plan = make_plan(records, CHAINED, state)
        if plan.is_empty and plan.baselines.is_empty():
            return records, state
        records, state, _ = run(records, CHAINED, state)
    raise AssertionError("no steady state within MAX_RUNS runs")


def content(records: dict[str, pl.DataFrame]) -> dict[str, list[tuple]]:
    """Each datatype's records without ids, parent ids and timestamps: what a user sees."""
    out = {}
    for key, rows in records.items():
        dt = datatype(key)
        hidden = {dt.id_field, dt.last_changed_field, dt.parent}
        cols = sorted(c for c in rows.columns if c not in hidden)
        out[key] = sorted(rows.select(cols).rows(), key=repr)
    return out


def edit(records, key: str, row: int, value: str | None, changed: str) -> None:
    dt = datatype(key)
    frame_ = records[key]
    if row >= frame_.height:
        return
    hit = pl.int_range(pl.len()) == row
    records[key] = frame_.with_columns(
        pl.when(hit).then(pl.lit(value, pl.String)).otherwise(EDITABLE[key]).alias(EDITABLE[key]),
        pl.when(hit)
        .then(pl.lit(changed))
        .otherwise(dt.last_changed_field)
        .alias(dt.last_changed_field),
    )


names = st.sampled_from(["Solveig", "Brukerendring", "Kari", None])
person = st.fixed_dictionaries(
    {"IsPerson": st.just(True), "FirstName": names, "LastName": st.sampled_from(["Nord", "Sør"])}
)
edits = st.lists(
    st.tuples(
        st.sampled_from(sorted(EDITABLE)),
        st.integers(0, 3),
        names,
        st.sampled_from([EDITED, LATER]),
    ),
    min_size=1,
    max_size=4,
)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    people=st.lists(person, min_size=1, max_size=3),
    changes=edits,
    sink_order=st.permutations([CUST, CP, CONTACTS]),
    recorded=st.booleans(),
    new_person=st.booleans(),
)
def test_s10_run_cut_after_any_write_ends_as_the_uncut_run(
    people, changes, sink_order, recorded, new_person
):
    customers = [dict(Id=i + 1, LastChangedDateTimeOffset=T0, **p) for i, p in enumerate(people)]
    records = {CUST: frame(CUST, customers), CP: frame(CP, []), CONTACTS: frame(CONTACTS, [])}
    records, state = settle(records, SyncState.empty())
    for key, row, value, changed in changes:
        edit(records, key, row, value, changed)
    if new_person:  # an insert in the same run as the edits
        extra = dict(Id=99, IsPerson=True, FirstName="Ny", LastName="Nord")
        records[CUST] = pl.concat(
            [records[CUST], frame(CUST, [dict(extra, LastChangedDateTimeOffset=LATER)])]
        )

    uncut, uncut_state = settle(*run(records, CHAINED, state)[:2])
    cluster_of = dict(
        make_plan(records, CHAINED, state).clusters.select("record", "cluster").rows()
    )
    edited: dict[str, set[str]] = {}
    for key, row, _, _ in changes:
        if row < records[key].height:
            record = f"{key}:{records[key][datatype(key).id_field][row]}"
            edited.setdefault(cluster_of.get(record, record), set()).add(key)
    # Two systems edited in one cluster is a conflict: the newest edit wins, and the sync's own
    # writes in a cut run bump timestamps too, so the winner may differ from the uncut run's.
    conflicting = any(len(keys) > 1 for keys in edited.values())
    cut_after, planned = 0, None
    while planned is None or cut_after <= planned:
        cut, cut_state, planned = run_cut(
            records,
            CHAINED,
            state,
            sink_order=list(sink_order),
            cut_after=cut_after,
            recorded=recorded,
        )
        cut, cut_state = settle(cut, cut_state)
        where = f"cut after write {cut_after} of {planned}"
        assert {k: v.height for k, v in cut.items()} == {k: v.height for k, v in uncut.items()}
        assert converged(cut, cut_state), where
        if not conflicting:
            assert content(cut) == content(uncut), where
            assert cut_state.synced.height == uncut_state.synced.height, where
        cut_after += 1


def converged(records, state) -> bool:
    """Every cluster holds one first name in all three datatypes."""
    clusters = make_plan(records, CHAINED, state).clusters.select("record", "cluster")
    names = pl.concat(
        records[key].select(
            record=pl.format("{}:{}", pl.lit(key), pl.col(datatype(key).id_field)),
            name=pl.col(column),
        )
        for key, column in EDITABLE.items()
    )
    per_cluster = (
        names.join(clusters, on="record").group_by("cluster").agg(pl.col("name").n_unique())
    )
    return bool((per_cluster["name"] == 1).all())


def test_s10_kill_between_two_sinks_keeps_the_users_edit():
    """The measured defect: the contact is renamed, the run updates the contact person and is
    killed before it updates the customer; the next run must not write the old name back."""
    customer = dict(Id=1, IsPerson=True, FirstName="Solveig", LastName="Hansen")
    records = {
        CUST: frame(CUST, [dict(customer, LastChangedDateTimeOffset=T0)]),
        CP: frame(CP, []),
        CONTACTS: frame(CONTACTS, []),
    }
    records, state = settle(records, SyncState.empty())
    edit(records, CONTACTS, 0, "Brukerendring", EDITED)
    records, state, planned = run_cut(
        records, CHAINED, state, sink_order=[CP, CUST], cut_after=1, recorded=True
    )
    assert planned == 2  # the contact person and the customer
    assert records[CP]["FirstName"].to_list() == ["Brukerendring"]
    assert records[CUST]["FirstName"].to_list() == ["Solveig"]
    records, state = settle(records, state)
    for key, column in EDITABLE.items():
        assert records[key][column].to_list() == ["Brukerendring"], key


def test_s4_three_way_conflict_converges():
    """Customer C, contact person P and contact K hold one name. The user renames C (older) and
    K (newer) differently: the newest edit should win everywhere, and the cluster agree."""
    customer = dict(Id=1, IsPerson=True, FirstName="Brukerendring", LastName="Nord")
    records = {
        CUST: frame(CUST, [dict(customer, LastChangedDateTimeOffset=T0)]),
        CP: frame(CP, []),
        CONTACTS: frame(CONTACTS, []),
    }
    records, state = settle(records, SyncState.empty())
    edit(records, CONTACTS, 0, "Kari", LATER)
    edit(records, CUST, 0, "Solveig", EDITED)
    records, state = settle(records, state)
    assert converged(records, state)
    assert records[CUST]["FirstName"].to_list() == ["Kari"]


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    people=st.integers(1, 3),
    changes=st.lists(
        st.tuples(
            st.sampled_from(sorted(EDITABLE)),
            st.integers(0, 2),
            st.sampled_from(["Solveig", "Kari", "Åse"]),
            st.integers(1, 28),
        ),
        min_size=1,
        max_size=5,
        unique_by=lambda c: c[3],
    ),
)
def test_s4_conflicts_in_chained_clusters_converge_to_the_newest_edit(people, changes):
    """Several records of chained clusters {customer, contact person, contact} are renamed, at
    distinct times: every cluster settles on one name, the newest edit's (S1, S4)."""
    customer = dict(IsPerson=True, FirstName="Brukerendring", LastName="Nord")
    customers = [dict(customer, Id=i + 1, LastChangedDateTimeOffset=T0) for i in range(people)]
    records = {CUST: frame(CUST, customers), CP: frame(CP, []), CONTACTS: frame(CONTACTS, [])}
    records, state = settle(records, SyncState.empty())
    cluster_of = dict(
        make_plan(records, CHAINED, state).clusters.select("record", "cluster").rows()
    )
    held: dict[str, tuple[str, str]] = {}  # record -> (timestamp, value) of its last edit
    for key, row, value, day in changes:
        if row < records[key].height:
            changed = f"2024-05-{day:02d}T00:00:00+00:00"
            edit(records, key, row, value, changed)
            held[f"{key}:{records[key][datatype(key).id_field][row]}"] = (changed, value)
    newest: dict[str, tuple[str, str]] = {}  # cluster -> its newest edit still held
    for record, (changed, value) in held.items():
        cluster = cluster_of[record]
        newest[cluster] = max(newest.get(cluster, ("", "")), (changed, value))
    records, state = settle(records, state)
    assert converged(records, state)
    for key, column in EDITABLE.items():
        for record, name in (
            records[key]
            .select(pl.format("{}:{}", pl.lit(key), pl.col(datatype(key).id_field)), column)
            .rows()
        ):
            if (cluster := cluster_of[record]) in newest:
                assert name == newest[cluster][1], (record, newest[cluster])


def _renamed_in_two_systems() -> tuple[dict[str, pl.DataFrame], SyncState]:
    """A settled person customer without a first name (so no contact person: FirstName is
    required) and its contact; the user names the customer "Solveig" (older edit) and the
    contact "Brukerendring" (newer). The run inserts the contact person from the customer."""
    customer = dict(Id=1, IsPerson=True, FirstName=None, LastName="Nord")
    records = {
        CUST: frame(CUST, [dict(customer, LastChangedDateTimeOffset=T0)]),
        CP: frame(CP, []),
        CONTACTS: frame(CONTACTS, []),
    }
    records, state = settle(records, SyncState.empty())
    assert records[CP].height == 0 and records[CONTACTS].height == 1
    edit(records, CONTACTS, 0, "Brukerendring", LATER)
    edit(records, CUST, 0, "Solveig", EDITED)
    return records, state


def test_s4_an_insert_carries_the_newest_edit_of_its_cluster():
    """Found by the cut-run property (seed 191319362056133336956180468962167257140, cut after
    write 0): the new contact person took the customer's older value, paired with the contact
    as a first link and overwrote the contact's newer edit; the values then chased each other
    around the ring customer -> contact person -> contact until the rounds ran out, and the
    plan swapped the names (customer "Brukerendring", contact "Solveig"), which no later run
    repaired. The newest edit wins in the whole cluster, in this very run."""
    records, state = _renamed_in_two_systems()
    records, state, plan = run(records, CHAINED, state)
    inserted = plan.inserts.filter(pl.col("datatype") == CP)["values"].to_list()
    assert [json.loads(v)["FirstName"] for v in inserted] == ["Brukerendring"]
    assert plan.updates.select("record", "new_value").rows() == [(f"{CUST}:1", "Brukerendring")]
    for key, column in EDITABLE.items():
        assert records[key][column].to_list() == ["Brukerendring"], key
    assert make_plan(records, CHAINED, state).is_empty


def test_s10_cuts_of_the_insert_run_converge():
    """The same conflict, cut after every write in the sink order that failed (the last write
    landed but was never recorded): every cut converges on one name per cluster."""
    records, state = _renamed_in_two_systems()
    planned = make_plan(records, CHAINED, state).writes.height
    assert planned == 2  # the customer's update and the contact person's insert
    for cut_after in range(planned + 1):
        cut, cut_state, _ = run_cut(
            records,
            CHAINED,
            state,
            sink_order=[CUST, CP, CONTACTS],
            cut_after=cut_after,
            recorded=False,
        )
        cut, cut_state = settle(cut, cut_state)
        assert converged(cut, cut_state), f"cut after write {cut_after}"
        assert {k: v.height for k, v in cut.items()} == {CUST: 1, CP: 1, CONTACTS: 1}


def test_s10_one_edit_cut_anywhere_ends_as_the_uncut_run_and_plans_alike():
    """The second report of that seed (contact renamed, sinks customers, contacts, contact
    persons, last write unrecorded) was a `FlakyFailure`: pytest-timeout (300 s) interrupted
    hypothesis while it shrunk the first failure, and the interrupted example passed when
    replayed. The engine plans one input alike every time; every cut ends as the uncut run."""
    customer = dict(Id=1, IsPerson=True, FirstName=None, LastName="Nord")
    records = {
        CUST: frame(CUST, [dict(customer, LastChangedDateTimeOffset=T0)]),
        CP: frame(CP, []),
        CONTACTS: frame(CONTACTS, []),
    }
    records, state = settle(records, SyncState.empty())
    edit(records, CONTACTS, 0, "Solveig", LATER)
    first = make_plan(records, CHAINED, state)
    for _ in range(3):
        again = make_plan(records, CHAINED, state)
        for name in first.__dataclass_fields__:
            assert getattr(again, name).equals(getattr(first, name)), name
    uncut, uncut_state = settle(*run(records, CHAINED, state)[:2])
    assert uncut[CUST]["FirstName"].to_list() == ["Solveig"]
    for cut_after in range(first.writes.height + 1):
        cut, cut_state, _ = run_cut(
            records,
            CHAINED,
            state,
            sink_order=[CUST, CONTACTS, CP],
            cut_after=cut_after,
            recorded=False,
        )
        cut, cut_state = settle(cut, cut_state)
        where = f"cut after write {cut_after}"
        assert converged(cut, cut_state), where
        assert content(cut) == content(uncut), where
        assert cut_state.synced.height == uncut_state.synced.height, where
