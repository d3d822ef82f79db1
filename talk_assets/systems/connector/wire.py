"""The transport under every client's `httpx.AsyncClient`: aiohttp's connection pool.

Why not httpx's own: httpcore on anyio spends about 1.2 ms of CPU per request in the client
(cancel scopes, pool bookkeeping, socket attribute lookups), more than an emulator needs to
serve it, so writes ran at about half the systems' rate. aiohttp's pool (C-accelerated
parser) needs about half that. httpx stays the interface: auth, retries and tests are unchanged.

Errors become httpx's, so `Transport` keeps telling "not sent, safe to resend" (`ConnectError`,
`ConnectTimeout`) from "may have landed" (everything else) apart: only a failure to connect is
mapped to the former.
"""

from __future__ import annotations

import aiohttp
import httpx
from multidict import CIMultiDict


def _mapped(exc: Exception) -> httpx.TransportError:
    """The httpx error for an aiohttp failure; when in doubt, one that counts as maybe sent."""
    text = str(exc) or type(exc).__name__
    if isinstance(exc, aiohttp.ClientConnectorError):
        return httpx.ConnectError(text)
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return httpx.ConnectTimeout(text)
    if isinstance(exc, aiohttp.InvalidURL):
        return httpx.UnsupportedProtocol(text)
    if isinstance(exc, aiohttp.ServerTimeoutError | TimeoutError):
        return httpx.ReadTimeout(text)
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return httpx.RemoteProtocolError(text)
    return httpx.ReadError(text)


class AiohttpTransport(httpx.AsyncBaseTransport):
    """Sends httpx requests through one `aiohttp.ClientSession` (made on first use, on the
    loop that uses it); answers with the whole body read."""

    def __init__(self, limits: httpx.Limits) -> None:
        self.limits = limits
        self._session: aiohttp.ClientSession | None = None

    def _open(self) -> aiohttp.ClientSession:
        if self._session is None:
            connector = aiohttp.TCPConnector(
                limit=self.limits.max_connections or 0,
                keepalive_timeout=self.limits.keepalive_expiry or 15.0,
                ssl=httpx.create_ssl_context(),
            )
            self._session = aiohttp.ClientSession(
                connector=connector, auto_decompress=False, cookie_jar=aiohttp.DummyCookieJar()
            )
        return self._session

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        timeout = request.extensions.get("timeout", {})
        body = await request.aread()
        try:
            async with self._open().request(
                request.method,
                str(request.url),
                headers=CIMultiDict(request.headers.multi_items()),
                data=body or None,
                allow_redirects=False,
                compress=False,
                timeout=aiohttp.ClientTimeout(
                    connect=timeout.get("pool"),
                    sock_connect=timeout.get("connect"),
                    sock_read=timeout.get("read"),
                ),
            ) as answer:
                content = await answer.read()
                status, headers, reason = answer.status, answer.raw_headers, answer.reason
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise _mapped(exc) from exc
        extensions = {"http_version": b"HTTP/1.1"}
        if reason:
            extensions["reason_phrase"] = reason.encode()
        response = httpx.Response(
            status,
            headers=headers,
            stream=httpx.ByteStream(content),
            request=request,
            extensions=extensions,
        )
        if "content-encoding" not in response.headers:
            # the body as read is the content: httpx's `aread` would pass it through its
            # decoder and chunker layers to the same bytes (a tenth of a write's CPU)
            response._content = content
        return response

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
