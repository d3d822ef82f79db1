"""Finished sinks record their decisions and `sinks_done` rows together (`record_finished`, a
group commit): sinks with nothing to send finish at once, and each used to hold the commit lock
for its own transaction while the busy sinks' first batches waited. The rows still land once
each, before the call returns, and a failed transaction loses nothing."""

from __future__ import annotations

import threading

import polars as pl
import pytest

from talk_assets.defs.progress import SINKS_DONE, sink_done_row
from talk_assets.defs.sink_writes import SinkRun, record_finished
from talk_assets.engine import SyncPlan
from talk_assets.store.tenant import STATE_SCHEMA, TenantStore
from talk_assets_tests.defs.queued import run_queued

SINKS = [f"sinks/system__datatype_{n}" for n in range(6)]


def done_rows(store: TenantStore) -> list[str]:
    table = store.read_table(STATE_SCHEMA, SINKS_DONE)
    return [] if table is None else sorted(table["sink"].to_list())


def test_sinks_finishing_at_once_are_recorded_once_each(tmp_path):
    store = TenantStore(tmp_path / "t.duckdb")
    run = SinkRun(run_id="r1", plan=SyncPlan.empty())
    transactions = []
    write_tables = store.write_tables

    def counted(*args, **kwargs):
        transactions.append(kwargs)
        return write_tables(*args, **kwargs)

    store.write_tables = counted  # type: ignore[method-assign]
    start = threading.Barrier(len(SINKS), timeout=20)
    seen_after_return: dict[str, bool] = {}

    def finish(sink: str) -> None:
        start.wait()
        record_finished(run, store, {SINKS_DONE: sink_done_row("r1", sink)})
        seen_after_return[sink] = sink in done_rows(store)

    # every sink queues up behind a commit in progress
    calls = [lambda sink=sink: finish(sink) for sink in SINKS]
    run_queued(run.commits, calls, lambda: len(run.finishing))

    assert done_rows(store) == sorted(SINKS)  # each once
    assert all(seen_after_return[sink] for sink in SINKS)  # stored before the call returned
    assert len(transactions) == 1  # all six in one transaction
    assert run.finishing == []


def test_a_failed_group_commit_keeps_the_rows_for_the_next(tmp_path):
    store = TenantStore(tmp_path / "t.duckdb")
    run = SinkRun(run_id="r1", plan=SyncPlan.empty())
    write_tables = store.write_tables
    calls = []

    def fails_once(*args, **kwargs):
        calls.append(kwargs)
        if len(calls) == 1:
            raise OSError("disk full")
        return write_tables(*args, **kwargs)

    store.write_tables = fails_once  # type: ignore[method-assign]
    with pytest.raises(OSError, match="disk full"):
        record_finished(run, store, {SINKS_DONE: sink_done_row("r1", SINKS[0])})
    assert done_rows(store) == []
    assert len(run.finishing) == 1  # kept, not lost

    record_finished(run, store, {SINKS_DONE: sink_done_row("r1", SINKS[1])})
    assert done_rows(store) == sorted(SINKS[:2])
    appended = calls[-1]["append"][SINKS_DONE]
    assert isinstance(appended, pl.DataFrame) and appended.height == 2
