"""Shared HTTP machinery of the connectors: settings, secrets, errors, auth tokens, retries,
client-side rate limiting, records <-> frames, and the base client both systems build on.

How a call travels: every client owns one background event loop thread with one
`httpx.AsyncClient`. The sync methods (`read`, `insert`, ...) submit a coroutine to that loop and
wait; `write_many` awaits the same coroutines from the caller's own loop. One implementation
thus serves sync and async callers, and the token, the rate limiter and the connection pool are
shared by every call a client makes.

Retries (tenacity, never a hand loop): 408/425/429/5xx and transport errors, exponential backoff
with jitter, at least `Retry-After`, bounded by `max_attempts` and `max_retry_seconds`. A 429
also pauses the client's rate limiter so concurrent calls back off together. A non-idempotent
request (an insert) is never resent blindly after an outcome that may have landed (5xx, timeout
or lost connection after sending): the insert looks the record up first (`ConnectorClient`).
"""

from __future__ import annotations

import asyncio
import base64
import concurrent.futures
import email.utils
import functools
import logging
import math
import os
import random
import re
import threading
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, ClassVar, Literal, NamedTuple, Self, TypeVar

import httpx
import polars as pl
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    stop_after_attempt,
    stop_before_delay,
    wait_exponential_jitter,
)

from talk_assets.systems.schema import Datatype, SchemaError, System

log = logging.getLogger(__name__)

T = TypeVar("T")

# ---------------------------------------------------------------------------------------------
# Settings and secrets


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


class Secret:
    """A credential that never shows itself in reprs, str(), logs or exceptions."""

    __slots__ = ("_value",)

    def __init__(self, value: str | Secret) -> None:
        self._value = value.reveal() if isinstance(value, Secret) else str(value)

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('********')"

    def __str__(self) -> str:
        return "********"

    def __bool__(self) -> bool:
        return bool(self._value)


def basic_auth(user: Secret, password: Secret) -> str:
    raw = f"{user.reveal()}:{password.reveal()}".encode()
    return "Basic " + base64.b64encode(raw).decode()


# ---------------------------------------------------------------------------------------------
# Errors


