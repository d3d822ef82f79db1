"""Run the sinks of a run at once, a thread per system, and hand their outcomes back to the
step's own thread as each finishes (Dagster's context, log and outputs stay on that thread).

Within a system whose plan inserts, the datatypes are written one after another, in the order
given (`sinks.py`: plan order, those with writes first): a later write may name a record an
earlier one inserts. A system with updates only writes each datatype on a thread of its own, so
one datatype's last commit and receipt do not hold up the next one's writes (the system's pace
and connections are its client's, shared by those threads). A datatype that fails (its system
unreachable, a bug) is reported with its datatype, and the others still run, as separate steps
did: an outage seen by one datatype may not be one for the next.
"""

from __future__ import annotations

import contextlib
import queue
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from dagster import AssetExecutionContext

from talk_assets.defs import sink_writes
from talk_assets.defs.live import PROGRESS_EXTRA
from talk_assets.defs.settings import SyncSettings
from talk_assets.defs.sink_writes import SinkRun
from talk_assets.systems import Datatype

POLL_SECONDS = 0.5
"""How often the step's thread looks at the writer threads while no event arrives."""


def by_system(datatypes: Sequence[Datatype]) -> dict[str, list[Datatype]]:
    systems: dict[str, list[Datatype]] = {}
    for dt in datatypes:
        systems.setdefault(dt.system, []).append(dt)
    return systems


def writer_groups(datatypes: Sequence[Datatype], inserting: set[str]) -> list[list[Datatype]]:
    """The datatypes each writer thread writes, in order: a system's datatypes together when
    one of them (datatype keys in `inserting`) has planned inserts, else each on its own."""
    groups: list[list[Datatype]] = []
    for todo in by_system(datatypes).values():
        if any(dt.key in inserting for dt in todo):
            groups.append(todo)
        else:
            groups.extend([dt] for dt in todo)
    return groups


@contextlib.contextmanager
def writing(
    context: AssetExecutionContext,
    run: SinkRun,
    datatypes: Sequence[Datatype],
    settings: SyncSettings,
) -> Iterator[Iterator[tuple[Datatype, Any]]]:
    """Start the writer threads at once and hand back an iterator of (datatype, `run_sink`'s
    answer or the exception it raised) in the order they finish, which also logs their
    progress on the caller's thread. The caller may do other work on its thread before it
    iterates (the sync step publishes the plan while the systems are written); leaving
    the block waits for every writer, so nothing is left half recorded behind an error."""
    events: queue.Queue[tuple[str, Datatype, Any]] = queue.Queue()
    run.progress = lambda dt, done, total: events.put(("progress", dt, (done, total)))
    writes = run.plan.writes
    inserting = set(writes.filter(writes["op"] == "insert")["datatype"].unique().to_list())
    groups = writer_groups(datatypes, inserting)
    resources = {dt.system: getattr(context.resources, dt.system) for dt in datatypes}

    def write_group(todo: list[Datatype]) -> None:
        for dt in todo:
            try:
                outcome: Any = sink_writes.run_sink(run, dt, settings, resources[dt.system])
            except Exception as error:  # reported with its datatype; the other sinks go on
                outcome = error
            events.put(("done", dt, outcome))

    with ThreadPoolExecutor(max(len(groups), 1), thread_name_prefix="sink") as pool:
        futures = [pool.submit(write_group, todo) for todo in groups]
        yield _outcomes(context, events, futures, len(datatypes))


def _outcomes(
    context: AssetExecutionContext,
    events: queue.Queue[tuple[str, Datatype, Any]],
    futures: Sequence[Future],
    remaining: int,
) -> Iterator[tuple[Datatype, Any]]:
    while remaining:
        try:
            kind, dt, value = events.get(timeout=POLL_SECONDS)
        except queue.Empty:
            _raise_if_died(futures)
            continue
        if kind == "progress":
            _log_progress(context, dt, *value)
            continue
        remaining -= 1
        yield dt, value


def _raise_if_died(futures: Sequence[Future]) -> None:
    """A writer thread that died outside `run_sink` (which reports its own errors): say so."""
    for future in futures:
        error = future.exception() if future.done() else None
        if error is not None:
            raise error


def _log_progress(context: AssetExecutionContext, dt: Datatype, done: int, total: int) -> None:
    """A progress line per batch; the terminal display reads its `talk_progress` extra."""
    if total:
        context.log.info(
            f"{dt.key}: {done}/{total} writes",
            extra={
                PROGRESS_EXTRA: {
                    "done": done,
                    "total": total,
                    "unit": "writes",
                    "task": f"write {dt.system}.{dt.name}",
                }
            },
        )
