"""Connector client options for the system tests."""

from __future__ import annotations

from typing import Any

FAST: dict[str, Any] = dict(
    timeout=3.0,
    requests_per_second=None,
    backoff_initial=0.02,
    backoff_max=0.2,
    max_attempts=8,
    max_retry_seconds=20,
    timeout_grace=0.2,
)
"""Connector client options for tests: short timeouts and backoff, no client-side pace."""
