"""Collecting the engine's lazy frames with the in-memory engine.

Polars 2 defaults to the streaming engine, which is several times slower for what the planner
does to frames that are in memory anyway: sorting and gathering millions of short rows (the
1M-record plan's mapped frame: 2 s streaming, 0.2 s in memory) and joining them.
"""

from __future__ import annotations

from collections.abc import Iterable

import polars as pl

ENGINE = "in-memory"


def collect_all(frames: Iterable[pl.LazyFrame]) -> list[pl.DataFrame]:
    return pl.collect_all(frames, engine=ENGINE)
