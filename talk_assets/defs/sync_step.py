"""The sync step: plan all flows, then write the plan's differences into every system, in one
step (`plan_and_write`) that materializes `talk/clusters`, `talk/plan`, the flow assets and
the sinks, with their checks.

Planning and writing are one step because the writes need this run's plan (a sink run on its
own has nothing to write), and so that the systems are written as soon as the plan is made:
the plan is stored, then published (its assets, flow tables and checks) on the step's thread
while the sinks' threads write, instead of before them. The lineage is unchanged: inside the
step, every sink depends on `talk/plan` and on the flows that write into it.

A subset of the step's assets can be materialized (the UI's "materialize selected"): the step
always plans, and publishes and writes only what is selected.
"""

from collections.abc import Iterator, Sequence

from dagster import (
    AssetCheckKey,
    AssetCheckResult,
    AssetExecutionContext,
    AssetKey,
    AssetsDefinition,
    Output,
    multi_asset,
)

from talk_assets.defs.planning import (
    PLAN_KEY,
    flow_key,
    plan_this_run,
    planning_specs,
    published_planning,
)
from talk_assets.defs.settings import SyncSettings
from talk_assets.defs.sinks import sink_datatypes, sink_name, sink_specs, sinks_writing, writes_into
from talk_assets.defs.sources import source_key
from talk_assets.systems import Datatype, ResolvedFlow

SYNC_STEP = "plan_and_write"
"""The step (op) name of planning and the sinks, as run lists and failures name it."""


def build_sync_step(
    flows: Sequence[ResolvedFlow], datatypes: Sequence[Datatype], pool: str
) -> AssetsDefinition:
    """The step that plans every flow and writes every sink datatype (see the module)."""
    planning = planning_specs(flows, datatypes)
    sink_outs, sink_checks = sink_specs(flows)
    written = sink_datatypes(flows)
    deps = dict(planning.deps)
    for name, dt in zip(sink_outs, written, strict=True):
        deps[name] = {PLAN_KEY, *(flow_key(f) for f in flows if writes_into(f, dt))}
    sinks_done = [sink_name(dt) for dt in written]

    @multi_asset(
        name=SYNC_STEP,
        deps=[source_key(dt) for dt in datatypes],
        outs={**planning.outs, **sink_outs},
        internal_asset_deps=deps,
        check_specs=[*planning.checks, *sink_checks],
        can_subset=True,
        pool=pool,
        required_resource_keys={"settings", *(dt.system for dt in written)},
        description="Plan the sync of all flows at once (S1-S7, S12), then write the "
        "differences into every system at once.",
    )
    def _sync(context: AssetExecutionContext):
        settings: SyncSettings = context.resources.settings
        selected_checks = set(context.selected_asset_check_keys)
        checks = [spec for spec in planning.checks if spec.key in selected_checks]
        made = yield from plan_this_run(context, flows, datatypes, checks, sinks_done)
        if made is None:
            return
        with sinks_writing(context, flows, made.plan) as receipts:
            # stored and published while the sinks' threads write: the systems do not wait
            made.store()
            yield from _selected(context, published_planning(settings, flows, made))
            yield from receipts

    return _sync


def _selected(
    context: AssetExecutionContext, events: Iterator[Output | AssetCheckResult]
) -> Iterator[Output | AssetCheckResult]:
    """`events` of the assets and checks selected in this run (all of them in a `sync`)."""
    assets: set[AssetKey] = set(context.selected_asset_keys)
    checks = set(context.selected_asset_check_keys)
    for event in events:
        if isinstance(event, AssetCheckResult):
            if AssetCheckKey(event.asset_key, event.check_name) in checks:
                yield event
        elif context.asset_key_for_output(event.output_name) in assets:
            yield event
