"""The sinks step writes every system at once, a thread per system (issue 10: an initial load
takes max(requests per system / limit), not the sum). `run_sink` is replaced here: what is
tested is the threading, not the writes (the e2e tests write for real through this step)."""

from __future__ import annotations

import threading

import pytest
from dagster import Failure, build_asset_context

from talk_assets.defs import sink_writes
from talk_assets.defs.settings import SyncSettings
from talk_assets.defs.sink_threads import by_system, write_concurrently
from talk_assets.defs.sink_writes import SinkRun
from talk_assets.defs.sinks import busy_first, sink_datatypes
from talk_assets.flows.catalog import active_flows
from talk_assets.systems import resolve_flow


@pytest.fixture
def datatypes():
    found = sink_datatypes([resolve_flow(f) for f in active_flows()])
    assert len(by_system(found)) == 2
    return found


def run_all(datatypes, monkeypatch, fake, tmp_path):
    monkeypatch.setattr(sink_writes, "run_sink", fake)
    context = build_asset_context(resources={system: object() for system in by_system(datatypes)})
    run = SinkRun(run_id="r1", plan=None)  # type: ignore[arg-type]
    settings = SyncSettings(home=str(tmp_path))
    return dict(write_concurrently(context, run, datatypes, settings))


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
