"""The state rows a run's commits read, kept in memory instead of asked of the tenant file.

Every sink batch reads the links and insert tracking naming its records (`sink_writes._commit`).
At 100k records per datatype each such query scans a table of half a million rows or more
(~45 ms for links, ~35 ms for insert tracking, a few hundred of them in an initial load). The
rows are known without asking: while a run's sinks write, only their own commits change these
tables, so the rows naming a batch's records are those its plan was made from (the state of
the planned clusters, every row naming one of their records) plus what earlier commits of the
run added. `RunState` keeps both and answers like `state_rows.state_of`.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence

import polars as pl

from talk_assets.defs.state_rows import naming_columns
from talk_assets.engine import SyncState

COMMIT_READS = ("links", "inserted")
"""The state tables a commit reads (`state_delta`); synced values are replaced by key, never
read, so the largest table stays out of memory."""


class RunState:
    """The rows of `COMMIT_READS` tables naming the records of one run's plan: those it was planned
    from, and those its commits appended (`add`, in commit order). Not thread-safe: the
    sinks use it under their commit lock."""

    def __init__(self, planned_from: SyncState) -> None:
        frames = planned_from.frames()
        self._frames: dict[str, pl.DataFrame] = {name: frames[name] for name in COMMIT_READS}

    def add(self, appended: Mapping[str, pl.DataFrame]) -> None:
        """Rows a commit appended to the state tables (others than `COMMIT_READS` are not kept)."""
        for name, rows in appended.items():
            if name in self._frames and rows.height:
                self._frames[name] = pl.concat(
                    [self._frames[name], rows.select(self._frames[name].columns)],
                    how="vertical_relaxed",
                )

    def of(
        self,
        records: pl.Series,
        tables: Sequence[str],
        *,
        by_source: Collection[str] = (),
    ) -> SyncState:
        """`state_rows.state_of(store, records, tables, by_source=...)`, from memory; every one
        of `tables` must be kept."""
        keys = records.cast(pl.String).unique().implode()
        frames: dict[str, pl.DataFrame | None] = {}
        for table in tables:
            if table not in self._frames:
                raise KeyError(f"state table {table!r} is not kept in memory")
            naming = pl.any_horizontal(
                pl.col(c).cast(pl.String).is_in(keys) for c in naming_columns(table, by_source)
            )
            frames[table] = self._frames[table].filter(naming)
        return SyncState.from_frames(frames)
