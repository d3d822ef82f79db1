"""Run the whole graph once, in-process, and report per flow what was read, written and why.

Used by `talk-assets sync` and `talk-assets demo`. Runs are recorded in the Dagster instance
at DAGSTER_HOME (default `$TALK_ASSETS_HOME/dagster`) so the UI shows them afterwards.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import tempfile
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl
from dagster import DagsterInstance, Failure
from rich.console import Console

from talk_assets.defs.answers import planned_rows, reason_lines, reasons, run_tags
from talk_assets.defs.build import SYNC_JOB, TENANT_TAG, build_definitions
from talk_assets.defs.dead_runs import FinishedRun, hold_tenant, owner_tags
from talk_assets.defs.event_storage import instance_at
from talk_assets.defs.failures import StepFailure, step_failures, summary
from talk_assets.defs.live import live_progress, terminal_console
from talk_assets.defs.plan_memory import load_plan
from talk_assets.defs.settings import SyncSettings
from talk_assets.errors import env_float
from talk_assets.flows.catalog import active_flows
from talk_assets.flows.model import Flow
from talk_assets.store.locks import file_lock, write_atomically
from talk_assets.store.tenant import STATE_SCHEMA, TenantStore, home
from talk_assets.systems import resolve_flow

REPORT_COLUMNS = (
    "flow",
    "read",
    "inserted",
    "updated ->",
    "updated <-",
    "linked",
    "conflicts",
    "rejected",
)


CONFIG_HEADER = "# Written by talk-assets"
INSTANCE_CONFIG = f"""\
{CONFIG_HEADER} for a new DAGSTER_HOME (rewritten while this line stays first).
telemetry:
  enabled: false
nux:  # no "join the community" dialog over the operator's UI
  enabled: false
run_monitoring:  # for runs the webserver and daemon launch (`dagster dev`)
  enabled: true
  poll_interval_seconds: 30
  start_timeout_seconds: 180  # a run stuck starting this long is marked failed
  max_runtime_seconds: 21600  # backstop: a run going on for 6 hours is stopped and failed
  free_slots_after_run_end_seconds: 60  # a finished run's leftover pool slots are freed
concurrency:
  pools:
    default_limit: 1  # one step at a time per tenant state file (pool talk_assets_<tenant>)
  runs:
    tag_concurrency_limits:  # one queued run at a time per tenant
      - key: {TENANT_TAG}
        value:
          applyLimitPerUniqueValue: true
        limit: 1
"""


@dataclass
class RunReport:
    success: bool
    run_id: str
    dry_run: bool
    flows: pl.DataFrame
    read: dict[str, int] = field(default_factory=dict)
    error: str | None = None
    moves: pl.DataFrame | None = None
    conflicts: pl.DataFrame | None = None
    cleaned: list[FinishedRun] = field(default_factory=list)
    skipped: str | None = None
    """Why planning and the sinks were skipped (nothing read, nothing pending), if they were."""
    failures: list[StepFailure] = field(default_factory=list)
    log_path: Path | None = None
    """The run's full Dagster log, when it was written to a file."""
    reasons: pl.DataFrame | None = None
    """Why rows were rejected, failed or in conflict: kind, reason, where, rows."""
    planned: pl.DataFrame | None = None
    """A dry run's planned rows (`answers.PLANNED`)."""

    @property
    def writes(self) -> int:
        return int(
            self.flows["inserted"].sum()
            + self.flows["updated ->"].sum()
            + self.flows["updated <-"].sum()
        )


LOCK_WAIT_SECONDS = 60.0
"""How long `sync` waits for a live run that holds its tenant (TALK_ASSETS_LOCK_WAIT)."""


def lock_wait() -> float:
    return env_float("TALK_ASSETS_LOCK_WAIT", LOCK_WAIT_SECONDS)


