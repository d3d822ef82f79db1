"""Client-side pacing: the connector never sends more than a system's rate limit allows."""

from __future__ import annotations

import asyncio
import math
import time


class RequestPacer:
    """At most `requests_per_second` requests in any sliding window of 1 s (plus a margin),
    the strictest way a server may count; a 429 pauses every caller for its `Retry-After`.

    A request holds its slot from `acquire` until `release` stamps it with the time the answer
    came: the server saw the request before that, so its window is never fuller than ours, however
    late the request reached it. (Not aiolimiter's leaky bucket: it lets a full burst through and
    then drains continuously, which puts one request too many into a strict one-second window,
    and a 429 costs >= 1 s.)
    """

    def __init__(self, requests_per_second: float | None, margin: float = 0.02) -> None:
        rate = requests_per_second or 0
        if 0 < rate < 1:
            self._count, self._window = 1, 1 / rate + margin
        else:
            self._count, self._window = int(rate), 1.0 + margin
        self._slots: list[list[float]] = []
        self._paused_until = 0.0

    def pause(self, seconds: float) -> None:
        self._paused_until = max(self._paused_until, time.monotonic() + seconds)

    async def acquire(self) -> list[float] | None:
        """A slot to pass to `release` once the answer is in (None when unlimited)."""
        while True:
            now = time.monotonic()
            if self._paused_until > now:
                await asyncio.sleep(self._paused_until - now)
                continue
            if self._count <= 0:
                return None
            self._slots = [slot for slot in self._slots if slot[0] > now - self._window]
            if len(self._slots) < self._count:
                slot = [math.inf]  # in flight
                self._slots.append(slot)
                return slot
            oldest = min(slot[0] for slot in self._slots)
            wait = oldest + self._window - now if oldest != math.inf else 0.01
            await asyncio.sleep(max(wait, 0.001))

    @staticmethod
    def release(slot: list[float] | None) -> None:
        if slot is not None:
            slot[0] = time.monotonic()
