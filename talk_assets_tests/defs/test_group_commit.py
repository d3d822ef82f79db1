"""Sink batches that wait for the commit lock at once are recorded in one transaction
(`sink_writes._commit_now`, a group commit): at the end of a run every busy sink's last batch
waits at once, and a commit costs about the same whatever its size. Each batch still lands
once, before its sink goes on; a failed commit records none of its batches and says so to
every sink whose batch was in it. (That the merged commit records the same state as one
commit per batch is `test_cascade.test_s10_a_group_commit_records_...`.)"""

from __future__ import annotations

import polars as pl

from talk_assets.defs import connectors, sink_writes
from talk_assets.defs.sink_writes import SentBatch, SinkRun
from talk_assets.defs.synclog import SYNC_LOG
from talk_assets.engine import SyncPlan
from talk_assets.store.tenant import STATE_SCHEMA, TenantStore
from talk_assets_tests.defs.queued import run_queued

SINKS = 4


def a_batch(number: int) -> SentBatch:
    """A batch with one sync-log row (no writes of the plan: nothing else to record)."""
    row = pl.DataFrame({"write_id": [f"w{number}"], "run_id": ["r1"]})
    log = pl.concat([pl.DataFrame(schema=SYNC_LOG), row], how="diagonal_relaxed")
    return SentBatch([], connectors.results_frames([])[0], log, (), None)


def logged(store: TenantStore) -> list[str]:
    table = store.read_table(STATE_SCHEMA, "sync_log")
    return [] if table is None else sorted(table["write_id"].to_list())


def commit_at_once(run: SinkRun, store: TenantStore, batches: list[SentBatch]) -> dict:
    """Each batch committed by its own thread, all queued behind a commit in progress; the
    error each thread raised, if any."""
    errors: dict[int, BaseException] = {}

    def sink(number: int) -> None:
        try:
            sink_writes._commit_now(run, store, batches[number])
        except BaseException as error:  # what the sink would report
            errors[number] = error

    calls = [lambda number=number: sink(number) for number in range(len(batches))]
    run_queued(run.commits, calls, lambda: len(run.waiting))
    return errors


def counting(store: TenantStore, fail_first: bool = False) -> list[dict]:
    transactions: list[dict] = []
    write_tables = store.write_tables

    def counted(*args, **kwargs):
        transactions.append(kwargs)
        if fail_first and len(transactions) == 1:
            raise OSError("disk full")
        return write_tables(*args, **kwargs)

    store.write_tables = counted  # type: ignore[method-assign]
    return transactions


def test_batches_waiting_at_once_are_recorded_in_one_commit(tmp_path):
    store = TenantStore(tmp_path / "t.duckdb")
    run = SinkRun(run_id="r1", plan=SyncPlan.empty())
    batches = [a_batch(n) for n in range(SINKS)]
    transactions = counting(store)

    assert commit_at_once(run, store, batches) == {}
    assert logged(store) == [f"w{n}" for n in range(SINKS)]  # each once
    assert len(transactions) == 1
    assert all(batch.recorded and batch.error is None for batch in batches)
    assert run.waiting == [] and run.standing_recorded


def test_a_failed_group_commit_fails_every_sink_in_it_and_records_none(tmp_path):
    store = TenantStore(tmp_path / "t.duckdb")
    run = SinkRun(run_id="r1", plan=SyncPlan.empty())
    batches = [a_batch(n) for n in range(SINKS)]
    counting(store, fail_first=True)

    errors = commit_at_once(run, store, batches)
    assert sorted(errors) == list(range(SINKS))  # every sink hears of it
    assert all(isinstance(error, OSError) for error in errors.values())
    assert logged(store) == []  # S10: none of the group recorded
    assert run.waiting == []

    sink_writes._commit_now(run, store, later := a_batch(9))  # the next commit works
    assert logged(store) == ["w9"] and later.recorded


def test_a_batch_alone_is_committed_at_once(tmp_path):
    store = TenantStore(tmp_path / "t.duckdb")
    run = SinkRun(run_id="r1", plan=SyncPlan.empty())
    transactions = counting(store)
    for number in range(2):
        sink_writes._commit_now(run, store, a_batch(number))
        assert logged(store) == [f"w{n}" for n in range(number + 1)]
    assert len(transactions) == 2
    assert run.waiting == []
