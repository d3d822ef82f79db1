"""Dead runs: find runs whose process is gone, finish them, and wait (bounded) for live ones.

An in-process run (`talk-assets sync`, `job.execute_in_process`) that is killed stays STARTED in
run storage and keeps its concurrency pool slots; no daemon watches it, and every later run of
the tenant would wait for the slot forever (STACK_NOTES "Killed runs and concurrency pools").
So each run records its owning process in its tags (`owner_tags`), and the runner, the sensors
and the schedules call `finish_dead_runs` first: a run whose process is gone is marked failed
with the reason, and its pool slots and pending steps are freed. Its insert intents are left to
the next run's recovery (`defs/recovery.py`).

Runs launched by the webserver or the daemon get the same tags when their process sets up the
settings resource (`tag_owner`). A run without them (not yet that far) is not judged here;
Dagster's run monitoring (`run_monitoring` in the dagster.yaml the runner writes) watches it.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from dagster import DagsterInstance, DagsterRun, DagsterRunStatus, RunsFilter

from talk_assets.defs.build import TENANT_TAG
from talk_assets.store.locks import FileLock

PID_TAG = "talk_assets/pid"
HOST_TAG = "talk_assets/host"
START_TAG = "talk_assets/process_start"
"""Owner tags: the process that executes the run, its host, and its start time (Linux clock
ticks since boot; guards against a reused pid)."""

UNFINISHED = [
    DagsterRunStatus.NOT_STARTED,
    DagsterRunStatus.STARTING,
    DagsterRunStatus.STARTED,
    DagsterRunStatus.CANCELING,
]
log = logging.getLogger("talk_assets")


def process_start(pid: int) -> str | None:
    """The start time of process `pid` from /proc (None where there is no /proc)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # the command name (field 2) may hold spaces and parentheses: split after its last ')'
    return stat.rsplit(")", 1)[1].split()[19]


def owner_tags() -> dict[str, str]:
    """Tags naming this process as the owner of a run it executes."""
    pid = os.getpid()
    return {PID_TAG: str(pid), HOST_TAG: socket.gethostname(), START_TAG: process_start(pid) or ""}


def tag_owner(instance: DagsterInstance, run: DagsterRun) -> None:
    """Record this process as the owner of `run`, unless the run already names one (the runner
    tags its runs when it starts them; runs launched by the webserver or daemon get tagged here,
    by the settings resource, when their process starts executing them)."""
    if PID_TAG not in run.tags:
        instance.add_run_tags(run.run_id, owner_tags())


def process_gone(pid: int, start: str = "") -> str | None:
    """Why process `pid` (started at `start`, if known) no longer runs, or None if it does."""
    proc = Path(f"/proc/{pid}/stat")
    if Path("/proc/self/stat").exists():
        try:
            fields = proc.read_text().rsplit(")", 1)[1].split()
        except OSError:
            return f"process {pid} is gone"
        if fields[0] in ("Z", "X"):
            return f"process {pid} is gone (exited)"
        if start and fields[19] != start:
            return f"process {pid} is gone (the pid now belongs to another process)"
        return None
    try:  # no /proc: ask the kernel whether the pid exists
        os.kill(pid, 0)
    except ProcessLookupError:
        return f"process {pid} is gone"
    except PermissionError:
        return None
    return None


def why_dead(run: DagsterRun) -> str | None:
    """Why `run` is dead, or None when it is alive or not ours to judge (no owner tags, or
    owned by a process on another host)."""
    pid = run.tags.get(PID_TAG, "")
    if not pid.isdigit() or run.tags.get(HOST_TAG) != socket.gethostname():
        return None
    return process_gone(int(pid), run.tags.get(START_TAG, ""))


def owner(run: DagsterRun) -> str:
    """The run's owning process in words."""
    pid = run.tags.get(PID_TAG)
    if not pid:
        return "launched by Dagster"
    host = run.tags.get(HOST_TAG)
    return f"pid {pid}" + ("" if host == socket.gethostname() else f" on {host}")


@dataclass(frozen=True)
class FinishedRun:
    run_id: str
    reason: str
    freed_slots: int
    dropped_steps: int

    def __str__(self) -> str:
        slots = f"freed {self.freed_slots} pool slot{'s' * (self.freed_slots != 1)}"
        steps = (
            f", dropped {self.dropped_steps} pending step{'s' * (self.dropped_steps != 1)}"
            if self.dropped_steps
            else ""
        )
        return f"finished dead run {self.run_id} ({self.reason}): marked failed, {slots}{steps}"


def unfinished_runs(instance: DagsterInstance, tenant: str | None = None) -> list[DagsterRun]:
    tags = {TENANT_TAG: tenant} if tenant else None
    return list(instance.get_runs(filters=RunsFilter(statuses=UNFINISHED, tags=tags)))


