"""Assemble the Dagster definitions from the committed flow specifications and the schemas:
nothing here is written per flow."""

from __future__ import annotations

import os
from collections.abc import Sequence

from dagster import AssetSelection, Definitions, define_asset_job, in_process_executor

from talk_assets.defs.automation import build_change_sensor, build_schedules, record_run_failures
from talk_assets.defs.flow_tables import check_unique_keys
from talk_assets.defs.io_manager import PolarsDuckDBIOManager
from talk_assets.defs.settings import SyncSettings
from talk_assets.defs.sources import build_sources
from talk_assets.defs.sync_step import build_sync_step
from talk_assets.flows.catalog import active_flows
from talk_assets.flows.model import Flow
from talk_assets.systems import Datatype, ResolvedFlow, registry, resolve_flow

SYNC_JOB = "sync"
TENANT_TAG = "talk_assets/tenant"
"""Run tag naming the tenant; the instance allows one in-progress run per value (runner.py)."""


def state_pool(tenant: str) -> str:
    """The concurrency pool of every step that touches one tenant's state file."""
    return f"talk_assets_{tenant}"


def flow_datatypes(flows: Sequence[ResolvedFlow]) -> list[Datatype]:
    out: dict[str, Datatype] = {}
    for f in flows:
        for dt in f.datatypes:  # source, target, datatypes a child's parent is found through
            out.setdefault(dt.key, dt)
    return list(out.values())


def default_resources(settings: SyncSettings) -> dict:
    return {
        "io_manager": PolarsDuckDBIOManager(database=str(settings.store().path)),
        "settings": settings,
        **{spec.name: spec.resource_class.from_env() for spec in registry.specs()},
    }


def build_definitions(
    flows: Sequence[Flow] | None = None,
    *,
    settings: SyncSettings | None = None,
    resources: dict | None = None,
) -> Definitions:
    """Everything the UI and `talk-assets sync` run: assets, checks, the sync job, schedules,
    sensors and resources (configured from the environment)."""
    resolved = [resolve_flow(f) for f in (flows if flows is not None else active_flows())]
    check_unique_keys(resolved)
    datatypes = flow_datatypes(resolved)
    settings = settings or SyncSettings(tenant=os.environ.get("TALK_ASSETS_TENANT", "default"))
    pool = state_pool(settings.tenant)
    sources = build_sources(datatypes, pool)
    read_datatypes = [dt for dt in datatypes if dt.endpoint]
    sync_job = define_asset_job(
        SYNC_JOB,
        selection=AssetSelection.all(),
        description="Read every system, plan all flows, write the differences.",
        tags={TENANT_TAG: settings.tenant},
    )
    return Definitions(
        assets=[
            *sources,
            build_sync_step(resolved, datatypes, pool),
        ],
        jobs=[sync_job],
        schedules=build_schedules(sync_job),
        sensors=[build_change_sensor(sync_job, read_datatypes), record_run_failures],
        resources={**default_resources(settings), **(resources or {})},
        executor=in_process_executor,
    )
