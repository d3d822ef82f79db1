"""What one sink does for one target datatype: execute this run's planned writes through the
system's connector and, after every batch, record the confirmed writes (links, last synced
values, insert tracking) and the sync log in one transaction (S10, S11). The receipt is what
was written, rejected, and why.

Sinks of different systems run at once (`sinks.py`), so a `SinkRun` carries what they share:
the run id, the progress callback and the lock that serializes their state commits.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import polars as pl
from dagster import AssetKey, Failure

from talk_assets.defs import connectors
from talk_assets.defs.duplicate_inserts import duplicate_inserts, known_duplicates
from talk_assets.defs.progress import SINKS_DONE, sink_done_row
from talk_assets.defs.recovery import INTENTS_TABLE
from talk_assets.defs.run_state import COMMIT_READS, RunState
from talk_assets.defs.settings import SyncSettings
from talk_assets.defs.sink_receipts import planned_outcomes, receipt_metadata
from talk_assets.defs.state_rows import delta_tables, fold_synced, remove_keys, state_of
from talk_assets.defs.synclog import (
    SYNC_LOG,
    confirmed_writes,
    decision_log,
    now,
    value_history,
    write_log,
)
from talk_assets.engine import SyncPlan
from talk_assets.engine.apply import (
    WRITE_COLUMNS,
    batch_plan,
    merged_plans,
    plan_records,
    state_delta,
)
from talk_assets.store.tenant import STATE_SCHEMA, TenantStore
from talk_assets.systems import Datatype

BATCH = 500
"""Writes per committed batch, at least: bounds what a crash leaves unrecorded (insert
intents cover that window, see `recovery.py`)."""
MAX_COMMITS = 20
"""Batches per sink, at most, while batches stay within `MAX_BATCH`: a commit costs about
50 ms of CPU whatever its size (some 40 polars operations, 10 DuckDB statements at ~1.5 ms)
plus its rows, so big sinks use bigger batches (at 10k records per datatype: 270 -> 115
commits, 61 -> 53 s of CPU for the initial load); insert intents cover the window."""
MAX_BATCH = 2000
"""Writes per batch, at most: what a crash can leave to look up again (`recovery.py`) stays
bounded in very big sinks (which then commit more often than `MAX_COMMITS`)."""


@dataclass
class SinkRun:
    """What the sinks of one run share."""

    run_id: str
    plan: SyncPlan
    progress: Callable[[Datatype, int, int], None] = lambda _dt, _done, _total: None
    """Called after every batch with (datatype, writes done, writes planned)."""
    commits: threading.Lock = field(default_factory=threading.Lock)
    """Held for every state write: sinks of other systems commit in between, never at once."""
    confirmed: set[str] | None = None
    """Write ids this run recorded as confirmed so far, by any sink (read once from the sync
    log, then kept as commits add to it; guarded by `commits`)."""
    state_tables: set[str] = field(default_factory=set)
    """State tables known to exist (a table is never dropped: only absent ones are looked
    up again; guarded by `commits`)."""
    standing_recorded: bool = False
    """Whether a commit of this run recorded the plan's merges and agreements (`batch_plan`)."""
    duplicates_before: pl.DataFrame | None = None
    """Duplicate inserts of every datatype as the first sink that inserted nothing found them
    (`_duplicates`; guarded by `duplicates_lock`)."""
    whole_check: bool = False
    """Whether the duplicates check reads all of insert tracking this run (a full read)."""
    duplicates_lock: threading.Lock = field(default_factory=threading.Lock)
    """Held while `duplicates_before` is looked up: once per run, without holding up commits
    (the query reads; at 100k records it takes a few tenths of a second)."""
    memory: RunState | None = None
    """The state rows commits read, from the plan's own state and earlier commits (when this
    process made the plan; else read from the file each commit; guarded by `commits`)."""
    finishing: list[dict[str, pl.DataFrame]] = field(default_factory=list)
    """Rows of finished sinks waiting for `record_finished` (guarded by `finishing_lock`)."""
    finishing_lock: threading.Lock = field(default_factory=threading.Lock)
    waiting: list[SentBatch] = field(default_factory=list)
    """Batches waiting for the commit lock (`_commit_now`; guarded by `waiting_lock`)."""
    waiting_lock: threading.Lock = field(default_factory=threading.Lock)


@dataclass
class SentBatch:
    """One sent batch's outcome, to be recorded (`_commit_now`)."""

    write_ids: list[str]
    results: pl.DataFrame
    log: pl.DataFrame | None
    settled: Sequence[str]
    scoped: SyncPlan | None
    """The plan's part for the sink's writes (`_write_batches`); None: the whole plan."""
    recorded: bool = False
    """Set (under the commit lock) once a commit took the batch, with `error` if it failed."""
    error: BaseException | None = None


