"""The retry policy (tenacity, never a hand loop): bounded in attempts and total time,
exponential backoff with jitter, never sooner than the server's `Retry-After`.

`retried` runs a call's first attempt bare and builds tenacity's loop only once that attempt
failed in a way worth retrying (the loop costs ~35 us of CPU, twice per insert, on a path where
almost every call succeeds at once); the loop then counts that failure as its attempt 1, timed
from before it, so attempts, waits and the time budget are the same as a loop from the start.
"""

from __future__ import annotations

import email.utils
import logging
import random
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TypeVar

from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential_jitter,
)

from talk_assets.systems.connector.settings import HttpSettings

log = logging.getLogger(__name__)

T = TypeVar("T")
RetryOn = type[BaseException] | tuple[type[BaseException], ...]


class _Wait:
    """Exponential backoff with jitter, but never less than the server's `Retry-After`."""

    def __init__(self, settings: HttpSettings) -> None:
        self._settings = settings
        self._exp = wait_exponential_jitter(
            multiplier=settings.backoff_initial,
            max=settings.backoff_max,
            jitter=settings.backoff_initial,
        )

    def __call__(self, state: RetryCallState) -> float:
        wait = self._exp(state)
        exc = state.outcome.exception() if state.outcome else None
        retry_after = getattr(exc, "retry_after", None)
        if retry_after is not None:
            capped = min(retry_after, self._settings.retry_after_max)
            wait = capped + random.uniform(0, min(self._settings.backoff_initial, 1.0))
        return wait


def retrying(
    settings: HttpSettings, retry_on: RetryOn, started: float | None = None
) -> AsyncRetrying:
    """The retry policy: bounded in attempts and total time (counted from `started`, a
    `time.monotonic()`, when given; else from the first attempt); the last error is re-raised."""

    def before_sleep(state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        wait = state.next_action.sleep if state.next_action else 0.0
        log.info("%s; retry %d in %.2f s", exc, state.attempt_number, wait)

    def out_of_time(state: RetryCallState) -> bool:
        """tenacity's `stop_before_delay`, from `started`: no retry starts after the budget."""
        start = state.start_time if started is None else started
        elapsed = (state.outcome_timestamp or time.monotonic()) - start
        return elapsed + state.upcoming_sleep >= settings.max_retry_seconds

    return AsyncRetrying(
        stop=stop_after_attempt(settings.max_attempts) | out_of_time,
        wait=_Wait(settings),
        retry=retry_if_exception_type(retry_on),
        reraise=True,
        before_sleep=before_sleep,
    )


async def retried(settings: HttpSettings, retry_on: RetryOn, call: Callable[[], Awaitable[T]]) -> T:
    """`await call()` under the retry policy (see the module's docstring)."""
    started = time.monotonic()
    try:
        return await call()
    except retry_on as exc:
        first: list[BaseException] = [exc]
    async for attempt in retrying(settings, retry_on, started):
        with attempt:
            if first:  # attempt 1 ran above: its failure, replayed for tenacity to judge
                raise first.pop()
            return await call()
    raise AssertionError("unreachable")  # pragma: no cover


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a `Retry-After` header (delta-seconds or HTTP date)."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - datetime.now(UTC)).total_seconds())