def _slots_of(instance: DagsterInstance, run_id: str) -> tuple[int, int]:
    """(claimed pool slots, pending steps without a slot) of one run."""
    storage = instance.event_log_storage
    if not storage.supports_global_concurrency_limits:
        return 0, 0
    claimed = pending = 0
    for info in storage.get_concurrency_infos(list(storage.get_concurrency_keys())).values():
        held = {s.step_key for s in info.claimed_slots if s.run_id == run_id}
        claimed += len(held)
        pending += sum(
            1 for p in info.pending_steps if p.run_id == run_id and p.step_key not in held
        )
    return claimed, pending


def _free(instance: DagsterInstance, run_id: str) -> tuple[int, int]:
    claimed, pending = _slots_of(instance, run_id)
    if claimed or pending:
        instance.event_log_storage.free_concurrency_slots_for_run(run_id)
    return claimed, pending


def finish_run(instance: DagsterInstance, run: DagsterRun, reason: str) -> FinishedRun:
    """Mark `run` failed with `reason` and free its pool slots and pending steps."""
    current = instance.get_run_by_id(run.run_id)
    if current is not None and not current.is_finished:
        instance.report_run_failed(
            current, f"talk-assets found this run dead ({reason}) and marked it failed."
        )
    claimed, pending = _free(instance, run.run_id)
    done = FinishedRun(run.run_id, reason, claimed, pending)
    log.info("%s", done)
    return done


def finish_dead_runs(instance: DagsterInstance, tenant: str | None = None) -> list[FinishedRun]:
    """Finish every unfinished run (of `tenant`, or of all tenants) whose process is gone, and
    free the pool slots still held by runs that already ended. What was done, for the log."""
    done = []
    for run in unfinished_runs(instance, tenant):
        reason = why_dead(run)
        if reason:
            done.append(finish_run(instance, run, reason))
    storage = instance.event_log_storage
    if storage.supports_global_concurrency_limits:
        for run_id in storage.get_concurrency_run_ids():
            run = instance.get_run_by_id(run_id)
            if run is None or run.is_finished:
                claimed, pending = _free(instance, run_id)
                if claimed or pending:
                    status = run.status.value if run else "deleted"
                    done.append(FinishedRun(run_id, f"already {status}", claimed, pending))
                    log.info("%s", done[-1])
    return done


def holding_runs(instance: DagsterInstance, tenant: str) -> list[DagsterRun]:
    """Live runs that hold the tenant: started ones, and ours that are about to start."""
    return [
        r
        for r in unfinished_runs(instance, tenant)
        if r.status != DagsterRunStatus.NOT_STARTED or PID_TAG in r.tags
    ]


class TenantBusy(RuntimeError):
    """A live run kept the tenant for longer than we were willing to wait."""

    def __init__(self, tenant: str, waited: float, run: DagsterRun | None, pid: int | None):
        holder = f"run {run.run_id} ({owner(run)})" if run else f"talk-assets process pid {pid}"
        super().__init__(f"tenant {tenant} is held by {holder}; gave up after {waited:.0f} s")
        self.run_id = run.run_id if run else None


@contextmanager
def hold_tenant(
    instance: DagsterInstance,
    tenant: str,
    lock_path: Path,
    *,
    wait: float,
    say: Callable[[str], None],
    poll: float = 0.5,
) -> Iterator[list[FinishedRun]]:
    """Hold `tenant` for one in-process run: finish its dead runs, wait at most `wait` seconds
    for a live one (saying so), then keep an OS lock on `lock_path` until the block ends, so
    that two `talk-assets sync` processes never start a run of one tenant at once.

    Yields the dead runs it finished; raises `TenantBusy` naming the holder when time is up.
    """
    lock = FileLock(lock_path)
    deadline = time.monotonic() + wait
    finished: list[FinishedRun] = []
    announced: set[str] = set()
    while True:
        for done in finish_dead_runs(instance, tenant):
            say(str(done))
            finished.append(done)
        holders = holding_runs(instance, tenant)
        if not holders and lock.try_acquire():
            holders = holding_runs(instance, tenant)  # one may have started meanwhile
            if not holders:
                break
            lock.release()
        pid = None if holders else lock.holder()
        run = holders[0] if holders else _run_of(instance, tenant, pid)
        key = run.run_id if run else f"pid {pid}"
        if key not in announced:
            announced.add(key)
            what = f"run {run.run_id} ({owner(run)})" if run else f"talk-assets process pid {pid}"
            say(f"waiting up to {wait:.0f} s for {what} that holds tenant {tenant} ...")
        if time.monotonic() >= deadline:
            raise TenantBusy(tenant, wait, run, pid)
        time.sleep(min(poll, max(0.0, deadline - time.monotonic())))
    try:
        yield finished
    finally:
        lock.release()


def _run_of(instance: DagsterInstance, tenant: str, pid: int | None) -> DagsterRun | None:
    for run in unfinished_runs(instance, tenant):
        if pid is not None and run.tags.get(PID_TAG) == str(pid):
            return run
    return None