def sink_key(dt: Datatype) -> AssetKey:
    return AssetKey(["sinks", f"{dt.system}__{dt.name}"])


def sink_name(dt: Datatype) -> str:
    """The sink's name in the `sinks_done` progress table (its asset key)."""
    return sink_key(dt).to_user_string()


def run_sink(run: SinkRun, dt: Datatype, settings: SyncSettings, resource):
    """Write `dt`'s share of the plan; (receipt, materialization metadata, duplicate inserts).
    Raises `Failure` when the system cannot be used (what was written before stays recorded)."""
    store = settings.store()
    run_id, plan = run.run_id, run.plan
    writes = plan.writes.filter(pl.col("datatype") == dt.key).sort("write_id")
    started = now()
    decisions = decision_log(plan, dt.key, run_id, started)
    if not settings.retry_rejected:  # a retry logs its rejects again: the retry's answer
        decisions = _new_decisions(store, _planned_now(plan, decisions))

    run.progress(dt, 0, writes.height)
    if settings.dry_run:  # publish the plan, change nothing (S12)
        receipt = write_log(plan, writes, planned_outcomes(writes), run_id, started)
        return (
            receipt,
            receipt_metadata(receipt, decisions, plan, dt, dry_run=True),
            _duplicates(run, store, dt, inserted=False, keep=False),
        )

    logs, fatal = _write_batches(run, store, dt, settings, resource, writes)
    if run.plan.writes.is_empty():  # else the first commit of a batch records them
        _record_standing(run, store)
    # The last write of the sink: its plan is done (`progress.py`); a fatal stop is not done.
    done = {} if fatal else {SINKS_DONE: sink_done_row(run_id, sink_name(dt))}
    record_finished(run, store, {"sync_log": decisions, **done})
    receipt = pl.concat([pl.DataFrame(schema=SYNC_LOG), *logs])
    if fatal:
        raise Failure(
            description=f"{dt.system} cannot be used, stopped writing {dt.key}: {fatal}",
            metadata={"written_before_stop": receipt.height},
        )
    inserted = bool((writes["op"] == "insert").any())
    metadata = receipt_metadata(receipt, decisions, plan, dt, dry_run=False)
    return receipt, metadata, _duplicates(run, store, dt, inserted=inserted)


def record_finished(run: SinkRun, store: TenantStore, rows: dict[str, pl.DataFrame]) -> None:
    """Append a finished sink's rows (its decisions, its `sinks_done` row) together with those
    of the sinks that finished meanwhile, in one transaction (a group commit): the sinks with
    nothing to send all finish at once, and one by one they held the commit lock for about
    0.1 s each while the busy sinks' first batches waited for it. Returns once the rows are
    stored: by this call, or by another sink's, which stored them before it let the lock go."""
    with run.finishing_lock:
        run.finishing.append(rows)
    with run.commits:
        with run.finishing_lock:
            batch, run.finishing = run.finishing, []
        if not batch:  # another sink's call stored them
            return
        tables: dict[str, list[pl.DataFrame]] = {}
        for finished in batch:
            for name, frame in finished.items():
                tables.setdefault(name, []).append(frame)
        try:
            store.write_tables(append={name: pl.concat(frames) for name, frames in tables.items()})
        except BaseException:  # not stored: the next sink to get here tries again (or raises)
            with run.finishing_lock:
                run.finishing[:0] = batch
            raise


