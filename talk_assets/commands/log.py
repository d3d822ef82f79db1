"""`talk-assets log`: the sync log (state.sync_log) of a tenant, row by row, read-only.

Filters: --run RUN_ID (a prefix is enough) or `last`, --record KEY (`system.datatype:id`, as
the written record or the source record), --operation (insert, update, reject, skip,
rejected, failed, unknown; several comma-separated), newest first, at most --limit rows.
A table on the terminal (rich), or --json (every column, full values).
"""

from __future__ import annotations

import argparse
import json
import sys

import polars as pl

from talk_assets.commands.environment import load_environment
from talk_assets.commands.tenants import read_state, tenant_name
from talk_assets.errors import UserError
from talk_assets.store.tenant import STATE_SCHEMA, StateLocked

OPERATIONS = ("insert", "update", "reject", "skip", "rejected", "failed", "unknown")
COLUMNS = (
    "time",
    "run",
    "operation",
    "record",
    "source_record",
    "flows",
    "error",
    "http_status",
    "properties",
)
"""The table's columns, the key ones first."""
NO_WRAP = {"time", "run", "operation", "record", "source_record"}


def log_command(args: argparse.Namespace) -> int:
    load_environment()
    tenant = tenant_name(args.tenant)
    operations = _operations(args.operation)
    store = read_state(tenant)
    try:
        if "sync_log" not in store.table_names(STATE_SCHEMA):
            print(f"tenant {tenant!r}: nothing logged yet", file=sys.stderr)
            return 0
        run = _run_id(store, args.run) if args.run else None
        rows = store.query(
            f"select * from {STATE_SCHEMA}.sync_log "
            "where ((select run from p) is null or run_id = (select run from p)) "
            "and ((select record from p) is null "
            "  or datatype || ':' || record_id = (select record from p) "
            "  or source_record = (select record from p)) "
            "and ((select count(*) from ops) = 0 or operation in (select operation from ops)) "
            "order by time desc, write_id limit (select n from p)",
            p=pl.DataFrame(
                {"run": [run], "record": [args.record], "n": [args.limit]},
                schema={"run": pl.String, "record": pl.String, "n": pl.Int64},
            ),
            ops=pl.DataFrame({"operation": operations}, schema={"operation": pl.String}),
        )
    except StateLocked:
        raise UserError(
            "a sync is writing the state right now", fix="try again in a moment"
        ) from None
    if args.json:
        print(json.dumps(rows.to_dicts(), default=str, ensure_ascii=False, indent=1))
        return 0
    if rows.is_empty():
        print("no rows match")
        return 0
    _print_table(rows, tenant)
    return 0


def _operations(text: str | None) -> list[str]:
    if not text:
        return []
    ops = [o.strip() for o in text.split(",") if o.strip()]
    unknown = [o for o in ops if o not in OPERATIONS]
    if unknown:
        raise UserError(
            f"--operation {', '.join(unknown)}: unknown",
            fix=f"one or more of {', '.join(OPERATIONS)}",
            exit_code=2,
        )
    return ops


def _run_id(store, text: str) -> str:
    """`last`, a run id or its prefix -> the run id; unknown or ambiguous is an error."""
    if text == "last":
        found = store.query(
            f"select run_id from {STATE_SCHEMA}.sync_log order by time desc limit 1"
        )["run_id"].to_list()
    else:
        found = store.query(
            f"select distinct run_id from {STATE_SCHEMA}.sync_log "
            "where starts_with(run_id, (select prefix from p))",
            p=pl.DataFrame({"prefix": [text]}),
        )["run_id"].to_list()
    if len(found) == 1:
        return found[0]
    if not found:
        raise UserError(f"--run {text}: no logged run has this id")
    raise UserError(f"--run {text}: {len(found)} runs start with it; give more of the id")


def _print_table(rows: pl.DataFrame, tenant: str) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(width=None if sys.stdout.isatty() else 200)
    table = Table(title=f"sync log of tenant {tenant} (newest first, {rows.height} rows)")
    for column in COLUMNS:
        table.add_column(column, overflow="fold", no_wrap=column in NO_WRAP)
    for r in rows.iter_rows(named=True):
        record = f"{r['datatype']}:{r['record_id']}" if r["record_id"] else r["datatype"] or ""
        props = r["properties"] or ""
        table.add_row(
            f"{r['time']:%Y-%m-%d %H:%M:%S}",
            (r["run_id"] or "")[:8],
            r["operation"] or "",
            record,
            r["source_record"] or "",
            r["flows"] or "",
            r["error"] or "",
            "" if r["http_status"] is None else str(r["http_status"]),
            props if len(props) <= 120 else props[:117] + "...",
        )
    console.print(table)
