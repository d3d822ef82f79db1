"""Client-credentials tokens: fetched on demand, reused, refreshed before they expire, and
refreshed once after a 401 (`BearerAuth`, an `httpx.Auth` flow)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Generator

import httpx

from talk_assets.systems.connector.secrets import Secret

log = logging.getLogger(__name__)


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


class BearerAuth(httpx.Auth):
    """Sends the token (and the system's other auth headers) with every request; after a 401 it
    fetches a fresh token and resends once. A second 401 is the caller's to report."""

    def __init__(self, tokens: TokenManager, headers: Callable[[str], dict[str, str]]) -> None:
        self.tokens = tokens
        self._headers = headers

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        token = await self.tokens.get()
        request.headers.update(self._headers(token))
        response = yield request
        if response.status_code == 401:
            self.tokens.invalidate(token)
            request.headers.update(self._headers(await self.tokens.get()))
            yield request

    def sync_auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response]:
        raise RuntimeError("the connectors send asynchronously")
        yield request  # pragma: no cover
