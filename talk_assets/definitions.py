"""Dagster definitions for the Dagster UI and CLI (`workspace.yaml` points here)."""

from talk_assets.defs.build import build_definitions

defs = build_definitions()
