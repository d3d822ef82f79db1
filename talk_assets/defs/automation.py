"""Schedules and sensors: the periodic sync, the cheap change sensor, the periodic full read
(S8, S9) and a run-failure sensor that records why a run failed. The schedules and the change
sensor first finish runs whose process died (S10), so a killed run never blocks the tenant."""

import os
from collections.abc import Sequence

import polars as pl
from dagster import (
    DagsterInstance,
    DagsterRunStatus,
    DefaultScheduleStatus,
    DefaultSensorStatus,
    JobDefinition,
    RunFailureSensorContext,
    RunRequest,
    RunsFilter,
    ScheduleDefinition,
    ScheduleEvaluationContext,
    SensorEvaluationContext,
    SkipReason,
    run_failure_sensor,
    sensor,
)

from talk_assets.defs.settings import SyncSettings
from talk_assets.defs.synclog import now
from talk_assets.store.tenant import StateLocked
from talk_assets.systems import Datatype, registry

SYNC_CRON = os.environ.get("TALK_ASSETS_SYNC_CRON", "*/5 * * * *")
FULL_READ_CRON = os.environ.get("TALK_ASSETS_FULL_READ_CRON", "0 3 * * *")
ACTIVE = os.environ.get("TALK_ASSETS_AUTOMATION", "").lower() in ("1", "on", "true", "running")
IN_FLIGHT = [
    DagsterRunStatus.QUEUED,
    DagsterRunStatus.NOT_STARTED,
    DagsterRunStatus.STARTING,
    DagsterRunStatus.STARTED,
]


def finish_dead_runs_of(instance: DagsterInstance, tenant: str | None, log) -> None:
    """Finish runs whose process died (dead_runs.py) before deciding on a new run."""
    from talk_assets.defs.dead_runs import finish_dead_runs  # dead_runs imports build

    for done in finish_dead_runs(instance, tenant):
        log.warning(str(done))


def _request(run_config: dict):
    def execution_fn(context: ScheduleEvaluationContext) -> RunRequest:
        if context.instance_ref is not None:  # None only in a bare test context
            finish_dead_runs_of(context.instance, None, context.log)
        return RunRequest(run_config=run_config)

    return execution_fn


def build_schedules(job: JobDefinition) -> list[ScheduleDefinition]:
    status = DefaultScheduleStatus.RUNNING if ACTIVE else DefaultScheduleStatus.STOPPED
    return [
        ScheduleDefinition(
            name="sync_every_5_minutes",
            job=job,
            cron_schedule=SYNC_CRON,
            default_status=status,
            execution_fn=_request({}),
            description=f"Sync all flows ({SYNC_CRON}; set TALK_ASSETS_SYNC_CRON to change).",
        ),
        ScheduleDefinition(
            name="full_read_daily",
            job=job,
            cron_schedule=FULL_READ_CRON,
            default_status=status,
            execution_fn=_request({"resources": {"settings": {"config": {"full_read": True}}}}),
            description=(
                "Sync with a full read of every datatype: catches what cursors miss and marks "
                f"disappeared records (S8, S9). {FULL_READ_CRON}; TALK_ASSETS_FULL_READ_CRON."
            ),
        ),
    ]


def changed_datatypes(
    settings: SyncSettings, clients: dict, datatypes: Sequence[Datatype]
) -> list[str]:
    """Datatypes with records changed after their snapshot's cursor: one small request each."""
    store = settings.store().read_only()
    changed = []
    for dt in datatypes:
        cursor = store.newest(dt.system, dt.name, dt.last_changed_field)
        if clients[dt.system].has_changes(dt, cursor):
            changed.append(dt.key)
    return changed


def build_change_sensor(job: JobDefinition, datatypes: Sequence[Datatype]):
    readable = [dt for dt in datatypes if dt.endpoint]

    @sensor(
        name="changes_sensor",
        job=job,
        minimum_interval_seconds=int(os.environ.get("TALK_ASSETS_SENSOR_SECONDS", "60")),
        default_status=DefaultSensorStatus.RUNNING if ACTIVE else DefaultSensorStatus.STOPPED,
        required_resource_keys={"settings", *registry.names()},
        description="Polls each datatype's last-changed filter (one small request each) and "
        "requests a sync only when something changed.",
    )
    def _changes(context: SensorEvaluationContext):
        res = context.resources
        finish_dead_runs_of(context.instance, res.settings.tenant, context.log)
        in_flight = context.instance.get_runs(
            filters=RunsFilter(job_name=job.name, statuses=IN_FLIGHT), limit=1
        )
        if in_flight:
            return SkipReason("a sync is already running")
        try:
            changed = changed_datatypes(
                res.settings,
                {name: getattr(res, name) for name in registry.names()},
                readable,
            )
        except StateLocked:
            return SkipReason("the state file is busy (a run is writing); trying next tick")
        if not changed:
            return SkipReason("no changes in any system")
        return RunRequest(tags={"talk_assets/changed": ",".join(changed)[:1000]})

    return _changes


@run_failure_sensor(
    name="record_run_failures",
    default_status=DefaultSensorStatus.RUNNING if ACTIVE else DefaultSensorStatus.STOPPED,
    description="Records every failed run and why in the tenant's state (table state.run_failures).",
)
def record_run_failures(context: RunFailureSensorContext, settings: SyncSettings):
    failure = context.failure_event
    message = failure.message if failure else "unknown"
    context.log.error(f"run {context.dagster_run.run_id} failed: {message}")
    settings.store().write_tables(
        append={
            "run_failures": pl.DataFrame(
                {
                    "run_id": [context.dagster_run.run_id],
                    "job": [context.dagster_run.job_name],
                    "time": [now()],
                    "error": [message],
                }
            )
        }
    )
