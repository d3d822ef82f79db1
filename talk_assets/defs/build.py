"""Assemble the Dagster definitions from the committed flow specifications."""

from __future__ import annotations

import os
from pathlib import Path

from dagster import Definitions

from talk_assets.defs.io_manager import PolarsDuckDBIOManager


def state_home() -> Path:
    return Path(os.environ.get("TALK_ASSETS_HOME", ".talk_assets"))


def build_definitions() -> Definitions:
    home = state_home()
    return Definitions(
        assets=[],
        resources={"io_manager": PolarsDuckDBIOManager(database=str(home / "default.duckdb"))},
    )