def dagster_instance() -> DagsterInstance:
    """The instance at DAGSTER_HOME, created with our dagster.yaml if needed.

    Two processes starting at once on a new home would both create and migrate the SQLite
    storages (alembic) and corrupt them; an OS lock in the home serializes the creation.
    """
    if not os.environ.get("DAGSTER_HOME"):
        os.environ["DAGSTER_HOME"] = str((home() / "dagster").resolve())
    path = Path(os.environ["DAGSTER_HOME"])
    path.mkdir(parents=True, exist_ok=True)
    config = path / "dagster.yaml"
    with file_lock(path / ".talk_assets.lock"):
        if not config.exists() or (
            config.read_text().startswith(CONFIG_HEADER) and config.read_text() != INSTANCE_CONFIG
        ):
            write_atomically(config, INSTANCE_CONFIG)
        instance = instance_at(str(path))  # its event log without per-event set-up
        # create (and migrate) every storage now, inside the lock
        instance.get_runs(limit=1)
        instance.event_log_storage.get_concurrency_keys()
        if instance.schedule_storage is not None:
            instance.schedule_storage.all_instigator_state()
    return instance


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def run_sync(
    settings: SyncSettings,
    *,
    instance: DagsterInstance | None = None,
    resources: dict | None = None,
    flows: Sequence[Flow] | None = None,
    log_level: str = "WARNING",
    wait: float | None = None,
    say: Callable[[str], None] = _stderr,
    log_dir: Path | None = None,
    verbose: bool = False,
    progress: Console | bool | None = None,
    with_moves: bool = False,
) -> RunReport:
    """One run of the sync job, in this process; `flows` default to the committed specs.
    `with_moves`: the report carries every value the run moved (`RunReport.moves`, read from
    the sync's value history: millions of rows after a big initial load, so only on request).

    Before it starts, dead runs of the tenant are finished, and a live one is waited for at most
    `wait` seconds (default TALK_ASSETS_LOCK_WAIT), saying so through `say`; then `TenantBusy`.
    With `log_dir`, the run's full Dagster log (debug level) goes to `<log_dir>/<run id>.log`
    instead of stderr, and to both when `verbose`. `progress`: a rich console for live
    progress, or None for the terminal's stderr when it is one and the log goes to a file.

    A dry run changes no state: it runs against a scratch copy of the tenant file
    (`dry_run_copy`) that is deleted afterwards, so sources, planning and the IO manager work
    exactly as in a real run while the tenant's file is never opened for writing.
    """
    flows = list(flows) if flows is not None else active_flows()
    own_instance = contextlib.ExitStack()
    if instance is None:  # closed after the run: its databases' WAL files written back
        instance = own_instance.enter_context(dagster_instance())
    store_path = settings.store().path
    if progress is None:
        progress = log_dir is not None and not verbose
    console = (
        progress if isinstance(progress, Console) else terminal_console() if progress else None
    )
    with (
        own_instance,
        hold_tenant(
            instance,
            settings.tenant,
            store_path.with_name(f"{store_path.stem}.run.lock"),
            wait=lock_wait() if wait is None else wait,
            say=say,
        ) as finished,
        dry_run_copy(settings) as run_settings,
    ):
        defs = build_definitions(flows, settings=run_settings, resources=resources)
        job = defs.resolve_job_def(SYNC_JOB)
        run_id = str(uuid.uuid4())
        log_path = None if log_dir is None else Path(log_dir) / f"{run_id}.log"
        loggers = {"console": {"config": {"log_level": "DEBUG" if log_path else log_level}}}
        with live_progress(console) as extra_loggers, _log_to(log_path, verbose):
            if extra_loggers:
                job = job.with_logger_defs({**job.loggers, **extra_loggers})
                loggers.update({name: {} for name in extra_loggers})
            result = job.execute_in_process(
                instance=instance,
                raise_on_error=False,
                run_id=run_id,
                tags={TENANT_TAG: settings.tenant, **owner_tags()},
                run_config={"loggers": loggers},
            )
        read = {}
        for event in result.get_asset_materialization_events():
            mat = event.event_specific_data.materialization
            if "read" in mat.metadata and len(mat.asset_key.path) == 2:
                read[mat.asset_key.to_user_string()] = int(mat.metadata["read"].value)
        failures = [] if result.success else step_failures(result)
        error = None if result.success else summary(failures)
        skipped = _skip_reason(result)
        try:
            answers = report(run_settings, result.run_id, flows, with_moves=with_moves)
        except Failure:  # the run failed before it planned
            answers = Answers(_empty_report())
        instance.add_run_tags(result.run_id, run_tags(answers.flows, read, skipped))
    return RunReport(
        success=result.success,
        run_id=result.run_id,
        dry_run=settings.dry_run,
        flows=answers.flows,
        read=read,
        error=error,
        moves=answers.moves,
        conflicts=answers.conflicts,
        cleaned=finished,
        skipped=skipped,
        failures=failures,
        log_path=log_path,
        reasons=answers.reasons,
        planned=answers.planned,
    )


