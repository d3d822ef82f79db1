"""The settings of one connector client: timeouts, retry budget, pacing and concurrency."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any


class ConfigError(ValueError):
    """A setting in the environment that cannot be used; the message names the variable."""


def pace_from_env(variable: str, env: Mapping[str, str]) -> float | None:
    """The client's pace from `variable` (`<SYSTEM>_REQUESTS_PER_SECOND`), for tenants
    with other agreed limits; 0 = no client-side pace (unlimited emulators); None when unset
    (the system's own limit applies)."""
    text = (env.get(variable) or "").strip()
    if not text:
        return None
    try:
        pace = float(text)
    except ValueError:
        pace = math.nan
    if not (0 <= pace < math.inf):
        raise ConfigError(f"{variable} must be requests per second (0 = no pace), got {text!r}")
    return pace


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
