"""make_plan: the whole run's plan from current records, flows and state."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import polars as pl

from talk_assets.engine.plan import SyncPlan
from talk_assets.engine.state import SyncState
from talk_assets.flows.model import Flow
from talk_assets.systems import ResolvedFlow


def make_plan(
    records: Mapping[str, pl.DataFrame],
    flows: Sequence[ResolvedFlow | Flow],
    state: SyncState,
) -> SyncPlan:
    """Plan one run. records: datatype key -> current records with the schema's columns;
    flows in document order. Pure: nothing is written, so a dry run is just this (S12)."""
    raise NotImplementedError
