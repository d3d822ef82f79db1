"""Answers per row, the way Hightouch's sync logs give them: why rows were rejected or in
conflict (top reasons with counts), and what a dry run would write, row by row.

Pure functions of a run's plan and its sync-log rows; `runner.report` calls them.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import polars as pl

from talk_assets.engine import SyncPlan

PLANNED = {
    "operation": pl.String,
    "datatype": pl.String,
    "record": pl.String,
    "property": pl.String,
    "old_value": pl.String,
    "new_value": pl.String,
    "why": pl.String,
    "flow": pl.String,
}
"""One row per planned (record, property) write: `record` is the written record
(`system.datatype:id`, or `new <datatype> for <source record>` for an insert)."""

TOP_REASONS = 3


def planned_rows(plan: SyncPlan) -> pl.DataFrame:
    """Every property the plan would write, with its old and new value and why."""
    updates = plan.updates.select(
        operation=pl.lit("update"),
        datatype="datatype",
        record="record",
        property="property",
        old_value="old_value",
        new_value="new_value",
        why=pl.format("{} ({})", pl.col("reason"), pl.col("direction").str.replace("_", " ")),
        flow="flow",
    )
    sources = plan.insert_sources.group_by("write_id", maintain_order=True).agg(
        source=pl.col("source").first(), flow=pl.col("flow").sort().str.join(",")
    )
    rows = []
    inserts = plan.writes.filter(pl.col("op") == "insert").join(sources, on="write_id", how="left")
    for r in inserts.iter_rows(named=True):
        values = json.loads(r["values"] or "{}")
        for prop, value in values.items():
            rows.append(
                {
                    "operation": "insert",
                    "datatype": r["datatype"],
                    "record": f"new {r['datatype']} for {r['source']}",
                    "property": prop,
                    "old_value": None,
                    "new_value": value if isinstance(value, str) else json.dumps(value),
                    "why": f"new record: {r['source']} has no partner in {r['datatype']}",
                    "flow": r.get("flow_right") or r["flow"],
                }
            )
    frame = pl.concat([pl.DataFrame(rows, schema=PLANNED), updates.cast(PLANNED)])
    return frame.sort("datatype", "record", "property", maintain_order=True)


def write_planned(frame: pl.DataFrame, path: Path) -> None:
    """`--output FILE.json|FILE.csv`: the planned rows as a JSON list of objects or CSV."""
    suffix = path.suffix.lower()
    path.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".json":
        path.write_text(json.dumps(frame.to_dicts(), indent=1, ensure_ascii=False) + "\n")
    elif suffix == ".csv":
        with path.open("w", newline="", encoding="utf-8") as out:
            writer = csv.writer(out)
            writer.writerow(frame.columns)
            writer.writerows(frame.iter_rows())
    else:
        raise ValueError(f"{path}: --output must end in .json or .csv")


def reasons(plan: SyncPlan, log: pl.DataFrame | None) -> pl.DataFrame:
    """Why rows were rejected, failed or in conflict this run: kind, reason, where, rows.

    From the plan's rejects (values or records that cannot be written) and conflicts, and the
    sync log's rejected, failed and unknown writes of this run (the system's answers)."""
    parts = [
        plan.rejects.select(
            kind=pl.lit("rejected"),
            reason=pl.format("{}: {}", pl.col("property").fill_null("record"), pl.col("reason")),
            where=pl.col("record").str.split(":").list.first(),
            row=pl.format("{}|{}", pl.col("record"), pl.col("property").fill_null("")),
        ),
        plan.conflicts.select(
            kind=pl.lit("conflicts"),
            reason=pl.format("{}: {}", pl.col("property"), pl.col("reason")),
            where=pl.format(
                "{} vs {}",
                pl.col("source").str.split(":").list.first(),
                pl.col("target").str.split(":").list.first(),
            ),
            row=pl.format("{}|{}|{}", pl.col("source"), pl.col("target"), pl.col("property")),
        ),
    ]
    if log is not None and log.height:
        refused = log.filter(pl.col("operation").is_in(["rejected", "failed", "unknown"]))
        parts.append(
            refused.select(
                kind=pl.when(pl.col("operation") == "rejected")
                .then(pl.lit("rejected"))
                .otherwise(pl.lit("failed")),
                reason=pl.format(
                    "{}{}",
                    pl.col("error").fill_null(pl.col("operation")),
                    pl.when(pl.col("http_status").is_not_null())
                    .then(pl.format(" (HTTP {})", pl.col("http_status")))
                    .otherwise(pl.lit("")),
                ),
                where="datatype",
                row=pl.coalesce("write_id", "source_record", "record_id"),
            )
        )
    rows = pl.concat([p.cast(pl.String) for p in parts])
    return (
        rows.group_by("kind", "reason", "where")
        .agg(rows=pl.col("row").n_unique())
        .sort(["kind", "rows", "reason"], descending=[False, True, False])
    )


def reason_lines(table: pl.DataFrame, top: int = TOP_REASONS) -> list[str]:
    """`rejected 23: 20 x "ownerId: cannot convert 'abc' to integer" (acme.activities), ...`"""
    lines = []
    for kind in ("rejected", "failed", "conflicts"):
        mine = table.filter(pl.col("kind") == kind)
        if mine.is_empty():
            continue
        shown = [
            f'{r["rows"]} x "{r["reason"]}" ({r["where"]})'
            for r in mine.head(top).iter_rows(named=True)
        ]
        rest = mine.slice(top)
        if rest.height:
            shown.append(f"{int(rest['rows'].sum())} x {rest.height} other reason(s)")
        lines.append(f"{kind} {int(mine['rows'].sum())}: " + ", ".join(shown))
    return lines


def planned_lines(frame: pl.DataFrame, limit: int = 40) -> list[str]:
    """The planned rows as lines: record property: old -> new  (why; flow)."""
    lines = [f"planned rows ({frame.height}):"]
    for r in frame.head(limit).iter_rows(named=True):
        lines.append(
            f"  {r['record']} {r['property']}: {r['old_value']!r} -> {r['new_value']!r}  "
            f"({r['why']}; flow {r['flow']})"
        )
    if frame.height > limit:
        lines.append(
            f"  ... {frame.height - limit} more (all of them: --output FILE.json|FILE.csv)"
        )
    return lines


COUNT_TAGS = ("inserted", "updated ->", "updated <-", "conflicts", "rejected")


def run_tags(flows: pl.DataFrame, read: dict[str, int], skipped: str | None) -> dict[str, str]:
    """The run's counts as Dagster run tags (`talk_assets/read`, `talk_assets/inserted`, ...),
    so the UI's run list shows what each run did without opening it."""
    tags = {"talk_assets/read": str(sum(read.values()))}
    for column in COUNT_TAGS:
        total = int(flows[column].sum()) if column in flows.columns and flows.height else 0
        name = column.replace("updated ->", "updated_to_target").replace(
            "updated <-", "updated_to_source"
        )
        tags[f"talk_assets/{name}"] = str(total)
    if skipped:
        tags["talk_assets/skipped"] = "nothing read, nothing pending"
    return tags
