"""Planning: one computation, many assets (the first half of the sync step, `sync_step.py`).

The engine plans all flows at once (five flows into one target datatype must agree on ONE
contact per cluster), so one computation makes the plan and publishes it as `talk/clusters`
(identity, S1/S2), one flow asset per flow (`flow_tables.py`: one row per linked pair, one
column per mapped property, with per-property lineage) and `talk/plan` (the writes the sinks
execute). The complete plan is also kept in the tenant file's `plan` schema, and in memory
for the sinks and the run's report (`plan_memory.py`).
"""

from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass

import polars as pl
from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetKey,
    AssetOut,
    DagsterInstance,
    Failure,
    MetadataValue,
    Output,
)
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus

from talk_assets.defs import plan_memory
from talk_assets.defs.flow_tables import flow_asset_metadata, flow_key, flow_output
from talk_assets.defs.io_manager import UPSERT_KEY
from talk_assets.defs.metadata import markdown_table
from talk_assets.defs.plan_scope import CARRIED_FRAMES, consumed, plan_inputs
from talk_assets.defs.progress import PLANS, nothing_to_do, record_plan
from talk_assets.defs.settings import SyncSettings
from talk_assets.defs.sources import OWNERS, source_key
from talk_assets.defs.table_docs import (
    clusters_schema,
    plan_schema,
    published_clusters,
    published_plan,
)
from talk_assets.engine import SyncPlan, check_circuit_breaker, make_plan
from talk_assets.engine.scope import with_decisions
from talk_assets.systems import Datatype, ResolvedFlow

CLUSTERS_KEY = AssetKey(["talk", "clusters"])
PLAN_KEY = AssetKey(["talk", "plan"])


def flow_group(flow: ResolvedFlow) -> str:
    """Every flow asset in one group, so the UI's groups read as a map: one per system (the
    sources), `talk` (planning), `flows`, `sinks`."""
    return "flows"


def flow_summary(plan: SyncPlan, flow: ResolvedFlow, table: pl.DataFrame) -> dict[str, int]:
    """Counts of one flow in this plan; `table`: its flow table of this plan (`flow_output`),
    whose pairs passed the flow's filter (an incremental plan's: those of its scope)."""
    name = flow.flow.name

    def n(frame: pl.DataFrame) -> int:
        return frame.filter(pl.col("flow") == name).height

    updates = plan.updates.filter(pl.col("flow") == name)
    return {
        "linked_source_records": table["source_record"].n_unique(),
        "planned_inserts": n(plan.insert_sources),
        "planned_updates_to_target": updates.filter(pl.col("direction") == "to_target")
        .select("record")
        .n_unique(),
        "planned_updates_to_source": updates.filter(pl.col("direction") == "to_source")
        .select("record")
        .n_unique(),
        "new_links": n(plan.merges),
        "conflicts": n(plan.conflicts),
        "rejects": n(plan.rejects),
        "skipped": n(plan.skipped),
    }


@dataclass(frozen=True)
class PlanningSpecs:
    """The planning part of the sync step: its outputs, their dependencies, its checks."""

    outs: dict[str, AssetOut]
    deps: dict[str, set[AssetKey]]
    checks: list[AssetCheckSpec]


def planning_specs(flows: Sequence[ResolvedFlow], datatypes: Sequence[Datatype]) -> PlanningSpecs:
    """`talk/clusters`, `talk/plan` and one asset per flow, each depending on the sources it
    reads, with their checks."""
    outs = {
        "clusters": AssetOut(
            key=CLUSTERS_KEY,
            group_name="talk",
            kinds={"polars", "duckdb"},
            owners=OWNERS,
            dagster_type=pl.DataFrame,
            is_required=False,
            description="Identity (S1, S2): every record -> its cluster of records that are the same thing.",
            metadata={"dagster/column_schema": clusters_schema()},
        ),
        "plan": AssetOut(
            key=PLAN_KEY,
            group_name="talk",
            kinds={"polars", "duckdb"},
            owners=OWNERS,
            dagster_type=pl.DataFrame,
            is_required=False,
            description="The writes of this run, one row per target record (inserts and updates).",
            metadata={"dagster/column_schema": plan_schema()},
        ),
    }
    deps: dict[str, set[AssetKey]] = {
        "clusters": {source_key(dt) for dt in datatypes},
        "plan": {source_key(dt) for dt in datatypes},
    }
    checks = [
        AssetCheckSpec(
            "no_record_in_two_clusters",
            asset=CLUSTERS_KEY,
            description="S1: every record belongs to exactly one cluster.",
        )
    ]
    for f in flows:
        name = f.flow.name
        outs[name] = AssetOut(
            key=flow_key(f),
            group_name=flow_group(f),
            kinds={"polars", "duckdb"},
            owners=OWNERS,
            dagster_type=pl.DataFrame,
            is_required=False,
            description=(
                f"{f.flow.title} ({f.flow.rule.value}): one row per linked pair, one column per "
                "mapped target property, as the target holds it once this run's writes land."
            ),
            metadata=flow_asset_metadata(f),
        )
        deps[name] = {source_key(f.source), source_key(f.target)}
        checks += [
            AssetCheckSpec(
                "mapped_properties_resolve",
                asset=flow_key(f),
                description="S7: every mapped property is a column of the records read.",
            ),
            AssetCheckSpec(
                "rejects_below_threshold",
                asset=flow_key(f),
                description=(
                    "S6/S10: the share of this flow's source records with a reject stays under "
                    "the threshold; the rejected rows are in `rejects_preview` and in "
                    "`talk-assets log --operation reject`."
                ),
            ),
        ]
    return PlanningSpecs(outs, deps, checks)


