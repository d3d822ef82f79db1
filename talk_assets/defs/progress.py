"""Whether a run has anything to do: a no-change run skips planning and the sinks (S9).

Three small state tables, each appended to in the transaction of the step it records:
- `snapshot_changes` (run_id, datatype, rows, time): a source stored changed records (or a
  full read, recovered inserts or disappearances); written with the snapshot rows themselves;
- `plans` (run_id, changes_seen, time): planning made a plan covering that many changes;
- `sinks_done` (run_id, sink, time): a sink finished every write of that run's plan.

A run may skip planning only when nothing changed since the last plan, that plan's sinks all
finished, none of its writes failed transiently (those are retried by planning again), and no
insert intent is pending. Anything else, a dry run or a full read (the daily safety net) plans
as before. Every doubt resolves to planning: skipping is only ever an optimisation.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import polars as pl

from talk_assets.defs.recovery import INTENTS_TABLE
from talk_assets.store.tenant import STATE_SCHEMA, TenantStore

CHANGES = "snapshot_changes"
CHANGED_RECORDS = "changed_records"
CHANGED_SCHEMA = {"run_id": pl.String, "record": pl.String}
PLANS = "plans"
SINKS_DONE = "sinks_done"
TIME = pl.Datetime("us", "UTC")


def change_row(run_id: str, datatype: str, rows: int) -> pl.DataFrame:
    """The `snapshot_changes` row a source appends with the records it stored."""
    return pl.DataFrame(
        {"run_id": [run_id], "datatype": [datatype], "rows": [rows], "time": [datetime.now(UTC)]},
        schema={"run_id": pl.String, "datatype": pl.String, "rows": pl.Int64, "time": TIME},
    )


def changed_rows(run_id: str, keys: Sequence[str] | None) -> pl.DataFrame:
    """The `changed_records` rows a source appends with what it stored: the record keys
    planning must cover (`plan_scope.py`); None: every record (a full read)."""
    records = [None] if keys is None else list(keys)
    return pl.DataFrame(
        {"run_id": [run_id] * len(records), "record": records}, schema=CHANGED_SCHEMA
    )


def changed_this_run(store: TenantStore, run_id: str, datatype: str) -> bool:
    """Whether a source stored changes of `datatype` in this run."""
    if CHANGES not in store.table_names(STATE_SCHEMA):
        return False
    found = store.query(
        f"select 1 from {STATE_SCHEMA}.{CHANGES} where run_id in (select run_id from this) "
        "and datatype in (select datatype from this) limit 1",
        this=pl.DataFrame({"run_id": [run_id], "datatype": [datatype]}),
    )
    return found.height > 0


def changed_ids(store: TenantStore, run_id: str, datatype: str) -> list[str] | None:
    """The ids of `datatype` records a source stored in this run; None when it stored them
    all (a full read)."""
    if CHANGED_RECORDS not in store.table_names(STATE_SCHEMA):
        return []
    rows = store.query(
        f"select record from {STATE_SCHEMA}.{CHANGED_RECORDS} "
        "where run_id in (select run_id from this) "
        "and (record is null or starts_with(record, (select prefix from this)))",
        this=pl.DataFrame({"run_id": [run_id], "prefix": [datatype + ":"]}),
    )["record"]
    if rows.is_null().any():
        return None
    return rows.str.slice(len(datatype) + 1).to_list()


def record_plan(store: TenantStore, run_id: str) -> pl.DataFrame:
    """The `plans` row of a plan made now (append it with the plan's state writes)."""
    seen = store.count(STATE_SCHEMA, CHANGES)
    return pl.DataFrame(
        {"run_id": [run_id], "changes_seen": [seen], "time": [datetime.now(UTC)]},
        schema={"run_id": pl.String, "changes_seen": pl.Int64, "time": TIME},
    )


def sink_done_row(run_id: str, sink: str) -> pl.DataFrame:
    return pl.DataFrame(
        {"run_id": [run_id], "sink": [sink], "time": [datetime.now(UTC)]},
        schema={"run_id": pl.String, "sink": pl.String, "time": TIME},
    )


def nothing_to_do(store: TenantStore, sinks: Sequence[str]) -> str | None:
    """Why planning may be skipped (a sentence for the log), or None when it must plan."""
    tables = store.table_names(STATE_SCHEMA)
    if PLANS not in tables:
        return None
    with store.connect() as con:
        last = con.execute(
            f"select run_id, changes_seen from {STATE_SCHEMA}.{PLANS} order by time desc limit 1"
        ).fetchone()
    if last is None:
        return None
    run_id, seen = last
    if store.count(STATE_SCHEMA, CHANGES) != seen or store.count(STATE_SCHEMA, INTENTS_TABLE):
        return None
    this = pl.DataFrame({"run_id": [run_id]})
    done: list[str] = []
    if SINKS_DONE in tables:
        done = store.query(
            f"select distinct sink from {STATE_SCHEMA}.{SINKS_DONE} "
            "where run_id in (select run_id from this)",
            this=this,
        )["sink"].to_list()
    if set(sinks) - set(done):
        return None
    if "sync_log" in tables:
        failed = store.query(
            f"select 1 from {STATE_SCHEMA}.sync_log where run_id in (select run_id from this) "
            "and operation in ('failed', 'unknown') limit 1",
            this=this,
        )
        if failed.height:
            return None
    return (
        f"nothing read and nothing pending since run {run_id}: planning and sinks skipped "
        "(a full read plans everything)"
    )
