"""Authenticated, paced, retried HTTP calls to one system (they live on the client's event loop).

Every request the system sees, token requests and resends after a 401 included, goes through
`PacedTransport`: it takes a slot of the client's `RequestPacer` and counts the answer.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

import httpx

from talk_assets.systems.connector.auth import BearerAuth, TokenManager
from talk_assets.systems.connector.errors import (
    Ambiguous,
    ApiError,
    AuthError,
    NotFound,
    RequestFailed,
    Retryable,
    SystemUnavailable,
)
from talk_assets.systems.connector.pacing import RequestPacer
from talk_assets.systems.connector.retry import parse_retry_after, retried
from talk_assets.systems.connector.secrets import Secret, scrub
from talk_assets.systems.connector.settings import HttpSettings
from talk_assets.systems.connector.wire import AiohttpTransport

log = logging.getLogger(__name__)

ErrorParser = Callable[[httpx.Response], tuple[str, str | None]]
RETRY_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
_NO_SUCH_HOST = (
    "name or service not known",
    "nodename nor servname",
    "no address associated with hostname",
    "getaddrinfo failed",
    "name does not resolve",
)


def permanent_failure(exc: httpx.TransportError, answered: bool) -> str | None:
    """Why retrying `exc` cannot help (None when it may): a URL scheme httpx cannot speak, a
    host name that does not resolve, or a refused connection before the system ever answered
    (a wrong port or a system that is not running, rather than a blip)."""
    text = str(exc) or type(exc).__name__
    if isinstance(exc, httpx.UnsupportedProtocol):
        return f"unsupported URL: {text}"
    if isinstance(exc, httpx.ConnectError):
        if any(s in text.lower() for s in _NO_SUCH_HOST):
            return f"unknown host ({text})"
        if not answered:
            return f"connection failed on first contact ({text})"
    return None


class PacedTransport(httpx.AsyncBaseTransport):
    """An httpx transport that paces every request and counts the answers by status."""

    def __init__(self, inner: httpx.AsyncBaseTransport, pacer: RequestPacer) -> None:
        self.inner = inner
        self.pacer = pacer
        self.requests = 0
        self.answered = 0
        """Answers received (of any status): the system has been reached."""
        self.last_headers: httpx.Headers | None = None
        """Headers of the latest answer (rate-limit headroom for `talk-assets check`)."""
        self.statuses: Counter[int | str] = Counter()
        """Answers by status (and transport errors by name): 429s should stay rare."""

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        slot = await self.pacer.acquire()
        started = time.monotonic()
        self.requests += 1
        try:
            response = await self.inner.handle_async_request(request)
        except httpx.TransportError as exc:
            self.statuses[type(exc).__name__] += 1
            log.debug("%s %s: %s after %.2f s", request.method, request.url.path,
                      type(exc).__name__, time.monotonic() - started)  # fmt: skip
            raise
        finally:
            self.pacer.release(slot)
        self.statuses[response.status_code] += 1
        self.answered += 1
        self.last_headers = response.headers
        log.debug("%s %s -> %d in %.3f s", request.method, request.url.path,
                  response.status_code, time.monotonic() - started)  # fmt: skip
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()


URL_CACHE = 512
"""Request URLs kept per client (the endpoints; a record's own URL is merged each time)."""


class Transport:
    """One system's HTTP calls: auth (`BearerAuth`), pacing (`PacedTransport`), retries."""

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
        self._parse_error = parse_error
        self._secrets = [s for s in secrets if s]
        self.limiter = RequestPacer(settings.requests_per_second)
        self.tokens = TokenManager(lambda: fetch_token(self), settings.token_refresh_margin)
        self.auth = BearerAuth(self.tokens, auth_headers)
        connections = max(settings.write_concurrency, 1) + 2
        limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
        inner = http_transport or AiohttpTransport(limits)
        self.paced = PacedTransport(inner, self.limiter)
        self._urls: dict[str, httpx.URL] = {}
        self.http = httpx.AsyncClient(
            base_url=base_url.rstrip("/") + "/",
            timeout=httpx.Timeout(settings.timeout, connect=settings.connect_timeout),
            limits=limits,
            transport=self.paced,
        )

    @property
    def requests(self) -> int:
        return self.paced.requests

    @property
    def statuses(self) -> Counter[int | str]:
        return self.paced.statuses

    async def aclose(self) -> None:
        await self.http.aclose()

    def scrub(self, text: str) -> str:
        """Remove any credential a server might echo back from text we show."""
        return scrub(text, self._secrets)

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
        `RequestFailed`/`SystemUnavailable` when retries run out, and `Ambiguous` (for the
        caller to resolve) when a non-idempotent request may have landed."""
        request = self.http.build_request(
            method,
            self._url(path),
            params=params,
            json=json,
            data=data,
            headers=dict(headers or {}),
        )
        if content_type:  # after build: httpx sets application/json for json=...
            request.headers["Content-Type"] = content_type
        try:
            return await retried(
                self.settings,
                Retryable,
                lambda: self._once(request, path, idempotent, datatype, auth),
            )
        except Retryable as exc:
            cls = SystemUnavailable if exc.unreachable else RequestFailed
            raise cls(
                f"gave up after retries: {exc}",
                system=self.system,
                datatype=datatype,
                status=exc.status,
            ) from None

    def _url(self, path: str) -> httpx.URL:
        """`path` joined to the base URL as httpx joins them, kept for the next call (httpx
        parses and joins the text on every request)."""
        url = self._urls.get(path)
        if url is None:
            url, base = httpx.URL(path), self.http.base_url
            if url.is_relative_url:  # else an absolute URL (a token URL) is used as it is
                url = base.copy_with(raw_path=base.raw_path + url.raw_path.lstrip(b"/"))
            if len(self._urls) >= URL_CACHE:
                self._urls.clear()
            self._urls[path] = url
        return url

    async def _exchange(self, request: httpx.Request, auth: bool) -> httpx.Response:
        """`request` through the paced transport under `BearerAuth`'s flow (the token; after a
        401 a fresh one and one resend), each answer read whole. httpx's `AsyncClient.send`
        runs the same flow inside layers these clients use none of (redirects are never
        followed, no cookies are kept, no event hooks): about a tenth of a write's CPU."""
        if not auth:
            return await self._answer(request)
        flow = self.auth.async_auth_flow(request)
        try:
            request = await flow.__anext__()
            while True:
                response = await self._answer(request)
                try:
                    request = await flow.asend(response)
                except StopAsyncIteration:
                    return response
        finally:
            await flow.aclose()

    async def _answer(self, request: httpx.Request) -> httpx.Response:
        response = await self.paced.handle_async_request(request)
        response.request = request
        await response.aread()
        return response

    async def _once(
        self, request: httpx.Request, path: str, idempotent: bool, datatype: str | None, auth: bool
    ) -> httpx.Response:
        method = request.method
        try:
            response = await self._exchange(request, auth)
        except httpx.TransportError as exc:
            permanent = permanent_failure(exc, self.paced.answered > 0)
            if permanent is not None:
                raise SystemUnavailable(
                    f"{method} {request.url.scheme}://{request.url.netloc.decode()}: {permanent}",
                    system=self.system,
                    datatype=datatype,
                ) from None
            detail = self.scrub(str(exc))  # aiohttp's text names the host and the cause
            reason = f"{self.system} {method} {path}: {type(exc).__name__}" + (
                f" ({detail})" if detail else ""
            )
            if isinstance(exc, _NOT_SENT) or idempotent:
                raise Retryable(reason, unreachable=True) from None
            # A timed-out write may still be in progress on the server: give it time to land
            # before looking it up, or the lookup misses it and the resend duplicates it.
            grace = self.settings.timeout_grace
            timed_out = isinstance(exc, httpx.TimeoutException)
            raise Ambiguous(reason, retry_after=grace if timed_out else None) from None
        status = response.status_code
        if status < 400:
            return response
        message, fld = self.error_of(response)
        if status == 401:
            raise AuthError(
                f"{method} {path} refused: {message}",
                system=self.system,
                datatype=datatype,
                status=status,
            )
        if status in RETRY_STATUSES:
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            if status == 429:
                pause = retry_after if retry_after is not None else 1.0
                self.limiter.pause(min(pause, self.settings.retry_after_max))
            reason = f"{self.system} {method} {path}: HTTP {status} {message}"
            if status >= 500 and not idempotent:
                raise Ambiguous(reason, status=status, retry_after=retry_after)
            raise Retryable(reason, status=status, retry_after=retry_after)
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
