"""Sink steps: one per target (system, datatype). Each executes this run's planned writes for
its datatype through the system's connector and, after every batch, records the confirmed
writes (links, last synced values, insert tracking) and the sync log in one transaction
(S10, S11). Its materialization is the receipt: what was written, rejected, and why.
"""

from collections.abc import Sequence

import polars as pl
from dagster import (
    AssetCheckResult,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetKey,
    AssetsDefinition,
    Failure,
    Output,
    asset,
)

from talk_assets.defs import connectors
from talk_assets.defs.flow_tables import written_properties_lineage
from talk_assets.defs.live import PROGRESS_EXTRA
from talk_assets.defs.metadata import lineage_table, markdown_table
from talk_assets.defs.planning import PLAN_KEY, flow_key, load_plan
from talk_assets.defs.progress import SINKS_DONE, sink_done_row
from talk_assets.defs.recovery import INTENTS_TABLE
from talk_assets.defs.settings import SyncSettings
from talk_assets.defs.sources import OWNERS
from talk_assets.defs.state_rows import delta_tables, remove_keys, state_of
from talk_assets.defs.synclog import (
    SYNC_LOG,
    confirmed_writes,
    decision_log,
    now,
    value_history,
    write_log,
)
from talk_assets.defs.table_docs import published_receipt, receipt_schema
from talk_assets.engine import SyncPlan
from talk_assets.engine.apply import plan_records, state_delta
from talk_assets.lineage import PropertyEdge, edges_of
from talk_assets.store.tenant import STATE_SCHEMA, TenantStore
from talk_assets.systems import Datatype, ResolvedFlow

BATCH = 200
"""Writes per committed batch, at least: bounds what a crash leaves unrecorded (insert
intents cover that window, see `recovery.py`)."""
MAX_COMMITS = 10
"""Each commit queries the state rows its whole plan names and folds the batch into them
(O(plan) per commit), so big runs use bigger batches: at 10k records per datatype 25 commits
per sink cost about a tenth of the initial load; insert intents cover the larger window."""


def sink_key(dt: Datatype) -> AssetKey:
    return AssetKey(["sinks", f"{dt.system}__{dt.name}"])


def sink_name(dt: Datatype) -> str:
    """The sink's name in the `sinks_done` progress table."""
    return sink_key(dt).to_user_string()


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


def build_sink(dt: Datatype, flows: Sequence[ResolvedFlow], pool: str) -> AssetsDefinition:
    key = sink_key(dt)
    related = [f for f in flows if writes_into(f, dt)]
    edges = _incoming_edges(related, dt)

    @asset(
        key=key,
        group_name="sinks",
        kinds={dt.system, "httpx", "duckdb"},
        owners=OWNERS,
        deps=[PLAN_KEY, *(flow_key(f) for f in related)],
        required_resource_keys={dt.system, "settings"},
        pool=pool,
        check_specs=[
            AssetCheckSpec(
                "no_duplicate_inserts",
                asset=key,
                description="S10: no source record was inserted twice into this datatype.",
            )
        ],
        description=(
            f"Write this run's planned inserts and updates of {dt.key} through the "
            f"{dt.system} API, then record links, last synced values and the sync log."
        ),
        metadata={
            "property_lineage": lineage_table(edges),
            "dagster/column_lineage": written_properties_lineage(related, dt),
            "dagster/column_schema": receipt_schema(),
        },
    )
    def _sink(context: AssetExecutionContext):
        settings: SyncSettings = context.resources.settings
        receipt, metadata, duplicates = run_sink(
            context, dt, settings, getattr(context.resources, dt.system)
        )
        yield Output(published_receipt(receipt), metadata=metadata)
        yield AssetCheckResult(
            asset_key=key,
            check_name="no_duplicate_inserts",
            passed=duplicates.is_empty(),
            metadata={
                "duplicate_inserts": duplicates.height,
                "duplicates": markdown_table(duplicates),
            },
        )

    return _sink


