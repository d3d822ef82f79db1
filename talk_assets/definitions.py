"""Dagster definitions for the Dagster UI and CLI (`workspace.yaml` points here).

Configuration comes from the environment, plus `.env` (or the file TALK_ASSETS_ENV_FILE names).
"""

from talk_assets.commands.environment import load_environment
from talk_assets.defs.build import build_definitions

load_environment()
defs = build_definitions()
