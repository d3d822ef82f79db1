"""The sinks: one asset per target (system, datatype) some flow writes, all written by the
sync step (`sync_step.py`) on a thread per system (`sink_threads.py`), so each system is
written at its own limit while the others are. Each sink executes this run's planned writes of
its datatype and records them batch by batch (`sink_writes.py`); its materialization is the
receipt: what was written, rejected, and why. A sink that had nothing to do is not
materialized (its last receipt stands; the daily full read materializes all), but its check
runs every time.
"""

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import polars as pl
from dagster import (
    AssetCheckResult,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetOut,
    Failure,
    MetadataValue,
    Output,
)

from talk_assets.defs.flow_tables import written_properties_lineage
from talk_assets.defs.metadata import lineage_table, markdown_table
from talk_assets.defs.plan_memory import commit_state
from talk_assets.defs.settings import SyncSettings
from talk_assets.defs.sink_threads import writing
from talk_assets.defs.sink_writes import SinkRun, sink_key, sink_name
from talk_assets.defs.sources import OWNERS
from talk_assets.defs.table_docs import published_receipt, receipt_schema
from talk_assets.engine import SyncPlan
from talk_assets.lineage import PropertyEdge, edges_of
from talk_assets.systems import Datatype, ResolvedFlow

__all__ = ["sink_datatypes", "sink_key", "sink_name", "sink_specs", "sinks_writing"]


def writes_into(flow: ResolvedFlow, dt: Datatype) -> bool:
    """Whether a flow can write records of `dt`: inserts into its target, updates either way."""
    if flow.target.key == dt.key and (
        flow.flow.rule.inserts or any(t.writable for _, t, _ in flow.properties)
    ):
        return True
    return flow.source.key == dt.key and any(s.writable for s, _, _ in flow.properties)


def sink_datatypes(flows: Sequence[ResolvedFlow]) -> list[Datatype]:
    """Datatypes some flow may write, in first-seen order; derived ones have no endpoint."""
    out: dict[str, Datatype] = {}
    for f in flows:
        for dt in (f.target, f.source):
            if dt.endpoint and writes_into(f, dt):
                out.setdefault(dt.key, dt)
    return list(out.values())


def _incoming_edges(flows: Sequence[ResolvedFlow], dt: Datatype) -> list[PropertyEdge]:
    """Edges whose written end is `dt`, oriented as target <- source for column lineage."""
    edges = []
    for f in flows:
        for e in edges_of(f):
            if f.target.key == dt.key and e.target_writable:
                edges.append(e)
            if f.source.key == dt.key and e.source_writable:
                edges.append(
                    PropertyEdge(
                        e.flow,
                        e.flow_title,
                        e.target,
                        e.source,
                        e.target_type,
                        e.rule,
                        e.target_writable,
                        e.source_writable,
                    )
                )
    return edges


def sink_out(dt: Datatype, flows: Sequence[ResolvedFlow]) -> AssetOut:
    related = [f for f in flows if writes_into(f, dt)]
    return AssetOut(
        key=sink_key(dt),
        group_name="sinks",
        kinds={dt.system, "httpx", "duckdb"},
        owners=OWNERS,
        dagster_type=pl.DataFrame,
        is_required=False,
        description=(
            f"Write this run's planned inserts and updates of {dt.key} through the "
            f"{dt.system} API, then record links, last synced values and the sync log."
        ),
        metadata={
            "property_lineage": lineage_table(_incoming_edges(related, dt)),
            "dagster/column_lineage": written_properties_lineage(related, dt),
            "dagster/column_schema": receipt_schema(),
        },
    )


def sink_specs(flows: Sequence[ResolvedFlow]) -> tuple[dict[str, AssetOut], list[AssetCheckSpec]]:
    """The sinks' outputs (one asset per datatype some flow writes) and their checks."""
    datatypes = sink_datatypes(flows)
    outs = {_output_name(dt): sink_out(dt, flows) for dt in datatypes}
    checks = [
        AssetCheckSpec(
            "no_duplicate_inserts",
            asset=sink_key(dt),
            description="S10: no source record was inserted twice into this datatype.",
        )
        for dt in datatypes
    ]
    return outs, checks


@contextmanager
def sinks_writing(
    context: AssetExecutionContext,
    flows: Sequence[ResolvedFlow],
    plan: SyncPlan,
) -> Iterator[Iterator[Output | AssetCheckResult]]:
    """Start writing this run's `plan` into every selected sink datatype, a thread per system
    (`sink_threads.py`), and hand back the sinks' receipts and checks as they finish; the
    iterator raises `Failure` at its end when a sink failed (the others are done by then).
    Each sink is its own asset with its own receipt and check, materialized as soon as it is
    done; leaving the block waits for every writer."""
    settings: SyncSettings = context.resources.settings
    store, run_id = settings.store(), context.run.run_id
    run = SinkRun(
        run_id=run_id,
        plan=plan,
        whole_check=settings.full_read,
        memory=commit_state(store, run_id),
    )
    selected = busy_first(
        [dt for dt in sink_datatypes(flows) if sink_key(dt) in context.selected_asset_keys],
        set(plan.writes["datatype"].unique().to_list()),
    )
    with writing(context, run, selected, settings) as outcomes:
        yield _receipts(outcomes, settings)


def _receipts(
    outcomes: Iterator[tuple[Datatype, Any]], settings: SyncSettings
) -> Iterator[Output | AssetCheckResult]:
    failures: list[tuple[str, str]] = []  # (datatype key, what happened)
    for dt, outcome in outcomes:
        if isinstance(outcome, BaseException):
            failures.append((dt.key, _failure_line(dt, outcome)))
            continue
        receipt, metadata, duplicates = outcome
        if settings.full_read or did_something(metadata):
            yield Output(
                published_receipt(receipt), output_name=_output_name(dt), metadata=metadata
            )
        # checked every run: the check is about the datatype's state, not the run's writes
        yield AssetCheckResult(
            asset_key=sink_key(dt),
            check_name="no_duplicate_inserts",
            passed=duplicates.is_empty(),
            metadata={
                "duplicate_inserts": duplicates.height,
                "duplicates": markdown_table(duplicates),
            },
        )
    if failures:
        raise Failure(
            description="\n".join(line for _, line in failures),
            metadata={"failed_sinks": MetadataValue.json(dict(failures))},
        )


def busy_first(datatypes: Sequence[Datatype], planned: set[str]) -> list[Datatype]:
    """`datatypes` in order, those with planned writes first: a sink with nothing to send only
    records (under the run's commit lock), and waiting there behind another system's commits
    must not hold up its own system's writes. Writes keep their order."""
    return sorted(datatypes, key=lambda dt: dt.key not in planned)


IDLE_COUNTS = ("dagster/row_count", "linked", "conflicts", "rejected_in_plan", "skipped")
"""Receipt metadata that count what a sink did; all zero: it had nothing to do this run."""


def did_something(metadata: dict) -> bool:
    """Whether a sink's receipt says anything: a write, link, conflict, reject or skip. A sink
    that did nothing is not materialized (its last receipt stands), so a run's Dagster events
    and stored receipts follow what changed; the daily full read materializes every sink."""
    return any(metadata.get(key) for key in IDLE_COUNTS)


def _output_name(dt: Datatype) -> str:
    return f"{dt.system}__{dt.name}"


def _failure_line(dt: Datatype, error: BaseException) -> str:
    """`Failure` descriptions say it all; other errors are named with the datatype."""
    if isinstance(error, Failure) and error.description:
        return error.description
    return f"writing {dt.key} failed: {type(error).__name__}: {error}"