@contextlib.contextmanager
def dry_run_copy(settings: SyncSettings) -> Iterator[SyncSettings]:
    """The settings a run uses: for a dry run, the same ones pointed at a scratch copy of the
    tenant file (and its WAL) in a hidden folder next to it, removed when the block ends.

    A copy is the simplest way to change no state at all: sources store what they read,
    planning stores the plan and the IO manager stores every output, all in the tenant file,
    and each would otherwise need its own dry-run path. The caller holds the tenant (no run
    writes the file meanwhile). The cost is one file copy per dry run.
    """
    if not settings.dry_run:
        yield settings
        return
    real = settings.store().path
    scratch = Path(
        tempfile.mkdtemp(prefix=".dry-run-", dir=real.parent if real.parent.exists() else None)
    )
    try:
        for suffix in ("", ".wal"):
            source = real.with_name(real.name + suffix)
            if source.exists():
                shutil.copy2(source, scratch / source.name)
        fields = {name: getattr(settings, name) for name in type(settings).model_fields}
        yield type(settings)(**{**fields, "home": str(scratch)})
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _skip_reason(result) -> str | None:
    """The sync step's reason for skipping planning, from its (passed) check evaluations."""
    for event in result.all_events:
        if event.event_type_value == "ASSET_CHECK_EVALUATION":
            evaluation = event.event_specific_data
            if "skipped" in evaluation.metadata:
                return evaluation.description
    return None


class _Tee:
    def __init__(self, *streams) -> None:
        self.streams = streams

    def write(self, text: str) -> int:
        for stream in self.streams:
            stream.write(text)
        return len(text)

    def flush(self) -> None:
        for stream in self.streams:
            stream.flush()

    def isatty(self) -> bool:
        return False


@contextlib.contextmanager
def _log_to(path: Path | None, verbose: bool) -> Iterator[None]:
    """Dagster's console logger (and any other stderr output of the run) into `path`, and live
    on stderr too when `verbose`."""
    if path is None:
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as log:
        sink = _Tee(log, sys.stderr) if verbose else log
        with contextlib.redirect_stderr(sink):  # type: ignore[type-var]
            yield


def _empty_report() -> pl.DataFrame:
    return pl.DataFrame(
        schema={c: (pl.String if c == "flow" else pl.Int64) for c in REPORT_COLUMNS}
    )


@dataclass
class Answers:
    flows: pl.DataFrame
    moves: pl.DataFrame | None = None
    conflicts: pl.DataFrame | None = None
    reasons: pl.DataFrame | None = None
    planned: pl.DataFrame | None = None