class ConnectorError(Exception):
    """Base of every error a connector raises. Its text never contains a credential."""

    def __init__(
        self,
        message: str,
        *,
        system: str,
        datatype: str | None = None,
        status: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.system = system
        self.datatype = datatype
        self.status = status

    def __str__(self) -> str:
        where = f"{self.system}.{self.datatype}" if self.datatype else self.system
        status = f" (HTTP {self.status})" if self.status else ""
        return f"{where}: {self.message}{status}"


class AuthError(ConnectorError):
    """Credentials refused: the token request failed, or a fresh token got a 401."""


class RequestFailed(ConnectorError):
    """Retries exhausted, or an answer the connector cannot use."""


class SystemUnavailable(RequestFailed):
    """The system could not be reached (connection errors or timeouts until retries ran out)."""


class ApiError(ConnectorError):
    """A 4xx answer that is not worth retrying, with the system's own message and field."""

    def __init__(
        self,
        message: str,
        *,
        system: str,
        datatype: str | None = None,
        status: int | None = None,
        field: str | None = None,
    ) -> None:
        super().__init__(message, system=system, datatype=datatype, status=status)
        self.field = field


class NotFound(ApiError):
    """404: the record (or its parent) does not exist."""


class WriteRejected(ApiError):
    """The system (or the connector, before sending) refused a write of one record."""

    def __init__(
        self,
        message: str,
        *,
        system: str,
        datatype: str | None = None,
        status: int | None = None,
        field: str | None = None,
        operation: str = "insert",
        values: Mapping[str, Any] | None = None,
        record_id: Any = None,
        reference: str | None = None,
    ) -> None:
        super().__init__(message, system=system, datatype=datatype, status=status, field=field)
        self.operation = operation
        self.values = dict(values or {})
        self.record_id = record_id
        self.reference = reference

    def __str__(self) -> str:
        what = f"{self.operation} {self.record_id or self.reference or ''}".strip()
        on = f" on {self.field}" if self.field else ""
        return f"{super().__str__()} [{what}{on}]"


class OutcomeUnknown(ConnectorError):
    """An insert may or may not have landed, and the connector could not find out."""

    def __init__(
        self,
        message: str,
        *,
        system: str,
        datatype: str | None = None,
        reference: str | None = None,
        values: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(message, system=system, datatype=datatype)
        self.reference = reference
        self.values = dict(values or {})


class _Retryable(Exception):
    """A failure worth another attempt: the request did not take effect."""

    def __init__(self, reason: str, *, status: int | None = None, retry_after: float | None = None):
        super().__init__(reason)
        self.status = status
        self.retry_after = retry_after
        self.unreachable = False


class _Ambiguous(Exception):
    """A non-idempotent request that may have taken effect (5xx, timeout or drop after sending)."""

    def __init__(self, reason: str, *, status: int | None = None, retry_after: float | None = None):
        super().__init__(reason)
        self.status = status
        self.retry_after = retry_after


# ---------------------------------------------------------------------------------------------
# Retry policy and rate limiting


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


class RateLimiter:
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


# ---------------------------------------------------------------------------------------------
# Tokens and the transport


class TokenManager:
    """A client-credentials token: fetched on demand, reused, refreshed before it expires."""

    def __init__(self, fetch: Callable[[], Awaitable[tuple[str, float]]], margin: float) -> None:
        self._fetch = fetch
        self._margin = margin
        self._token: Secret | None = None
        self._refresh_at = 0.0
        self._lock: asyncio.Lock | None = None
        self.fetches = 0

    async def get(self) -> str:
        if self._token is not None and time.monotonic() < self._refresh_at:
            return self._token.reveal()
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            if self._token is None or time.monotonic() >= self._refresh_at:
                token, ttl = await self._fetch()
                self.fetches += 1
                margin = min(self._margin, ttl / 10)
                self._token = Secret(token)
                self._refresh_at = time.monotonic() + ttl - margin
                log.debug("new access token, valid %.0f s", ttl)
            return self._token.reveal()

    def invalidate(self, token: str) -> None:
        if self._token is not None and self._token.reveal() == token:
            self._token = None


ErrorParser = Callable[[httpx.Response], tuple[str, str | None]]
_RETRY_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


class Transport:
    """Authenticated, paced, retried HTTP calls to one system (lives on the client's loop)."""

    def __init__(
        self,
        *,
        system: str,
        base_url: str,
        settings: HttpSettings,
        fetch_token: Callable[[Transport], Awaitable[tuple[str, float]]],
        auth_headers: Callable[[str], dict[str, str]],
        parse_error: ErrorParser,
        secrets: Iterable[Secret],
        http_transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.system = system
        self.settings = settings
        self._auth_headers = auth_headers
        self._parse_error = parse_error
        self._secrets = [s for s in secrets if s]
        self.limiter = RateLimiter(settings.requests_per_second)
        self.tokens = TokenManager(lambda: fetch_token(self), settings.token_refresh_margin)
        connections = max(settings.write_concurrency, 1) + 2
        self.http = httpx.AsyncClient(
            base_url=base_url.rstrip("/") + "/",
            timeout=httpx.Timeout(settings.timeout, connect=settings.connect_timeout),
            limits=httpx.Limits(max_connections=connections, max_keepalive_connections=connections),
            follow_redirects=False,
            transport=http_transport,
        )
        self.requests = 0
        self.statuses: Counter[int | str] = Counter()
        """Answers by status (and transport errors by name): 429s should stay rare."""

    async def aclose(self) -> None:
        await self.http.aclose()

    def scrub(self, text: str) -> str:
        """Remove any credential a server might echo back from text we show."""
        for secret in self._secrets:
            text = text.replace(secret.reveal(), "********")
        return text

    def error_of(self, response: httpx.Response) -> tuple[str, str | None]:
        try:
            message, fld = self._parse_error(response)
        except Exception:  # an unparsable error body must not hide the status
            message, fld = response.reason_phrase or "error", None
        return self.scrub(message)[:2000], fld

    async def send(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        content_type: str | None = None,
        headers: Mapping[str, str] | None = None,
        idempotent: bool = True,
        datatype: str | None = None,
        auth: bool = True,
        data: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        """One call with retries. Raises `ApiError` for a 4xx worth no retry, `AuthError`,
        `RequestFailed`/`SystemUnavailable` when retries run out, and `_Ambiguous` (for the
        caller to resolve) when a non-idempotent request may have landed."""
        try:
            async for attempt in retrying(self.settings, _Retryable):
                with attempt:
                    return await self._once(
                        method, path, params, json, content_type, headers, idempotent,
                        datatype, auth, data,
                    )  # fmt: skip
        except _Retryable as exc:
            cls = SystemUnavailable if exc.unreachable else RequestFailed
            raise cls(
                f"gave up after retries: {exc}",
                system=self.system,
                datatype=datatype,
                status=exc.status,
            ) from None
        raise AssertionError("unreachable")  # pragma: no cover

    async def _once(
        self,
        method: str,
        path: str,
        params: Mapping[str, Any] | None,
        json: Any,
        content_type: str | None,
        headers: Mapping[str, str] | None,
        idempotent: bool,
        datatype: str | None,
        auth: bool,
        data: Mapping[str, str] | None,
    ) -> httpx.Response:
        refreshed = False
        while True:
            all_headers = dict(headers or {})
            token = ""
            if auth:  # before taking a slot: a token request needs one of its own
                token = await self.tokens.get()
                all_headers.update(self._auth_headers(token))
            request = self.http.build_request(
                method, path, params=params, json=json, data=data, headers=all_headers
            )
            if content_type:  # after build: httpx sets application/json for json=...
                request.headers["Content-Type"] = content_type
            slot = await self.limiter.acquire()
            started = time.monotonic()
            self.requests += 1
            try:
                response = await self.http.send(request)
            except httpx.TransportError as exc:
                reason = f"{self.system} {method} {path}: {type(exc).__name__}"
                self.statuses[type(exc).__name__] += 1
                log.debug("%s after %.2f s", reason, time.monotonic() - started)
                if isinstance(exc, _NOT_SENT) or idempotent:
                    retry = _Retryable(reason)
                    retry.unreachable = True
                    raise retry from None
                # A timed-out write may still be in progress on the server: give it time to land
                # before looking it up, or the lookup misses it and the resend duplicates it.
                grace = self.settings.timeout_grace
                timed_out = isinstance(exc, httpx.TimeoutException)
                raise _Ambiguous(reason, retry_after=grace if timed_out else None) from None
            finally:
                self.limiter.release(slot)
            log.debug(
                "%s %s -> %d in %.3f s",
                method,
                request.url.path,
                response.status_code,
                time.monotonic() - started,
            )
            status = response.status_code
            self.statuses[status] += 1
            if status < 400:
                return response
            if status == 401 and auth and not refreshed:
                self.tokens.invalidate(token)
                refreshed = True
                continue
            message, fld = self.error_of(response)
            if status == 401:
                raise AuthError(
                    f"{method} {path} refused: {message}",
                    system=self.system,
                    datatype=datatype,
                    status=status,
                )
            if status in _RETRY_STATUSES:
                retry_after = parse_retry_after(response.headers.get("Retry-After"))
                if status == 429:
                    self.limiter.pause(
                        min(retry_after if retry_after is not None else 1.0,
                            self.settings.retry_after_max)
                    )  # fmt: skip
                reason = f"{self.system} {method} {path}: HTTP {status} {message}"
                if status >= 500 and not idempotent:
                    raise _Ambiguous(reason, status=status, retry_after=retry_after)
                raise _Retryable(reason, status=status, retry_after=retry_after)
            cls = NotFound if status == 404 else ApiError
            raise cls(message, system=self.system, datatype=datatype, status=status, field=fld)


def json_body(response: httpx.Response, system: str, datatype: str | None = None) -> Any:
    try:
        return response.json()
    except ValueError:
        raise RequestFailed(
            f"{response.request.method} {response.request.url.path}: answer is not JSON",
            system=system,
            datatype=datatype,
            status=response.status_code,
        ) from None


# ---------------------------------------------------------------------------------------------
# Records: flatten per schema, coerce, frames, unflatten


class ValueProblem(NamedTuple):
    """A value read from a system that does not fit its declared type (kept as null)."""

    record_id: Any
    field: str
    value: Any
    reason: str


_MISSING = object()
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}")
_INT64 = (-(2**63), 2**63 - 1)


def coerce(type_: str, value: Any) -> tuple[Any, str | None]:
    """`value` as the Python value of a column of `type_`, or (None, reason) when it does not fit.

    Lossless conversions are silent (an integer 17 sent as "17", a number in a string field);
    a date or date-time that does not parse is kept as text (the column is text) but reported.
    """
    if value is None:
        return None, None
    if isinstance(value, dict | list):
        return None, f"expected {type_}, got {'object' if isinstance(value, dict) else 'array'}"
    if type_ == "string":
        if isinstance(value, bool):
            return ("true" if value else "false"), None
        return (value if isinstance(value, str) else str(value)), None
    if type_ == "integer":
        number: Any = value
        if isinstance(value, bool):
            return None, "expected integer, got boolean"
        if isinstance(value, str):
            try:
                number = int(value.strip())
            except ValueError:
                return None, "expected integer, got text"
        if isinstance(number, float):
            if not number.is_integer():
                return None, "expected integer, got a fraction"
            number = int(number)
        if not _INT64[0] <= number <= _INT64[1]:
            return None, "integer out of 64-bit range"
        return number, None
    if type_ == "number":
        if isinstance(value, bool):
            return None, "expected number, got boolean"
        if isinstance(value, str):
            try:
                return float(value.strip()), None
            except ValueError:
                return None, "expected number, got text"
        return float(value), None
    if type_ == "boolean":
        if isinstance(value, bool):
            return value, None
        if isinstance(value, str) and value.strip().lower() in ("true", "false"):
            return value.strip().lower() == "true", None
        if isinstance(value, int) and value in (0, 1):
            return bool(value), None
        return None, f"expected boolean, got {type(value).__name__}"
    if type_ in ("date", "datetime"):
        if not isinstance(value, str):
            return None, f"expected ISO {type_} text, got {type(value).__name__}"
        if not _parses_as_date(value, type_):
            return value, f"not an ISO {type_}"
        return value, None
    raise SchemaError(f"unknown field type {type_!r}")


def _parses_as_date(text: str, type_: str) -> bool:
    if not _DATE.match(text):
        return False
    try:
        if type_ == "date" and len(text) == 10:
            date.fromisoformat(text)
        else:
            datetime.fromisoformat(text)
    except ValueError:
        return False
    return True


def _dig(record: Mapping[str, Any], parts: tuple[str, ...]) -> tuple[Any, str | None]:
    node: Any = record
    for i, part in enumerate(parts):
        if node is None:
            return None, None
        if not isinstance(node, Mapping):
            return None, f"{'.'.join(parts[:i])} is not an object"
        node = node.get(part, _MISSING)
        if node is _MISSING:
            return None, None
    return node, None


_NATIVE: dict[str, type] = {"string": str, "integer": int, "number": float, "boolean": bool}


@functools.cache
def _plan(dt: Datatype) -> tuple[tuple[str, tuple[str, ...], str, type | None], ...]:
    return tuple((f.path, f.parts, f.type, _NATIVE.get(f.type)) for f in dt.fields)


def flatten(dt: Datatype, record: Mapping[str, Any]) -> tuple[dict[str, Any], list[ValueProblem]]:
    """A payload as {field path: value} with exactly the datatype's fields, coerced to their
    types; values that do not fit become null (dates: kept as text) and are reported."""
    values: dict[str, Any] = {}
    problems: list[ValueProblem] = []
    rid = record.get(dt.id_field) if isinstance(record, Mapping) else None
    for path, parts, type_, native in _plan(dt):
        if len(parts) == 1 and isinstance(record, dict):
            raw, problem = record.get(path), None
        elif len(parts) == 2 and isinstance(record, dict):
            node = record.get(parts[0])
            if node is None or isinstance(node, dict):
                raw, problem = (node.get(parts[1]) if node else None), None
            else:
                raw, problem = None, f"{parts[0]} is not an object"
        else:
            raw, problem = _dig(record, parts)
        # Fast path: the JSON type already is the column's type (int64 range checked).
        if problem is None and (
            raw is None
            or (type(raw) is native and (native is not int or _INT64[0] <= raw <= _INT64[1]))
        ):
            values[path] = raw
            continue
        if problem is None:
            value, problem = coerce(type_, raw)
        else:
            value = None
        values[path] = value
        if problem is not None:
            problems.append(ValueProblem(rid, path, raw, problem))
    return values, problems


def unflatten(values: Mapping[str, Any]) -> dict[str, Any]:
    """{`MailAddress.City`: v} as {`MailAddress`: {`City`: v}}."""
    out: dict[str, Any] = {}
    for path, value in values.items():
        *parents, leaf = path.split(".")
        node = out
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return out


def to_json_value(value: Any) -> Any:
    """A value as JSON can carry it (dates as ISO text, decimals as numbers)."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def writable_values(dt: Datatype, values: Mapping[str, Any]) -> dict[str, Any]:
    """Values keyed by field path, names resolved through the schema (case-insensitive, aliases);
    read-only and identity fields are dropped (ids and timestamps come from the system)."""
    out: dict[str, Any] = {}
    for name, value in values.items():
        f = dt.field(name)
        if f.writable:
            out[f.path] = to_json_value(value)
    return out


def parse_timestamp(text: Any) -> datetime | None:
    if not isinstance(text, str):
        return None
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


class FrameBuilder:
    """Collects flattened records into columns; later copies of an id replace earlier ones."""

    def __init__(self, dt: Datatype) -> None:
        self.dt = dt
        self.columns: dict[str, list[Any]] = {f.path: [] for f in dt.fields}
        self.problems: list[ValueProblem] = []
        self._rows: dict[Any, int] = {}
        self._max_changed: tuple[datetime, str] | None = None

    def add(self, record: Any) -> None:
        if not isinstance(record, Mapping):
            self.problems.append(ValueProblem(None, "", record, "record is not an object"))
            return
        values, problems = flatten(self.dt, record)
        self.problems.extend(problems)
        rid = values[self.dt.id.path]
        row = self._rows.get(rid) if rid is not None else None
        if row is None:
            if rid is not None:
                self._rows[rid] = len(self.columns[self.dt.id.path])
            for path, value in values.items():
                self.columns[path].append(value)
        else:
            for path, value in values.items():
                self.columns[path][row] = value
        changed_text = values[self.dt.last_changed.path]
        changed = parse_timestamp(changed_text)
        if changed is not None and (self._max_changed is None or changed > self._max_changed[0]):
            self._max_changed = (changed, changed_text)

    def frame(self) -> pl.DataFrame:
        return pl.DataFrame(self.columns, schema=self.dt.polars_schema())

    def cursor(self, previous: str | None) -> str | None:
        """The max last-changed value seen, or the previous cursor when nothing newer came."""
        if self._max_changed is None:
            return previous
        previous_at = parse_timestamp(previous)
        if previous_at is not None and previous_at >= self._max_changed[0]:
            return previous
        return self._max_changed[1]


def same_value(sent: Any, stored: Any) -> bool:
    """Loose equality of a sent value and the value the system stored."""
    if sent in (None, "") or stored in (None, ""):
        return sent in (None, "") and stored in (None, "")
    if isinstance(sent, bool) or isinstance(stored, bool):
        return type(sent) is type(stored) and sent == stored
    if isinstance(sent, int | float) and isinstance(stored, int | float):
        return math.isclose(float(sent), float(stored), rel_tol=1e-9, abs_tol=1e-9)
    if isinstance(sent, str) and isinstance(stored, str):
        return sent.strip() == stored.strip()
    return str(sent) == str(stored)


# ---------------------------------------------------------------------------------------------
# Results


@dataclass
class ReadResult:
    """One listing: the frame (exactly the datatype's columns), the cursor to store next, and
    the values that did not fit their type."""

    datatype: Datatype
    frame: pl.DataFrame
    cursor: str | None
    problems: list[ValueProblem]
    since: str | None
    pages: int

    @property
    def full(self) -> bool:
        return self.since is None


@dataclass(frozen=True)
class WriteOp:
    """One write of `write_many`: an insert (with a reference) or an update (with an id)."""

    kind: Literal["insert", "update"]
    datatype: str | Datatype
    values: Mapping[str, Any]
    reference: str | None = None
    record_id: Any = None
    parent_id: Any = None
    key: Any = None
    """The caller's own tag for this op, handed back untouched in the result."""

    @classmethod
    def insert(
        cls,
        datatype: str | Datatype,
        values: Mapping[str, Any],
        *,
        reference: str,
        parent_id: Any = None,
        key: Any = None,
    ) -> WriteOp:
        return cls("insert", datatype, values, reference=reference, parent_id=parent_id, key=key)

    @classmethod
    def update(
        cls,
        datatype: str | Datatype,
        record_id: Any,
        values: Mapping[str, Any],
        *,
        parent_id: Any = None,
        key: Any = None,
    ) -> WriteOp:
        return cls("update", datatype, values, record_id=record_id, parent_id=parent_id, key=key)


Outcome = Literal["inserted", "updated", "rejected", "failed", "unknown"]


@dataclass(frozen=True)
class WriteResult:
    """What became of one op. `rejected`: the system (or the connector, before sending)
    refused the record; `failed`: retries ran out, the system is unreachable or the credentials
    were refused; `unknown`: an insert may have landed and could not be checked."""

    op: WriteOp
    outcome: Outcome
    record: dict[str, Any] | None = None
    status: int | None = None
    message: str | None = None
    field: str | None = None
    recovered: bool = False
    """An insert whose answer was lost, found in the system by its reference."""
    error: ConnectorError | None = None
    record_id: Any = None
    """The written record's id (for an update: the op's id)."""

    @property
    def ok(self) -> bool:
        return self.outcome in ("inserted", "updated")


@dataclass
class _Stored:
    record: dict[str, Any]
    status: int | None
    recovered: bool = False


# ---------------------------------------------------------------------------------------------
# The event loop thread


class _LoopThread:
    """A private asyncio loop in a daemon thread; sync callers submit coroutines to it."""

    def __init__(self, name: str) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=10)
        if not self._thread.is_alive():
            self.loop.close()


# ---------------------------------------------------------------------------------------------
# The base client


class ConnectorClient:
    """What both systems' clients share: reads with paging and cursors, writes with recovery of
    unknown outcomes, bulk writes. Subclasses supply the system's dialect (the `_` hooks)."""

    system: ClassVar[System]
    default_requests_per_second: ClassVar[float]
    default_page_size: ClassVar[int]
    default_token_ttl: ClassVar[float] = 1200.0
    env_config: ClassVar[dict[str, tuple[str, str]]] = {}
    """Constructor argument -> (environment variable, default) for `from_env`."""
    max_pages: ClassVar[int] = 100_000
    """A listing longer than this many pages is an error, not an endless loop."""

    def __init__(
        self,
        *,
        base_url: str,
        token_url: str,
        settings: HttpSettings | None,
        http_transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._http_transport = http_transport
        self.base_url = base_url
        self.token_url = token_url
        self.settings = settings or self.default_settings()
        self._lock = threading.Lock()
        self._loop: _LoopThread | None = None
        self._transport: Transport | None = None
        self._pid = os.getpid()
        self._closed = False

    @classmethod
    def from_env(
        cls,
        env: Mapping[str, str] | None = None,
        *,
        settings: HttpSettings | None = None,
        **setting_overrides: Any,
    ) -> Self:
        """A client configured by the system's environment variables; unset or empty ones take
        their defaults (the demo credentials and the real service URLs)."""
        env = os.environ if env is None else env
        kwargs = {arg: env.get(name) or default for arg, (name, default) in cls.env_config.items()}
        base = settings or cls.default_settings()
        return cls(**kwargs, settings=base.with_overrides(**setting_overrides))

    @classmethod
    def default_settings(cls, **overrides: Any) -> HttpSettings:
        return HttpSettings(
            requests_per_second=cls.default_requests_per_second,
            page_size=cls.default_page_size,
        ).with_overrides(**overrides)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(base_url={self.base_url!r}, token_url={self.token_url!r})"

    # -- lifecycle ------------------------------------------------------------------------

    def _secrets(self) -> list[Secret]:
        raise NotImplementedError

    def _token_request(self) -> tuple[dict[str, str], dict[str, str]]:
        """Form fields and headers of the client-credentials token request."""
        raise NotImplementedError

    async def _fetch_token(self, t: Transport) -> tuple[str, float]:
        data, headers = self._token_request()
        try:
            response = await t.send("POST", self.token_url, data=data, headers=headers, auth=False)
        except ApiError as exc:
            raise AuthError(
                f"token request refused: {exc.message}", system=self.system.name, status=exc.status
            ) from None
        body = json_body(response, self.system.name)
        token = body.get("access_token") if isinstance(body, dict) else None
        if not token:
            raise AuthError("token answer without access_token", system=self.system.name)
        return str(token), float(body.get("expires_in") or self.default_token_ttl)

    def _auth_headers(self, token: str) -> dict[str, str]:
        raise NotImplementedError

    def _parse_error(self, response: httpx.Response) -> tuple[str, str | None]:
        raise NotImplementedError

    def _runtime(self) -> tuple[_LoopThread, Transport]:
        with self._lock:
            if self._closed:
                raise RuntimeError(f"{self!r} is closed")
            if self._loop is None or self._pid != os.getpid():
                self._pid = os.getpid()
                self._loop = _LoopThread(f"{self.system.name}-http")
                self._transport = Transport(
                    system=self.system.name,
                    base_url=self.base_url,
                    settings=self.settings,
                    fetch_token=self._fetch_token,
                    auth_headers=self._auth_headers,
                    parse_error=self._parse_error,
                    secrets=self._secrets(),
                    http_transport=self._http_transport,
                )
            assert self._transport is not None
            return self._loop, self._transport

    @property
    def transport(self) -> Transport:
        return self._runtime()[1]

    def _run(self, make: Callable[[Transport], Coroutine[Any, Any, T]]) -> T:
        loop, transport = self._runtime()
        return loop.submit(make(transport)).result()

    def close(self) -> None:
        with self._lock:
            loop, transport = self._loop, self._transport
            self._loop, self._transport, self._closed = None, None, True
        if loop is not None and transport is not None and self._pid == os.getpid():
            try:
                loop.submit(transport.aclose()).result(timeout=10)
            finally:
                loop.stop()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def token_fetches(self) -> int:
        """How many tokens this client has fetched (for tests and observability)."""
        return self._transport.tokens.fetches if self._transport else 0

    def datatype(self, datatype: str | Datatype) -> Datatype:
        if isinstance(datatype, Datatype):
            if datatype.system != self.system.name:
                raise SchemaError(f"{datatype.key} is not a {self.system.title} datatype")
            return datatype
        name = (
            datatype.split(".", 1)[1] if datatype.startswith(self.system.name + ".") else datatype
        )
        return self.system.datatype(name)

    def _listable(self, datatype: str | Datatype) -> Datatype:
        dt = self.datatype(datatype)
        if dt.endpoint is None:
            raise SchemaError(
                f"{dt.key} has no endpoint: it is derived from {', '.join(dt.derived_from)}"
            )
        return dt

    # -- system dialect hooks ---------------------------------------------------------------

    def _pages(
        self, t: Transport, dt: Datatype, since: str | None, page_size: int
    ) -> AsyncIterator[list[Any]]:
        raise NotImplementedError

    async def _has_changes(self, t: Transport, dt: Datatype, since: str) -> bool:
        raise NotImplementedError

    async def _get(self, t: Transport, dt: Datatype, record_id: Any, parent_id: Any) -> Any:
        raise NotImplementedError

    async def _post(
        self, t: Transport, dt: Datatype, values: dict[str, Any], reference: str, parent_id: Any
    ) -> tuple[Any, int | None, bool]:
        """Send the insert once (`idempotent=False`): the stored record as the system answered
        it, the status, and whether the record was there before (a replayed insert)."""
        raise NotImplementedError

    async def _find_landed(
        self,
        t: Transport,
        dt: Datatype,
        values: dict[str, Any],
        reference: str,
        parent_id: Any,
        started: datetime,
    ) -> Any:
        """The record an insert with an unknown outcome created, or None if it did not land."""
        raise NotImplementedError

    def _prepare_insert(
        self, dt: Datatype, values: dict[str, Any], reference: str, parent_id: Any
    ) -> tuple[dict[str, Any], Any]:
        """Values to send and the parent id (system specifics: reference fields, parents)."""
        return values, parent_id

    async def _patch(
        self, t: Transport, dt: Datatype, record_id: Any, values: dict[str, Any], parent_id: Any
    ) -> httpx.Response:
        raise NotImplementedError

    # -- reads ----------------------------------------------------------------------------

    def read(
        self, datatype: str | Datatype, since: str | None = None, *, page_size: int | None = None
    ) -> ReadResult:
        """Every record (since=None) or those changed after `since` (a cursor from an earlier
        read), paged to the end."""
        dt = self._listable(datatype)
        return self._run(lambda t: self._aread(t, dt, since, page_size))

    async def _aread(
        self, t: Transport, dt: Datatype, since: str | None, page_size: int | None
    ) -> ReadResult:
        size = page_size or self.settings.page_size or self.default_page_size
        builder = FrameBuilder(dt)
        pages = 0
        async for page in self._pages(t, dt, since, size):
            pages += 1
            if pages > self.max_pages:
                raise RequestFailed(
                    f"listing longer than {self.max_pages} pages",
                    system=self.system.name,
                    datatype=dt.name,
                )
            for record in page:
                builder.add(record)
        if builder.problems:
            log.info("%s: %d values did not fit their type", dt.key, len(builder.problems))
        return ReadResult(
            dt, builder.frame(), builder.cursor(since), builder.problems, since, pages
        )

    def find_inserted(
        self,
        datatype: str | Datatype,
        reference: str,
        values: Mapping[str, Any] | None = None,
        since: datetime | None = None,
    ) -> dict[str, Any] | None:
        """The record (flattened) an earlier insert with `reference` created, or None: for a
        run that crashed after a system stored its inserts but before it recorded them. Uses
        the same lookup as an insert whose answer was lost (values and `since` serve datatypes
        without a reference field)."""
        dt = self._listable(datatype)
        body = dict(values or {})
        started = since or datetime.now(UTC)
        found = self._run(lambda t: self._find_landed(t, dt, body, reference, None, started))
        return None if found is None else flatten(dt, found)[0]

    def has_changes(self, datatype: str | Datatype, since: str | None) -> bool:
        """Whether anything changed after `since` (one request, page size 1). No cursor yet
        means a first full read is due: True."""
        dt = self._listable(datatype)
        if since is None:
            return True
        return self._run(lambda t: self._has_changes(t, dt, since))

    def get(self, datatype: str | Datatype, record_id: Any, *, parent_id: Any = None) -> dict:
        """One record, flattened. Raises `NotFound`."""
        dt = self._listable(datatype)

        async def go(t: Transport) -> dict:
            return flatten(dt, await self._get(t, dt, record_id, parent_id))[0]

        return self._run(go)

    # -- writes ---------------------------------------------------------------------------

    def insert(
        self,
        datatype: str | Datatype,
        values: Mapping[str, Any],
        *,
        reference: str,
        parent_id: Any = None,
    ) -> dict[str, Any]:
        """Create a record; answers the stored record, flattened. `reference` is this insert's
        identity for recovery after an unknown outcome (the sync's stable id of the source)."""
        dt = self._listable(datatype)
        return self._run(lambda t: self._ainsert(t, dt, values, reference, parent_id)).record

    def update(
        self,
        datatype: str | Datatype,
        record_id: Any,
        values: Mapping[str, Any],
        *,
        parent_id: Any = None,
    ) -> dict[str, Any]:
        """Change the given properties of a record; answers the stored record, flattened."""
        dt = self._listable(datatype)
        return self._run(lambda t: self._aupdate(t, dt, record_id, values, parent_id)).record

    def _rejected(
        self, dt: Datatype, exc: ApiError | None, operation: str, values: Mapping[str, Any], **kw
    ) -> WriteRejected:
        if exc is None:
            return WriteRejected(
                kw.pop("message"),
                system=self.system.name,
                datatype=dt.name,
                operation=operation,
                values=values,
                **kw,
            )
        return WriteRejected(
            exc.message,
            system=self.system.name,
            datatype=dt.name,
            status=exc.status,
            field=self._field_path(dt, exc.field),
            operation=operation,
            values=values,
            **kw,
        )

    @staticmethod
    def _field_path(dt: Datatype, name: str | None) -> str | None:
        if not name:
            return None
        cleaned = name.removeprefix("$.").lstrip("/").replace("/", ".")
        try:
            return dt.field(cleaned).path
        except SchemaError:
            return name

    async def _ainsert(
        self,
        t: Transport,
        dt: Datatype,
        values: Mapping[str, Any],
        reference: str,
        parent_id: Any,
    ) -> _Stored:
        try:
            body = writable_values(dt, values)
        except SchemaError as exc:
            raise self._rejected(
                dt, None, "insert", values, message=str(exc), reference=reference
            ) from None
        body, parent_id = self._prepare_insert(dt, body, reference, parent_id)
        for required in dt.required:
            if body.get(required) in (None, ""):
                raise self._rejected(
                    dt,
                    None,
                    "insert",
                    body,
                    message=f"{required} is required",
                    field=required,
                    reference=reference,
                )
        started = datetime.now(UTC)
        unsure = False

        async def landed() -> _Stored | None:
            found = await self._find_landed(t, dt, body, reference, parent_id, started)
            if found is None:
                return None
            log.info("%s: insert %s had landed; using that record", dt.key, reference)
            return _Stored(flatten(dt, found)[0], None, recovered=True)

        try:
            async for attempt in retrying(self.settings, _Ambiguous):
                with attempt:
                    if unsure and (stored := await landed()) is not None:
                        return stored
                    try:
                        record, status, replayed = await self._post(
                            t, dt, body, reference, parent_id
                        )
                    except _Ambiguous:
                        unsure = True
                        raise
                    return _Stored(flatten(dt, record)[0], status, recovered=replayed)
        except _Ambiguous as exc:
            if (stored := await landed()) is not None:
                return stored
            raise OutcomeUnknown(
                f"insert {reference}: {exc}; not found after retries",
                system=self.system.name,
                datatype=dt.name,
                reference=reference,
                values=body,
            ) from None
        except ApiError as exc:
            raise self._rejected(dt, exc, "insert", body, reference=reference) from None
        raise AssertionError("unreachable")  # pragma: no cover

    async def _aupdate(
        self,
        t: Transport,
        dt: Datatype,
        record_id: Any,
        values: Mapping[str, Any],
        parent_id: Any,
    ) -> _Stored:
        try:
            body = writable_values(dt, values)
        except SchemaError as exc:
            raise self._rejected(
                dt, None, "update", values, message=str(exc), record_id=record_id
            ) from None
        try:
            if body:
                response = await self._patch(t, dt, record_id, body, parent_id)
                record = (
                    json_body(response, self.system.name, dt.name) if response.content else None
                )
                status: int | None = response.status_code
            else:
                record, status = None, None
            if not isinstance(record, Mapping):
                record = await self._get(t, dt, record_id, parent_id)
        except ApiError as exc:
            raise self._rejected(dt, exc, "update", body, record_id=record_id) from None
        return _Stored(flatten(dt, record)[0], status)

    # -- bulk writes ------------------------------------------------------------------------

    async def write_many(
        self, ops: Iterable[WriteOp], *, concurrency: int | None = None
    ) -> list[WriteResult]:
        """Run many writes with bounded concurrency; one result per op, in order. Never raises
        for a record; after credentials are refused or the system is unreachable, the ops not
        yet started fail at once with that error."""
        loop, transport = self._runtime()
        coro = self._awrite_many(transport, list(ops), concurrency)
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop.loop:
            return await coro
        return await asyncio.wrap_future(loop.submit(coro))

    def write_many_blocking(
        self, ops: Iterable[WriteOp], *, concurrency: int | None = None
    ) -> list[WriteResult]:
        """`write_many` for sync callers (Dagster assets, the CLI)."""
        op_list = list(ops)
        return self._run(lambda t: self._awrite_many(t, op_list, concurrency))

    async def _awrite_many(
        self, t: Transport, ops: list[WriteOp], concurrency: int | None
    ) -> list[WriteResult]:
        semaphore = asyncio.Semaphore(max(1, concurrency or self.settings.write_concurrency))
        fatal: list[ConnectorError] = []

        async def one(op: WriteOp) -> WriteResult:
            async with semaphore:
                if fatal:
                    err = fatal[0]
                    return WriteResult(
                        op, "failed", message=f"not attempted: {err}", status=err.status, error=err
                    )
                result = await self._awrite_one(t, op)
                if isinstance(result.error, AuthError | SystemUnavailable):
                    fatal.append(result.error)
                return result

        return list(await asyncio.gather(*(one(op) for op in ops)))

    async def _awrite_one(self, t: Transport, op: WriteOp) -> WriteResult:
        try:
            dt = self._listable(op.datatype)
            if op.kind == "insert":
                if not op.reference:
                    raise ValueError("an insert needs a reference")
                stored = await self._ainsert(t, dt, op.values, op.reference, op.parent_id)
                outcome: Outcome = "inserted"
            elif op.kind == "update":
                if op.record_id is None:
                    raise ValueError("an update needs a record id")
                stored = await self._aupdate(t, dt, op.record_id, op.values, op.parent_id)
                outcome = "updated"
            else:
                raise ValueError(f"unknown write kind {op.kind!r}")
        except (SchemaError, ValueError) as exc:
            return WriteResult(op, "rejected", message=str(exc))
        except WriteRejected as exc:
            return WriteResult(
                op, "rejected", status=exc.status, message=exc.message, field=exc.field, error=exc
            )
        except OutcomeUnknown as exc:
            return WriteResult(op, "unknown", message=exc.message, error=exc)
        except ConnectorError as exc:
            return WriteResult(op, "failed", status=exc.status, message=exc.message, error=exc)
        return WriteResult(
            op,
            outcome,
            record=stored.record,
            status=stored.status,
            recovered=stored.recovered,
            record_id=stored.record.get(dt.id.path, op.record_id),
        )
