"""apply: fold the confirmed writes of a plan into the state (S5, S10)."""

from __future__ import annotations

import polars as pl

from talk_assets.engine.plan import SyncPlan
from talk_assets.engine.state import SyncState


def apply(state: SyncState, plan: SyncPlan, results: pl.DataFrame) -> SyncState:
    """New state after the sinks executed `plan.writes` and answered `results` (RESULTS).

    Only confirmed writes (ok) change links, insert tracking and synced values; merges found by
    criteria and agreements that needed no write are recorded as well.
    """
    raise NotImplementedError