def report(
    settings: SyncSettings, run_id: str, flows: Sequence[Flow], *, with_moves: bool = False
) -> Answers:
    """Per flow counts, (`with_moves`) values moved this run, its conflicts, the reasons of its
    rejects and conflicts, and (dry run) the planned rows."""
    store = settings.store()
    plan = load_plan(store, run_id, REPORT_FRAMES, release=True)
    log = _rows_of_run(store, "sync_log", run_id, LOG_COLUMNS)
    values = _rows_of_run(store, "sync_values", run_id) if with_moves else None
    done = (
        log.filter(pl.col("operation").is_in(["insert", "update"])).select("write_id")
        if log is not None
        else pl.DataFrame(schema={"write_id": pl.String})
    )
    if settings.dry_run:  # nothing was written: report what the plan would do
        done = plan.writes.select("write_id")
    rows = []
    for flow in (resolve_flow(f) for f in flows):
        name = flow.flow.name
        ups = plan.updates.filter(pl.col("flow") == name).join(done, on="write_id", how="semi")
        rejected = plan.rejects.filter(pl.col("flow") == name)["record"].n_unique()
        if log is not None:
            rejected += log.filter(
                pl.col("operation").is_in(["rejected", "failed", "unknown"])
                & pl.col("flows").str.contains(name, literal=True)
            ).height
        rows.append(
            {
                "flow": flow.flow.title,
                "read": 0,
                "inserted": plan.insert_sources.filter(pl.col("flow") == name)
                .join(done, on="write_id", how="semi")["write_id"]
                .n_unique(),
                "updated ->": ups.filter(pl.col("direction") == "to_target")["write_id"].n_unique(),
                "updated <-": ups.filter(pl.col("direction") == "to_source")["write_id"].n_unique(),
                "linked": plan.merges.filter(pl.col("flow") == name).height,
                "conflicts": plan.conflicts.filter(pl.col("flow") == name).height,
                "rejected": rejected,
                "_source": flow.source.key,
            }
        )
    frame = pl.DataFrame(rows)
    return Answers(
        frame,
        values,
        plan.conflicts,
        reasons=reasons(plan, log),
        planned=planned_rows(plan) if settings.dry_run else None,
    )


REPORT_FRAMES = ("writes", "updates", "insert_sources", "merges", "conflicts", "rejects")
"""What the report reads of the run's plan (not its clusters and mapped values, which are as
large as the tenant after a full plan)."""

LOG_COLUMNS = (
    "write_id",
    "operation",
    "flows",
    "error",
    "http_status",
    "datatype",
    "source_record",
    "record_id",
)
"""What the run's report reads of its sync log rows (not the written values)."""


def _rows_of_run(
    store: TenantStore, table: str, run_id: str, columns: Sequence[str] | None = None
) -> pl.DataFrame | None:
    """One run's rows of a log table (None when the table does not exist), all columns or
    `columns`: the log holds every run's rows, so it is filtered in the query, not read whole."""
    if table not in store.table_names(STATE_SCHEMA):
        return None
    selected = "*" if columns is None else ", ".join(columns)
    return store.query(
        f"select {selected} from {STATE_SCHEMA}.{table} where run_id in (select run_id from this)",
        this=pl.DataFrame({"run_id": [run_id]}),
    )


def format_report(rep: RunReport) -> str:
    flows = (
        rep.flows.with_columns(
            read=pl.col("_source").map_elements(
                lambda k: rep.read.get(k.replace(".", "/"), 0), return_dtype=pl.Int64
            )
        ).select(REPORT_COLUMNS)
        if "_source" in rep.flows.columns
        else rep.flows
    )
    if rep.skipped:
        return rep.skipped
    out = [text_table(flows)]
    if rep.reasons is not None and rep.reasons.height:
        out.extend(reason_lines(rep.reasons))
    if rep.read:
        out.append("read this run: " + ", ".join(f"{k} {v}" for k, v in sorted(rep.read.items())))
    if rep.dry_run:
        out.append("dry run: the counts above are planned writes; nothing was written")
    return "\n".join(out)


def text_table(frame: pl.DataFrame) -> str:
    cols = frame.columns
    cells = [[("" if v is None else str(v)) for v in row] for row in frame.iter_rows()]
    widths = [max([len(c), *(len(r[i]) for r in cells)]) for i, c in enumerate(cols)]

    def line(values: list[str]) -> str:
        return "  ".join(
            v.ljust(w) if i == 0 else v.rjust(w)
            for i, (v, w) in enumerate(zip(values, widths, strict=True))
        )

    return "\n".join([line(list(cols)), line(["-" * w for w in widths]), *(line(r) for r in cells)])