def run_sink(context: AssetExecutionContext, dt: Datatype, settings: SyncSettings, resource):
    store = settings.store()
    run_id = context.run.run_id
    plan = load_plan(store, run_id)
    writes = plan.writes.filter(pl.col("datatype") == dt.key).sort("write_id")
    started = now()
    decisions = decision_log(plan, dt.key, run_id, started)
    if not settings.retry_rejected:  # a retry logs its rejects again: the retry's answer
        decisions = _new_decisions(store, decisions)

    _progress(context, dt, 0, writes.height)
    if settings.dry_run:  # publish the plan, change nothing (S12)
        receipt = write_log(plan, writes, _planned(writes), run_id, started)
        return (
            receipt,
            _metadata(receipt, decisions, plan, dt, dry_run=True),
            _duplicates(store, dt),
        )

    logs: list[pl.DataFrame] = []
    fatal = None
    confirmed = confirmed_writes(store, run_id).to_list()
    size = max(BATCH, -(-writes.height // MAX_COMMITS))
    for start in range(0, writes.height, size):
        batch = writes.slice(start, size)
        ops = connectors.build_ops(batch, dt, settings.tenant, plan.insert_sources)
        # Write-ahead: inserts are recorded as intended before they are sent. A crash after a
        # system stored them but before `_commit` leaves the intent, and the next run looks
        # the reference up before planning (`recovery.py`) instead of inserting twice (S10).
        store.write_tables(
            append={INTENTS_TABLE: connectors.intents(ops, dt.key, run_id, plan.insert_sources)}
        )
        results = connectors.execute(resource, ops)
        result_frame, outcomes = connectors.results_frames(results)
        log = write_log(plan, batch, outcomes, run_id, now())
        _commit(
            store,
            plan,
            result_frame,
            log,
            run_id,
            connectors.settled_references(results),
            confirmed_earlier=confirmed,
        )
        confirmed.extend(result_frame.filter(pl.col("ok"))["write_id"].to_list())
        logs.append(log)
        _progress(context, dt, start + batch.height, writes.height)
        fatal = connectors.fatal_error(results)
        if fatal:
            break
    if writes.is_empty():  # still record new merge links and agreements of this run
        _commit(
            store, plan, connectors.results_frames([])[0], None, run_id, confirmed_earlier=confirmed
        )
    # The last write of the sink: its plan is done (`progress.py`); a fatal stop is not done.
    done = {} if fatal else {SINKS_DONE: sink_done_row(run_id, sink_name(dt))}
    store.write_tables(append={"sync_log": decisions, **done})
    receipt = pl.concat([pl.DataFrame(schema=SYNC_LOG), *logs])
    if fatal:
        raise Failure(
            description=f"{dt.system} cannot be used, stopped writing {dt.key}: {fatal}",
            metadata={"written_before_stop": receipt.height},
        )
    return receipt, _metadata(receipt, decisions, plan, dt, dry_run=False), _duplicates(store, dt)


def _progress(context: AssetExecutionContext, dt: Datatype, done: int, total: int) -> None:
    """A progress line per batch; the terminal display reads its `talk_progress` extra."""
    if total:
        context.log.info(
            f"{dt.key}: {done}/{total} writes",
            extra={PROGRESS_EXTRA: {"done": done, "total": total, "unit": "writes"}},
        )


def _commit(
    store: TenantStore,
    plan: SyncPlan,
    results: pl.DataFrame,
    log: pl.DataFrame | None,
    run_id: str,
    settled: Sequence[str] = (),
    *,
    confirmed_earlier: Sequence[str] = (),
) -> None:
    """Fold confirmed writes into the state, with their log rows, and drop the intents of
    settled inserts: one transaction (S10), touching only the rows this batch changes.
    `confirmed_earlier`: writes of this run confirmed by earlier batches or sinks, so a pair
    written on both sides advances once both are."""
    state = state_of(store, plan_records(plan))
    delta = state_delta(state, plan, results, confirmed_earlier=confirmed_earlier)
    tables = delta_tables(delta)
    append = tables["append"]
    if log is not None and log.height:
        confirmed = results.filter(pl.col("ok")).select("write_id", "new_id")
        append["sync_log"] = log
        append["sync_values"] = value_history(plan, confirmed, run_id, now())
    remove = {INTENTS_TABLE: remove_keys("reference", settled)} if settled else {}
    store.write_tables(append=append, upsert=tables["upsert"], remove=remove)


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


def _planned(writes: pl.DataFrame) -> pl.DataFrame:
    return writes.select(
        "write_id",
        outcome=pl.lit("planned"),
        new_id=pl.lit(None, pl.String),
        status=pl.lit(None, pl.Int64),
        error=pl.lit(None, pl.String),
        recovered=pl.lit(False),
    )


def _metadata(
    receipt: pl.DataFrame, decisions: pl.DataFrame, plan: SyncPlan, dt: Datatype, *, dry_run: bool
) -> dict:
    ops = receipt["operation"]
    rejected = decisions.filter(pl.col("operation") == "reject")
    mine = pl.col("source").str.starts_with(dt.key + ":") | pl.col("target").str.starts_with(
        dt.key + ":"
    )
    conflicts = plan.conflicts.filter(mine)
    return {
        "dagster/row_count": receipt.height,
        "dry_run": dry_run,
        "inserted": int((ops == "insert").sum()),
        "linked": plan.merges.filter(mine).height + int((ops == "insert").sum()),
        "conflicts": conflicts.height,
        "conflicts_preview": markdown_table(conflicts, rows=10),
        "updated": int((ops == "update").sum()),
        "planned": int((ops == "planned").sum()),
        "rejected_by_system": int((ops == "rejected").sum()),
        "failed": int(ops.is_in(["failed", "unknown"]).sum()),
        "rejected_in_plan": rejected.height,
        "skipped": int((decisions["operation"] == "skip").sum()),
        "updates_sesam_count": int(ops.is_in(["insert", "update"]).sum()),
        "rejects": markdown_table(
            pl.concat(
                [
                    rejected.select("source_record", "flows", "properties", "error"),
                    receipt.filter(
                        pl.col("operation").is_in(["rejected", "failed", "unknown"])
                    ).select("source_record", "flows", "properties", "error"),
                ]
            ),
            rows=20,
        ),
        "preview": markdown_table(published_receipt(receipt)),
    }


def _duplicates(store: TenantStore, dt: Datatype) -> pl.DataFrame:
    """Insert tracking rows that point two inserts of one source record into `dt` (a query:
    the tracking table is never loaded whole)."""
    empty = pl.DataFrame(schema={"flow": pl.String, "source": pl.String, "n": pl.UInt32})
    if "inserted" not in store.table_names(STATE_SCHEMA):
        return empty
    found = store.query(
        f"select flow, source, count(*) as n from {STATE_SCHEMA}.inserted "
        "where starts_with(target, (select prefix from this)) "
        "group by flow, source having count(*) > 1",
        this=pl.DataFrame({"prefix": [dt.key + ":"]}),
    )
    return found.cast({"n": pl.UInt32})


RECEIPT_KEY_COLUMNS = ("operation", "record_id", "source_record", "properties", "error")


def _key_columns_first(receipt: pl.DataFrame) -> pl.DataFrame:
    """The sync-log rows with what a reader looks for first (what happened to which record,
    and why) on the left; run id and time, the same on every row, last."""
    rest = [c for c in receipt.columns if c not in RECEIPT_KEY_COLUMNS]
    return receipt.select(*RECEIPT_KEY_COLUMNS, *rest)