@dataclass(frozen=True)
class MadePlan:
    """A plan made in this run, with what it was made of."""

    plan: SyncPlan
    scope: str
    """`full`, or what an incremental plan covered (`plan_scope.PlanInputs.scope`)."""
    records: dict[str, pl.DataFrame]
    """The records it planned, per datatype key."""
    store: Callable[[], None]
    """Store the plan and consume the changes it covers (the sync step calls it while the
    first batches are sent: the systems do not wait for it)."""

    @property
    def full(self) -> bool:
        return self.scope == "full"


def plan_this_run(
    context: AssetExecutionContext,
    flows: Sequence[ResolvedFlow],
    datatypes: Sequence[Datatype],
    checks: Sequence[AssetCheckSpec],
    sinks: Sequence[str],
) -> Generator[AssetCheckResult, None, MadePlan | None]:
    """Make this run's plan and keep it in memory (`MadePlan.store` stores it and consumes
    the changes it covers); None (having yielded the planning checks' standing results) when
    there is nothing to do: nothing read, nothing pending, the last plan's `sinks` all done
    (`progress.nothing_to_do`). Raises `Failure` at the circuit breaker (S12), before
    anything is stored."""
    settings: SyncSettings = context.resources.settings
    store = settings.store()
    # --retry-rejected plans although nothing changed: rejected writes left their pairs'
    # state as it was, so the engine plans them again, and plan rejects are re-evaluated.
    idle = None if settings.full_read or settings.retry_rejected else nothing_to_do(store, sinks)
    if idle:  # no output: nothing is written, and the stored plan stays the last one
        context.log.info(idle)
        yield from _skipped_checks(context.instance, checks, idle)
        return None
    previous, previous_run = plan_memory.stored_plan(store, CARRIED_FRAMES)
    inputs = plan_inputs(
        store,
        flows,
        datatypes,
        previous,
        previous_run,
        full=settings.full_read,
        recheck=settings.retry_rejected,
    )
    context.log.info(f"planning {inputs.scope}")
    plan = with_decisions(make_plan(inputs.records, list(flows), inputs.state), inputs.kept)
    over = check_circuit_breaker(plan, settings.mass_write_limit)
    if over and not settings.allow_mass_write and not settings.dry_run:
        listing = ", ".join(f"{d}: {n} records" for d, n in over)
        raise Failure(
            description=(
                f"circuit breaker (S12): this run would write more than "
                f"{settings.mass_write_limit} records to one datatype ({listing}); nothing "
                "was written. Rerun with --allow-mass-write (or allow_mass_write) to go ahead."
            ),
            metadata={"over_limit": MetadataValue.json(dict(over))},
        )
    # a dry run commits nothing: no state kept for its commits
    run_id = context.run.run_id
    plan_memory.remember_plan(store, plan, run_id, None if settings.dry_run else inputs.state)

    def stored() -> None:
        # Safe to run while the sinks commit (S10): a run cut before this keeps the changes
        # it read, so the next run plans their clusters again, from the state the commits
        # left; a write already recorded there is not sent again.
        plan_memory.store_plan(store, plan, run_id, inputs.planned)
        if not settings.dry_run:  # the plan covers the changes read so far: consume them
            store.write_tables(append={PLANS: record_plan(store, run_id)}, remove=consumed(inputs))

    return MadePlan(plan, inputs.scope, inputs.records, stored)


