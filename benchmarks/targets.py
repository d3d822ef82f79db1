"""Issue 10's targets, checked against one run of `process_benchmark.py`: each row names the
target, the size, what was measured, the bound it is held to and whether it holds.

The no-change and 1%-edited targets are stated for 100k records and checked at the largest size
measured; the initial-load target at every size.

- no change: at most 1.3x the 1k no-change run (the same-minutes 1k reference tenant's, the
  machine's speed drifts), under 5 s and under 1 GB peak RSS;
- 1% edited: at most 1.3x the same size's no-change run plus the HTTP time of its writes, read
  as the run's writing window (first to last sample in which writes moved);
- initial load: at least 80% of the raw write floor (floor time / wall time);
- under real rate limits: every system at 95% or more of its limit while all of them wrote,
  and no 429.
"""

from __future__ import annotations

from typing import Any

from rich.table import Table

NO_CHANGE_VS_1K = 1.3
NO_CHANGE_SECONDS = 5.0
NO_CHANGE_RSS_MB = 1024.0
EDITED_VS_NO_CHANGE = 1.3
INITIAL_LOAD_SHARE_OF_FLOOR = 0.8
SHARE_OF_LIMIT = 0.95


def issue_targets(results: list[dict], limited: dict | None) -> list[dict[str, Any]]:
    """One row per target and size: target, size, measured, bound, met."""
    rows: list[dict[str, Any]] = []
    largest = max((r["size"] for r in results), default=None)

    def row(target: str, size: int, measured: str, bound: str, met: bool) -> None:
        rows.append(
            {"target": target, "size": size, "measured": measured, "bound": bound, "met": met}
        )

    for result in results:
        size, phases = result["size"], result["phases"]
        load = phases.get("initial load")
        if load and load.get("floor_seconds"):
            share = load["floor_seconds"] / load["seconds"]
            row(
                "initial load: share of the raw write floor",
                size,
                f"{share:.0%}",
                f">= {INITIAL_LOAD_SHARE_OF_FLOOR:.0%}",
                share >= INITIAL_LOAD_SHARE_OF_FLOOR,
            )
        if size != largest:
            continue
        unchanged = phases.get("no change")
        if unchanged:
            vs_ref = unchanged.get("vs_reference_1k")
            if vs_ref is not None:
                row(
                    "no change: x the 1k reference",
                    size,
                    f"{vs_ref:g}",
                    f"<= {NO_CHANGE_VS_1K:g}",
                    vs_ref <= NO_CHANGE_VS_1K,
                )
            row(
                "no change: seconds, peak RSS MB",
                size,
                f"{unchanged['seconds']:g} s, {unchanged['peak_rss_mb']:,.0f} MB",
                f"< {NO_CHANGE_SECONDS:g} s, < {NO_CHANGE_RSS_MB:,.0f} MB",
                unchanged["seconds"] < NO_CHANGE_SECONDS
                and unchanged["peak_rss_mb"] < NO_CHANGE_RSS_MB,
            )
        edited = phases.get("1% edited")
        if unchanged and edited:
            writing = edited.get("writing_seconds") or 0.0
            bound = EDITED_VS_NO_CHANGE * unchanged["seconds"] + writing
            row(
                "1% edited: seconds",
                size,
                f"{edited['seconds']:g} s",
                f"<= {bound:.2f} s ({EDITED_VS_NO_CHANGE:g} x {unchanged['seconds']:g} "
                f"+ writing {writing:g})",
                edited["seconds"] <= bound,
            )
    if limited:
        both = limited.get("all_writing", {})
        for system, facts in limited["systems"].items():
            rate = both.get(system, {}).get("requests_per_second") or 0.0
            limit = facts["limit_requests_per_second"]
            refused = facts["answers_429"]
            row(
                f"real limits: {system} while all wrote, 429s",
                limited["size"],
                f"{rate / limit:.0%}, {refused}" if limit else f"-, {refused}",
                f">= {SHARE_OF_LIMIT:.0%}, 0",
                bool(limit) and rate / limit >= SHARE_OF_LIMIT and refused == 0,
            )
    return rows


def targets_table(rows: list[dict[str, Any]]) -> Table:
    table = Table(title="issue 10's targets in this run")
    for head in ("target", "N", "measured", "bound", "met"):
        table.add_column(head, justify="right" if head == "N" else "left")
    for r in rows:
        met = "yes" if r["met"] else "NO"
        table.add_row(r["target"], f"{r['size']:,}", r["measured"], r["bound"], met)
    return table
