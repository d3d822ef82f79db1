"""Live progress of an in-process run on the terminal (stderr, rich), driven by Dagster events.

`run_sync` adds a `progress` logger to the job for the run; Dagster hands it every event of
the run (STEP_START, ASSET_MATERIALIZATION, STEP_SUCCESS, ...) and every `context.log` line.
A line per step: reads per datatype (records read), planning, and writes per sink with
count, rate and ETA (the sinks log `talk_progress={"done": n, "total": m}` per batch).
Nothing here changes what a step does; a broken display never breaks a run.
"""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Iterator
from typing import Any

from dagster import LoggerDefinition
from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    ProgressColumn,
    SpinnerColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

PROGRESS_EXTRA = "talk_progress"
"""The `extra` key a step logs its progress under: {"done": n, "total": m, "unit": "writes"}."""
LOGGER = "talk_assets_progress"


def step_label(step_key: str) -> str:
    """`acme__customers` -> read acme.customers; `plan_and_write` -> plan all flows, then
    write (each datatype it writes has its own line, `write acme.contacts`)."""
    from talk_assets.defs.sync_step import SYNC_STEP  # here: the step's modules import this one

    if step_key == SYNC_STEP:
        return "plan all flows, then write"
    return "read " + step_key.replace("__", ".", 1)


class _Count(ProgressColumn):
    def render(self, task: Task) -> Text:
        unit = task.fields.get("unit", "")
        if task.total is None or not unit:  # reads and planning: a note, no count
            return Text(task.fields.get("note", ""))
        return Text(f"{int(task.completed)}/{int(task.total)} {unit}".rstrip())


class _Rate(ProgressColumn):
    def render(self, task: Task) -> Text:
        if task.total is None or not task.speed or not task.fields.get("unit"):
            return Text("")
        return Text(f"{task.speed:.1f}/s")


class LiveProgress(logging.Handler):
    """A logging handler that turns a run's Dagster events into rich progress lines."""

    def __init__(self, console: Console) -> None:
        super().__init__(logging.DEBUG)
        self.progress = Progress(
            SpinnerColumn(finished_text="[green]✓"),
            TextColumn("{task.description}"),
            BarColumn(bar_width=24),
            _Count(),
            _Rate(),
            TimeRemainingColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=True,
        )
        self.tasks: dict[str, Any] = {}
        self.parts: dict[str, list[str]] = {}
        """Per step, the tasks it reports progress of under their own names (the sync step
        writes every system's datatypes at once)."""

    def emit(self, record: logging.LogRecord) -> None:
        with contextlib.suppress(Exception):  # a display must never break a run
            self._handle(record)

    def _task(self, step: str, name: str | None = None):
        key = name or step
        if key not in self.tasks:
            self.tasks[key] = self.progress.add_task(name or step_label(step), total=None)
            if name:
                self.parts.setdefault(step, []).append(name)
        return self.tasks[key]

    def _handle(self, record: logging.LogRecord) -> None:
        event = getattr(record, "dagster_event", None)
        meta = getattr(record, "dagster_meta", None) or {}
        step = (getattr(event, "step_key", None) if event else None) or meta.get("step_key")
        if not step:
            return
        info = getattr(record, PROGRESS_EXTRA, None)
        if isinstance(info, dict):
            task = self._task(step, info.get("task"))
            self.progress.update(
                task,
                total=max(int(info.get("total") or 0), 1),
                completed=int(info.get("done") or 0),
                unit=info.get("unit", ""),
            )
            return
        if event is None:
            return
        kind = event.event_type_value
        if kind == "STEP_START":
            self._task(step)
        elif kind == "ASSET_MATERIALIZATION":
            mat = event.event_specific_data.materialization
            if "read" in mat.metadata and step in self.tasks:
                n = int(mat.metadata["read"].value)
                self.progress.update(self.tasks[step], note=f"{n} record(s)")
        elif kind in ("STEP_SUCCESS", "STEP_FAILURE", "STEP_SKIPPED"):
            self._task(step)
            for key in [step, *self.parts.get(step, [])]:
                self._finish(key, kind)

    def _finish(self, key: str, kind: str) -> None:
        task = self.tasks[key]
        current = self.progress.tasks[task]
        total = current.total if current.total is not None else 1
        done = total if kind == "STEP_SUCCESS" else current.completed
        if kind == "STEP_FAILURE" and done < total:
            self.progress.update(task, description=f"{current.description} [red]failed")
        self.progress.update(task, total=total, completed=done)


def terminal_console(stream=None) -> Console | None:
    """A console on stderr when it is a terminal, else None (quiet when not a TTY)."""
    stream = stream or sys.stderr
    isatty = getattr(stream, "isatty", None)
    if not (isatty and isatty()):
        return None
    return Console(file=stream, stderr=True)


@contextlib.contextmanager
def live_progress(console: Console | None) -> Iterator[dict[str, LoggerDefinition]]:
    """Logger definitions to add to the job for one run (empty without a console)."""
    if console is None:
        yield {}
        return
    handler = LiveProgress(console)
    log = logging.Logger(LOGGER, level=logging.DEBUG)
    log.addHandler(handler)
    definition = LoggerDefinition(lambda _init: log, description="terminal progress")
    with handler.progress:
        yield {"progress": definition}
