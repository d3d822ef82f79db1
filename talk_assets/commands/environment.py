"""Configuration from the environment and an optional `.env` file (SYSTEMS.md)."""

from __future__ import annotations

import logging
import os


def load_environment() -> None:
    """Read `.env` (if present; real environment variables win) and quiet Dagster's chatter."""
    from dotenv import load_dotenv

    load_dotenv(os.environ.get("TALK_ASSETS_ENV_FILE", ".env"), override=False)
    logging.getLogger("dagster").setLevel(logging.WARNING)
    os.environ.setdefault("DAGSTER_DISABLE_TELEMETRY", "1")