def _write_batches(
    run: SinkRun,
    store: TenantStore,
    dt: Datatype,
    settings: SyncSettings,
    resource,
    writes: pl.DataFrame,
) -> tuple[list[pl.DataFrame], str | None]:
    """Send `writes` in batches and record each; (sync-log rows, the fatal error if the system
    could not be used). A batch is recorded while the next one is sent, and the one after is
    prepared (its intents written): the system is not kept waiting for our transactions. A
    batch's answer is awaited before the next batch goes out, so a fatal answer stops the sink
    before anything more is sent (the intents of the prepared batch go with that commit)."""
    size = min(max(BATCH, -(-writes.height // MAX_COMMITS)), MAX_BATCH)
    batches = [writes.slice(start, size) for start in range(0, writes.height, size)]
    # this sink's part of the plan, once: what a batch's ops, log and commit read of it
    # (`batch_plan` of a batch of these writes from this equals that from the whole plan, but
    # for the standing part: taken from the whole plan)
    scoped = batch_plan(run.plan, writes["write_id"], standing=False)

    def prepare(batch: pl.DataFrame) -> list[connectors.WriteOp]:
        """The batch's ops, its inserts recorded as intended (done while the batch before it
        is being sent: the system does not wait for this transaction)."""
        ids = batch["write_id"].implode()
        sources = scoped.insert_sources.filter(pl.col("write_id").is_in(ids))
        ops = connectors.build_ops(batch, dt, settings.tenant, sources)
        # Write-ahead: inserts are recorded as intended before they are sent. A crash after a
        # system stored them but before `_commit` leaves the intent, and the next run looks
        # the reference up before planning (`recovery.py`) instead of inserting twice (S10).
        intended = connectors.intents(ops, dt.key, run.run_id, sources)
        if intended.height:  # updates only: no transaction, no wait for the commit lock
            with run.commits:
                store.write_tables(append={INTENTS_TABLE: intended})
        return ops

    logs: list[pl.DataFrame] = []
    fatal = None
    done = 0
    with ThreadPoolExecutor(1, thread_name_prefix=f"send-{dt.system}") as sender:
        sending = (
            sender.submit(connectors.execute, resource, prepare(batches[0])) if batches else None
        )
        ready = prepare(batches[1]) if len(batches) > 1 else None
        for number, batch in enumerate(batches):
            assert sending is not None
            results = sending.result()
            fatal = connectors.fatal_error(results)
            sending = None
            if ready is not None and not fatal:
                sending, ready = sender.submit(connectors.execute, resource, ready), None
            result_frame, outcomes = connectors.results_frames(results)
            log = write_log(scoped, batch, outcomes, run.run_id, now())
            settled = connectors.settled_references(results) + connectors.unsent(ready, results)
            sent = SentBatch(batch["write_id"].to_list(), result_frame, log, settled, scoped)
            _commit_now(run, store, sent)
            logs.append(log)
            done += batch.height
            run.progress(dt, done, writes.height)
            if fatal:
                break
            if number + 2 < len(batches):
                ready = prepare(batches[number + 2])
    return logs, fatal


def _record_standing(run: SinkRun, store: TenantStore) -> None:
    """Record the run's new merge links and agreements in a run without writes: once, by the
    first sink to get here (the others would hold up the commit lock for nothing)."""
    with run.commits:
        if run.standing_recorded:
            return
        standing = SentBatch([], connectors.results_frames([])[0], None, (), None)
        _commit_now(run, store, standing, locked=True)


def _commit_now(
    run: SinkRun, store: TenantStore, batch: SentBatch, *, locked: bool = False
) -> None:
    """Record `batch` under the run's commit lock (`locked`: the caller holds it, and it is
    recorded alone), in a group commit: the batches of other sinks that wait for the lock
    meanwhile are recorded in the same transaction, by whichever of their threads gets the
    lock first. A commit's cost is mostly fixed (some 100 polars operations, each of which
    gives up the GIL and waits for it again while the HTTP threads run), so at the end of a run,
    when every sink's last batch waits at once, one commit instead of one each shortens the
    run's tail. Raises the commit's error in every thread whose batch was in it (S10: none of
    the group is recorded)."""
    if locked:
        _commit_group(run, store, [batch])
        return
    with run.waiting_lock:
        run.waiting.append(batch)
    with run.commits:
        if not batch.recorded:  # else another sink's group commit took it
            with run.waiting_lock:
                group, run.waiting = run.waiting, []
            try:
                _commit_group(run, store, group)
            except BaseException as error:
                for waiting in group:
                    waiting.error = error
                raise
            finally:
                for waiting in group:
                    waiting.recorded = True
    if batch.error is not None:
        raise batch.error


def _commit_group(run: SinkRun, store: TenantStore, group: Sequence[SentBatch]) -> None:
    """`_commit` of batches (the caller holds the commit lock), with the part of the plan they
    can change and the writes this run confirmed before them (by any sink)."""
    if run.confirmed is None:
        run.confirmed = set(confirmed_writes(store, run.run_id).to_list())
    if not run.state_tables.issuperset(COMMIT_READS):
        run.state_tables = store.table_names(STATE_SCHEMA)
    parts = []
    for batch in group:
        standing = not run.standing_recorded and not parts  # the run's first commit
        whole = run.plan if batch.scoped is None or standing else batch.scoped
        parts.append(batch_plan(whole, batch.write_ids, standing=standing))
    plan = merged_plans(parts)
    # of the writes confirmed earlier, those the group's baselines wait for: all that
    # `state_delta` asks of them (the whole list grows with the run)
    waited_for = pl.concat([plan.baselines[c].cast(pl.String) for c in WRITE_COLUMNS])
    earlier = [w for w in waited_for.drop_nulls().unique().to_list() if w in run.confirmed]
    logs = [batch.log for batch in group if batch.log is not None]
    results = pl.concat([batch.results for batch in group])
    _commit(
        store,
        plan,
        results,
        pl.concat(logs) if logs else None,
        run.run_id,
        [reference for batch in group for reference in batch.settled],
        confirmed_earlier=earlier,
        present=run.state_tables,
        memory=run.memory,
    )
    run.standing_recorded = True
    run.confirmed.update(results.filter(pl.col("ok"))["write_id"].to_list())


def _commit(
    store: TenantStore,
    plan: SyncPlan,
    results: pl.DataFrame,
    log: pl.DataFrame | None,
    run_id: str,
    settled: Sequence[str] = (),
    *,
    confirmed_earlier: Sequence[str] = (),
    present: set[str] | None = None,
    memory: RunState | None = None,
) -> None:
    """Fold confirmed writes into the state, with their log rows, and drop the intents of
    settled inserts: one transaction (S10), touching only the rows this batch changes.
    `confirmed_earlier`: writes of this run confirmed by earlier batches or sinks, so a pair
    written on both sides advances once both are. `present`: the state tables known to exist
    (else looked up). `memory`: the run's state rows, read instead of the file and told what
    this commit appended."""
    # insert tracking only for a batch with inserts, and by source: `state_delta` looks its
    # rows up by the source of an insert
    reads = COMMIT_READS if plan.insert_sources.height else ("links",)
    if memory is None:
        state = state_of(
            store, plan_records(plan), tables=reads, present=present, by_source=("inserted",)
        )
    else:
        state = memory.of(plan_records(plan), reads, by_source=("inserted",))
    delta = state_delta(state, plan, results, confirmed_earlier=confirmed_earlier)
    tables = delta_tables(delta)
    append = tables["append"]
    if log is not None and log.height:
        confirmed = results.filter(pl.col("ok")).select("write_id", "new_id")
        append["sync_log"] = log
        append["sync_values"] = value_history(plan, confirmed, run_id, now())
    remove = {INTENTS_TABLE: remove_keys("reference", settled)} if settled else {}
    store.write_tables(append=append, upsert=tables["upsert"], remove=remove)
    if memory is not None:
        memory.add(append)
    if tables["upsert"]:
        fold_synced(store)


def _planned_now(plan: SyncPlan, decisions: pl.DataFrame) -> pl.DataFrame:
    """The decisions about records this plan planned (those of its clusters): an incremental
    plan carries the rest over from the plans that made them (`scope.kept_decisions`), whose
    sinks logged them, so they are not looked up in the log again (45k carried rejects at 100k
    records: 0.2 s a run)."""
    return decisions.filter(pl.col("source_record").is_in(plan.clusters["record"].implode()))


def _new_decisions(store: TenantStore, decisions: pl.DataFrame) -> pl.DataFrame:
    """Rejects and skips not logged before with the same reason: an unchanged record that is
    rejected again every run is reported by the plan, not logged again and again."""
    if decisions.is_empty() or "sync_log" not in store.table_names(STATE_SCHEMA):
        return decisions
    key = ["operation", "flows", "source_record", "properties", "error"]
    logged = store.query(
        f"select distinct {', '.join(key)} from {STATE_SCHEMA}.sync_log "
        "where operation in ('reject', 'skip') "
        "and source_record in (select source_record from decided)",
        decided=decisions.select("source_record"),
    )
    return decisions.join(logged, on=key, how="anti", nulls_equal=True)


def _duplicates(
    run: SinkRun, store: TenantStore, dt: Datatype, *, inserted: bool, keep: bool = True
) -> pl.DataFrame:
    """Insert tracking rows that point two inserts of one source record into `dt`. Only
    `dt`'s sink inserts into `dt`, so a sink that inserted nothing this run finds what the run
    started with: one answer for every datatype serves every such sink
    (`duplicate_inserts.known_duplicates`: a whole check only when tracking grew; `keep`: its
    answer is kept for later runs, not in a dry run)."""
    if inserted:
        return duplicate_inserts(store, dt.key + ":").drop("datatype")
    with run.duplicates_lock:
        if run.duplicates_before is None:
            run.duplicates_before = known_duplicates(
                store, whole=run.whole_check, write_lock=run.commits, keep=keep
            )
        known = run.duplicates_before
    return known.filter(pl.col("datatype") == dt.key).drop("datatype")