def published_planning(
    settings: SyncSettings, flows: Sequence[ResolvedFlow], made: MadePlan
) -> Iterator[Output | AssetCheckResult]:
    """The planning assets of a plan made this run, with their checks. An incremental plan
    materializes only the flows it planned pairs of (a flow table is changed by key, so one
    with no rows in scope stays as it is, as its last materialization says); every check is
    evaluated every time."""
    plan, store = made.plan, settings.store()
    partial = {} if made.full else {UPSERT_KEY: "record"}
    clusters = plan.clusters
    dup = clusters.filter(pl.col("record").is_duplicated())
    yield Output(
        published_clusters(clusters),
        output_name="clusters",
        metadata={
            "dagster/row_count": clusters.height,
            "clusters": clusters["cluster"].n_unique(),
            "planned_scope": made.scope,
            **partial,
            "gone_records": int(clusters["gone"].sum() or 0),
            "preview": markdown_table(published_clusters(clusters)),
        },
    )
    yield AssetCheckResult(
        asset_key=CLUSTERS_KEY,
        check_name="no_record_in_two_clusters",
        passed=dup.is_empty(),
        metadata={"records_in_two_clusters": dup["record"].n_unique()},
    )
    counts = plan.counts()
    yield Output(
        published_plan(plan.writes),
        output_name="plan",
        metadata={
            "dagster/row_count": plan.writes.height,
            "dry_run": settings.dry_run,
            "writes_per_datatype": markdown_table(counts, rows=counts.height or 1),
            "conflicts": plan.conflicts.height,
            "rejects": plan.rejects.height,
            "preview": markdown_table(published_plan(plan.writes)),
        },
    )
    sources: dict[str, int] = {}  # records per source datatype, for the reject shares
    for f in flows:
        name = f.flow.name
        mapped = plan.mapped_for(name)
        rejects = plan.rejects.filter(pl.col("flow") == name)
        if made.full or mapped.height:
            table, table_metadata = flow_output(f, mapped, plan.updates)
            yield Output(
                table,
                output_name=name,
                metadata={
                    **table_metadata,
                    **flow_summary(plan, f, table),
                    **({} if made.full else {UPSERT_KEY: "source_record"}),
                    "notes": "; ".join(plan.notes.filter(pl.col("flow") == name)["note"].to_list()),
                    "rejects_preview": markdown_table(rejects, rows=10),
                    "conflicts_preview": markdown_table(
                        plan.conflicts.filter(pl.col("flow") == name), rows=10
                    ),
                },
            )
        missing = _unresolved_columns(f, made.records)
        yield AssetCheckResult(
            asset_key=flow_key(f),
            check_name="mapped_properties_resolve",
            passed=not missing,
            metadata={"missing_columns": ", ".join(missing) or "none"},
        )
        if f.source.key not in sources:
            sources[f.source.key] = max(store.count(f.source.system, f.source.name), 1)
        share = rejects.select("record").n_unique() / sources[f.source.key]
        yield AssetCheckResult(
            asset_key=flow_key(f),
            check_name="rejects_below_threshold",
            passed=share <= settings.max_reject_share,
            severity=AssetCheckSeverity.WARN,
            metadata={
                "reject_share": round(share, 4),
                "threshold": settings.max_reject_share,
                "rejected_rows": markdown_table(rejects, rows=20),
            },
        )


def _skipped_checks(instance: DagsterInstance, checks: Sequence[AssetCheckSpec], reason: str):
    """Check results of a skipped plan: nothing changed since the last evaluation of each
    check, so its outcome stands (a warning stays a warning until a plan clears it), marked
    `skipped`. Not yielding them would show every check as "skipped" in the UI: the job plans
    them all."""
    done = {AssetCheckExecutionRecordStatus.SUCCEEDED, AssetCheckExecutionRecordStatus.FAILED}
    for spec in checks:
        history = instance.event_log_storage.get_asset_check_execution_history(
            spec.key, limit=1, status=done
        )
        last = history[0].evaluation if history else None
        yield AssetCheckResult(
            asset_key=spec.asset_key,
            check_name=spec.name,
            passed=True if last is None else last.passed,
            severity=AssetCheckSeverity.ERROR if last is None else last.severity,
            description=reason,
            metadata={**({} if last is None else last.metadata), "skipped": True},
        )


def _unresolved_columns(flow: ResolvedFlow, frames: dict[str, pl.DataFrame]) -> list[str]:
    """Mapped property paths that are not columns of the frames the run read."""
    missing = []
    for s, t, _ in flow.properties:
        if s.path not in frames[flow.source.key].columns:
            missing.append(f"{flow.source.key}.{s.path}")
        if t.path not in frames[flow.target.key].columns:
            missing.append(f"{flow.target.key}.{t.path}")
    return missing
