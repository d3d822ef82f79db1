"""S9: planning only the clusters that changed gives the plan of planning everything.

A run plans the whole clusters (`engine.scope.closure`) of the records read since the last
plan plus what that plan left open (`carried_over`), reading only their records and state
(`restrict`). Over random sequences of edits, inserts and runs cut after any write, that
plan must equal the full plan: same writes, inserts, rejects, skips, conflicts, merges and
agreements.
"""

from __future__ import annotations

import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from talk_assets.engine import SyncPlan, SyncState, make_plan
from talk_assets.engine.flows import datatypes_of, prepare
from talk_assets.engine.identity import record_key
from talk_assets.engine.scope import (
    LINKED_PAIR_TABLES,
    carried_over,
    closure,
    criterion_values,
    kept_decisions,
    reference_links,
    restrict,
    with_decisions,
)
from talk_assets.flows.spec import committed_flows
from talk_assets.systems import datatype
from talk_assets_tests.engine.sim import run_cut
from talk_assets_tests.engine.test_cascade import sample_frames

FLOWS = committed_flows()
CTXS = prepare(list(FLOWS))
DATATYPES = datatypes_of(CTXS)
EDITABLE = {
    "powerofficego.customers": "FirstName",
    "powerofficego.contactpersons": "LastName",
    "powerofficego.employees": "PhoneNumber",
    "powerofficego.suppliers": "MailAddress.Id",
    "crmoffice.contacts": "givenName",
    "crmoffice.companies": "name",
}
"""A property per datatype a user edits; the supplier's address id moves it between clusters."""
SINKS = sorted(DATATYPES)
COMPARED = ("writes", "insert_sources", "rejects", "skipped", "conflicts", "merges", "baselines")


def changed_keys(before: dict[str, pl.DataFrame], after: dict[str, pl.DataFrame]) -> pl.Series:
    """Keys of records that are new or differ: what an incremental read returns."""
    keys = []
    for key, rows in after.items():
        dt = datatype(key)
        old = before.get(key, rows.clear())
        fresh = rows.join(old, on=rows.columns, how="anti", nulls_equal=True)
        keys.append(fresh.select(record_key(key, dt.id_field).alias("record"))["record"])
    return pl.concat(keys)


def scoped_plan(records, state, seeds: pl.Series, previous: SyncPlan | None) -> SyncPlan:
    links = pl.concat([state.links.select("source", "target"), reference_links(records, DATATYPES)])
    scope = closure(seeds, links, criterion_values(records, CTXS))
    frames, scoped_state = restrict(records, state, scope, DATATYPES)
    inside = scope.implode()
    for table in LINKED_PAIR_TABLES:  # selected by source: a row naming the scope at all
        naming = getattr(state, table).filter(
            pl.col("source").is_in(inside) | pl.col("target").is_in(inside)
        )
        assert naming.height == getattr(scoped_state, table).height, table
    plan = make_plan(frames, FLOWS, scoped_state)
    return plan if previous is None else with_decisions(plan, kept_decisions(previous, scope))


def same(full: SyncPlan, scoped: SyncPlan, where: str) -> None:
    for name in COMPARED:
        expected, got = getattr(full, name), getattr(scoped, name)
        by = expected.columns
        assert got.sort(by, nulls_last=True).equals(expected.sort(by, nulls_last=True)), (
            f"{where}: {name} differ\nfull:\n{expected}\nscoped:\n{got}"
        )


def edit(records, key: str, row: int, value: str, changed: str) -> None:
    frame = records[key]
    if frame.is_empty():
        return
    dt = datatype(key)
    column = EDITABLE[key]
    hit = pl.int_range(pl.len()) == row % frame.height
    new_value = pl.lit(value).cast(frame.schema[column], strict=False)
    records[key] = frame.with_columns(
        pl.when(hit).then(new_value).otherwise(column).alias(column),
        pl.when(hit)
        .then(pl.lit(changed))
        .otherwise(dt.last_changed_field)
        .alias(dt.last_changed_field),
    )


values = st.sampled_from(["Solveig", "Kari", "1", "2", "42"])
steps = st.lists(
    st.one_of(
        st.tuples(st.just("edit"), st.sampled_from(sorted(EDITABLE)), st.integers(0, 20), values),
        st.tuples(st.just("run"), st.integers(0, 12), st.booleans(), st.permutations(SINKS)),
    ),
    min_size=1,
    max_size=8,
)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(1, 50), steps=steps)
def test_s9_incremental_plan_equals_full_plan(seed, steps):
    records = sample_frames(8, seed)
    state = SyncState.empty()
    planned_from = {k: v.clear() for k, v in records.items()}  # nothing read before
    last_plan, confirmed = None, pl.Series("write_id", [], pl.String)
    clock = 0
    for number, step in enumerate([*steps, ("run", 10_000, True, SINKS)]):
        clock += 1
        now = f"2024-06-{clock:02d}T00:00:00+00:00"
        if step[0] == "edit":
            _, key, row, value = step
            edit(records, key, row, value, now)
            continue
        _, cut_after, recorded, sink_order = step
        seeds = changed_keys(planned_from, records)
        if last_plan is not None:
            seeds = pl.concat([seeds, carried_over(last_plan, confirmed)])
        full = make_plan(records, FLOWS, state)
        same(full, scoped_plan(records, state, seeds, last_plan), f"step {number}")
        planned_from = dict(records)
        done: list[str] = []
        records, state, _ = run_cut(
            records,
            FLOWS,
            state,
            sink_order=list(sink_order),
            cut_after=cut_after,
            recorded=recorded,
            now=now,
            confirmed=done,
        )
        last_plan, confirmed = full, pl.Series("write_id", done, pl.String)


def test_s9_closure_takes_in_whole_clusters_through_links_and_criteria():
    links = pl.DataFrame({"source": ["a:1", "b:1"], "target": ["b:1", "c:1"]})
    values = pl.DataFrame(
        {"group": ["g", "g", "g"], "value": ["x", "x", "y"], "record": ["c:1", "d:1", "e:1"]}
    )
    scope = closure(pl.Series(["a:1"]), links, values)
    assert scope.to_list() == ["a:1", "b:1", "c:1", "d:1"]
    assert closure(pl.Series(["e:1"]), links, values).to_list() == ["e:1"]
