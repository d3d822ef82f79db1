"""The settings of one connector client: timeouts, retry budget, pacing and concurrency."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from talk_assets.errors import ConfigError

__all__ = ["ConfigError", "HttpSettings", "pace_from_env", "pace_problem"]


def pace_problem(variable: str, env: Mapping[str, str]) -> str | None:
    """Why `variable` (`<SYSTEM>_REQUESTS_PER_SECOND`) is no pace (None when unset or valid)."""
    text = (env.get(variable) or "").strip()
    try:
        valid = not text or 0 <= float(text) < math.inf
    except ValueError:
        valid = False
    return None if valid else f"{variable} must be requests per second (0 = no pace), got {text!r}"


def pace_from_env(variable: str, env: Mapping[str, str]) -> float | None:
    """The client's pace from `variable`, for tenants with other agreed limits; 0 = no
    client-side pace (unlimited emulators); None when unset (the system's own limit applies).
    An unusable value is the product's `ConfigError` naming the variable."""
    problem = pace_problem(variable, env)
    if problem:
        raise ConfigError(problem)
    text = (env.get(variable) or "").strip()
    return float(text) if text else None


@dataclass(frozen=True)
class HttpSettings:
    """Timeouts, retry budget, pacing and concurrency of one client."""

    timeout: float = 30.0
    """Seconds to wait for an answer (read, write and pool timeouts)."""
    connect_timeout: float = 10.0
    requests_per_second: float | None = None
    """Client-side pace for every request to the system; None or 0 = no limiter."""
    max_attempts: int = 6
    """Attempts per call, the first included."""
    max_retry_seconds: float = 60.0
    """No retry starts once this much time has passed since the first attempt."""
    backoff_initial: float = 0.5
    backoff_max: float = 20.0
    retry_after_max: float = 60.0
    """A `Retry-After` longer than this is capped (the retry budget still bounds the call)."""
    write_concurrency: int = 4
    """Concurrent requests of one `write_many`."""
    page_size: int | None = None
    """Records per list request; None = the system's default."""
    token_refresh_margin: float = 60.0
    """Refresh a token this long before it expires (at most a tenth of its lifetime)."""
    timeout_grace: float = 5.0
    """After an insert timed out, wait this long before looking it up (it may still land)."""
    match_window: float = 300.0
    """How far back (seconds) an insert without a reference field looks for its record."""

    def with_overrides(self, **overrides: Any) -> HttpSettings:
        return replace(self, **overrides) if overrides else self
