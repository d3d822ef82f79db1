"""The retry policy (tenacity, never a hand loop): bounded in attempts and total time,
exponential backoff with jitter, never sooner than the server's `Retry-After`."""

from __future__ import annotations

import email.utils
import logging
import random
from datetime import UTC, datetime

from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    stop_after_attempt,
    stop_before_delay,
    wait_exponential_jitter,
)

from talk_assets.systems.connector.settings import HttpSettings

log = logging.getLogger(__name__)


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
    settings: HttpSettings, retry_on: type[BaseException] | tuple[type[BaseException], ...]
) -> AsyncRetrying:
    """The retry policy: bounded in attempts and total time; the last error is re-raised."""

    def before_sleep(state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        wait = state.next_action.sleep if state.next_action else 0.0
        log.info("%s; retry %d in %.2f s", exc, state.attempt_number, wait)

    return AsyncRetrying(
        stop=stop_after_attempt(settings.max_attempts)
        | stop_before_delay(settings.max_retry_seconds),
        wait=_Wait(settings),
        retry=retry_if_exception_type(retry_on),
        reraise=True,
        before_sleep=before_sleep,
    )


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
