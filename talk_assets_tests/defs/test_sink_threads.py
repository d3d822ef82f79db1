"""The sync step writes every system at once, a thread per system (issue 10: an initial load
takes max(requests per system / limit), not the sum), and with updates only every datatype at
once. `run_sink` is replaced here: what is tested is the threading, not the writes (the e2e
tests write for real through this step)."""

from __future__ import annotations

import threading

import polars as pl
import pytest
from dagster import Failure, build_asset_context

from talk_assets.defs import sink_writes
from talk_assets.defs.settings import SyncSettings
from talk_assets.defs.sink_threads import by_system, writer_groups, writing
from talk_assets.defs.sink_writes import SinkRun
from talk_assets.defs.sinks import busy_first, sink_datatypes
from talk_assets.engine import SyncPlan
from talk_assets.flows.catalog import active_flows
from talk_assets.systems import resolve_flow


@pytest.fixture
def datatypes():
    found = sink_datatypes([resolve_flow(f) for f in active_flows()])
    assert len(by_system(found)) == 2
    return found


def plan_of(datatypes, op: str) -> SyncPlan:
    """A plan with one write of `op` into each datatype (all `run_sink` fakes look at)."""
    empty = SyncPlan.empty()
    writes = pl.DataFrame(
        {"datatype": [dt.key for dt in datatypes], "op": [op] * len(datatypes)}
    ).cast(dict(empty.writes.select("datatype", "op").schema))
    return SyncPlan(**{**empty.frames(), "writes": writes})


def run_all(datatypes, monkeypatch, fake, tmp_path, op="insert"):
    monkeypatch.setattr(sink_writes, "run_sink", fake)
    context = build_asset_context(resources={system: object() for system in by_system(datatypes)})
    run = SinkRun(run_id="r1", plan=plan_of(datatypes, op))
    settings = SyncSettings(home=str(tmp_path))
    with writing(context, run, datatypes, settings) as outcomes:
        return dict(outcomes)


def test_sinks_of_both_systems_write_at_the_same_time(datatypes, monkeypatch, tmp_path):
    both = threading.Barrier(2, timeout=20)  # broken unless both systems write at once
    order: dict[str, list[str]] = {}
    seen_threads: set[int] = set()

    def fake(run, dt, settings, resource):
        if dt.key == by_system(datatypes)[dt.system][0].key:
            both.wait()  # the first sink of each system waits for the other system's
        order.setdefault(dt.system, []).append(dt.key)
        seen_threads.add(threading.get_ident())
        run.progress(dt, 1, 1)
        return dt.key

    outcomes = run_all(datatypes, monkeypatch, fake, tmp_path)
    assert {dt.key: v for dt, v in outcomes.items()} == {dt.key: dt.key for dt in datatypes}
    assert len(seen_threads) == 2 and threading.get_ident() not in seen_threads
    for system, todo in by_system(datatypes).items():  # in order within a system
        assert order[system] == [dt.key for dt in todo]


def test_with_updates_only_every_datatype_writes_at_the_same_time(datatypes, monkeypatch, tmp_path):
    """No insert planned: no write can name a record inserted this run, so one datatype's last
    commit and receipt do not hold up the next one of its system."""
    everyone = threading.Barrier(len(datatypes), timeout=20)  # broken unless all at once
    seen_threads: set[int] = set()

    def fake(run, dt, settings, resource):
        everyone.wait()
        seen_threads.add(threading.get_ident())
        return dt.key

    outcomes = run_all(datatypes, monkeypatch, fake, tmp_path, op="update")
    assert {dt.key for dt in outcomes} == {dt.key for dt in datatypes}
    assert len(seen_threads) == len(datatypes)


def test_a_system_that_inserts_is_written_in_order(datatypes):
    systems = by_system(datatypes)
    first_system, other = list(systems)
    inserting = {systems[first_system][-1].key}
    groups = writer_groups(datatypes, inserting)
    assert systems[first_system] in groups  # together, in the order given
    assert [[dt] for dt in systems[other]] == [g for g in groups if g[0].system == other]


def test_a_failing_sink_is_reported_with_its_datatype_and_the_others_go_on(
    datatypes, monkeypatch, tmp_path
):
    broken = datatypes[0]

    def fake(run, dt, settings, resource):
        if dt.key == broken.key:
            raise Failure(description=f"{dt.system} cannot be used")
        return "ok"

    outcomes = {dt.key: v for dt, v in run_all(datatypes, monkeypatch, fake, tmp_path).items()}
    assert isinstance(outcomes.pop(broken.key), Failure)
    assert set(outcomes.values()) == {"ok"} and len(outcomes) == len(datatypes) - 1


def test_sinks_with_writes_go_first_within_their_system(datatypes):
    last = datatypes[0]
    planned = {dt.key for dt in datatypes[1:]}
    ordered = busy_first(datatypes, planned)
    assert ordered[-1].key == last.key
    assert [dt.key for dt in ordered[:-1]] == [dt.key for dt in datatypes[1:]]
    assert busy_first(datatypes, {dt.key for dt in datatypes}) == list(datatypes)


def test_standing_of_a_run_without_writes_is_recorded_once(monkeypatch):
    """Every sink of a run without writes asks to record its merges and agreements: one
    commit does it, the others neither commit again nor hold the commit lock for nothing."""
    commits = []

    def fake_commit(run, store, *args, locked=False, **kwargs):
        assert locked  # called under the commit lock `_record_standing` holds
        commits.append(threading.get_ident())
        run.standing_recorded = True

    monkeypatch.setattr(sink_writes, "_commit_now", fake_commit)
    run = SinkRun(run_id="r1", plan=SyncPlan.empty())
    start = threading.Barrier(8, timeout=20)

    def sink() -> None:
        start.wait()
        sink_writes._record_standing(run, store=None)

    threads = [threading.Thread(target=sink) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(commits) == 1
    assert run.standing_recorded
