"""The emulator's server-side controls: its clock, the tokens it issues, its rate limit, the
faults it injects and the requests it counts."""

from __future__ import annotations

import math
import random
import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

WRITE_METHODS = ("POST", "PATCH", "PUT", "DELETE")

Json = dict[str, Any]

FAULT_KINDS: tuple[str, ...] = ("429", "500", "503", "slow", "drop", "drop_after")


class MonotonicClock:
    """Wall-clock UTC time in microseconds that never repeats and never goes back."""

    def __init__(self) -> None:
        self._last = 0
        self._lock = threading.Lock()

    def observe(self, moment: datetime) -> None:
        """Never answer a time at or before `moment` (loaded data's newest timestamp)."""
        with self._lock:
            self._last = max(self._last, _micros(moment))

    def now(self) -> datetime:
        with self._lock:
            self._last = max(time.time_ns() // 1000, self._last + 1)
            return datetime.fromtimestamp(0, UTC) + timedelta(microseconds=self._last)


def _micros(moment: datetime) -> int:
    return (moment - datetime.fromtimestamp(0, UTC)) // timedelta(microseconds=1)


class Tokens:
    """Bearer tokens with an expiry; the subject says who holds one (client or key)."""

    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self._tokens: dict[str, tuple[str, float]] = {}

    def issue(self, subject: str) -> str:
        now = time.monotonic()
        if len(self._tokens) > 10_000:
            self._tokens = {t: v for t, v in self._tokens.items() if v[1] > now}
        token = secrets.token_urlsafe(32)
        self._tokens[token] = (subject, now + self.ttl)
        return token

    def check(self, token: str) -> tuple[str | None, str]:
        """(subject, "") for a valid token, else (None, why)."""
        entry = self._tokens.get(token)
        if entry is None:
            return None, "The access token is invalid."
        if entry[1] <= time.monotonic():
            return None, "The access token has expired."
        return entry[0], ""


class RateLimitWindows:
    """The system's rate limit as a server enforces it: at most `limit` requests per key (a
    client or a subscription key) in any sliding one-second window; 429 beyond it."""

    def __init__(self, limit: int | None) -> None:
        self.limit = limit
        self._windows: dict[str, deque[float]] = {}
        self.refused = 0
        """Requests refused (429) since the start or the last `clear`: for benchmarks."""

    def retry_after(self, key: str) -> int | None:
        """None when the request may go ahead (and counts), else seconds to wait (>= 1)."""
        if not self.limit:
            return None
        now = time.monotonic()
        window = self._windows.setdefault(key, deque())
        while window and window[0] <= now - 1.0:
            window.popleft()
        if len(window) >= self.limit:
            self.refused += 1
            return max(1, math.ceil(window[0] + 1.0 - now))
        window.append(now)
        return None

    def clear(self) -> None:
        self._windows.clear()
        self.refused = 0


@dataclass
class Faults:
    rate: float = 0.0
    kinds: tuple[str, ...] = FAULT_KINDS
    slow_seconds: float = 0.5
    rng: random.Random = field(default_factory=random.Random)

    def pick(self) -> str | None:
        if self.rate <= 0 or not self.kinds or self.rng.random() >= self.rate:
            return None
        return self.rng.choice(self.kinds)

    def settings(self) -> Json:
        return {"rate": self.rate, "kinds": list(self.kinds), "slow_seconds": self.slow_seconds}

    def configure(self, body: Any) -> str | None:
        """Apply `{"rate", "kinds"?, "slow_seconds"?}`; an error message if it is invalid."""
        if not isinstance(body, dict) or "rate" not in body:
            return 'expected a JSON object like {"rate": 0.2, "kinds": ["500"]}'
        unknown = set(body) - {"rate", "kinds", "slow_seconds"}
        if unknown:
            return f"unknown settings: {', '.join(sorted(unknown))}"
        rate, kinds = body["rate"], body.get("kinds", list(FAULT_KINDS))
        slow = body.get("slow_seconds", self.slow_seconds)
        if isinstance(rate, bool) or not isinstance(rate, int | float) or not 0 <= rate <= 1:
            return "rate must be a number from 0 to 1"
        if not isinstance(kinds, list) or not all(k in FAULT_KINDS for k in kinds):
            return f"kinds must be a list of {', '.join(FAULT_KINDS)}"
        if isinstance(slow, bool) or not isinstance(slow, int | float) or not 0 <= slow <= 60:
            return "slow_seconds must be a number from 0 to 60"
        self.rate, self.kinds, self.slow_seconds = float(rate), tuple(kinds), float(slow)
        return None


class Stats:
    """Requests served, per (method, path), and running totals that are cheap to read while
    the emulator serves (a benchmark samples them many times a second; the per-path rows
    grow with every record read or updated by id)."""

    def __init__(self) -> None:
        self._counts: dict[tuple[str, str], int] = {}
        self._totals = {"requests": 0, "writes": 0, "updates": 0}

    def count(self, method: str, path: str) -> None:
        key = (method, path)
        self._counts[key] = self._counts.get(key, 0) + 1
        if "token" not in path.lower():
            self._totals["requests"] += 1
            self._totals["writes"] += method in WRITE_METHODS
            self._totals["updates"] += method == "PATCH"

    def totals(self) -> dict[str, int]:
        """Requests, write requests (POST, PATCH, PUT, DELETE) and updates (PATCH) served,
        token requests excluded: a copy, safe to take from another thread."""
        return dict(self._totals)

    def as_json(self) -> Json:
        return {
            "requests": [
                {"method": m, "path": p, "count": c} for (m, p), c in self._counts.items()
            ],
            "totals": self.totals(),
        }

    def clear(self) -> None:
        self._counts.clear()
        self._totals = dict.fromkeys(self._totals, 0)
