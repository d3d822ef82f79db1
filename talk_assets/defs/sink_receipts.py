"""What a sink's materialization says: its receipt's counts, its rejects and conflicts, and a
preview of what it wrote (or, in a dry run, would write)."""

from __future__ import annotations

import polars as pl

from talk_assets.defs.metadata import markdown_table
from talk_assets.defs.table_docs import published_receipt
from talk_assets.engine import SyncPlan
from talk_assets.systems import Datatype


def planned_outcomes(writes: pl.DataFrame) -> pl.DataFrame:
    """The outcome of writes a dry run did not send: planned."""
    return writes.select(
        "write_id",
        outcome=pl.lit("planned"),
        new_id=pl.lit(None, pl.String),
        status=pl.lit(None, pl.Int64),
        error=pl.lit(None, pl.String),
        recovered=pl.lit(False),
    )


def receipt_metadata(
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
