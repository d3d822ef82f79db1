"""The aiohttp transport's errors: only a failure to connect may count as "not sent" (an insert
is resent blindly only then, S10); a connection dropped after sending is "may have landed"."""

from __future__ import annotations

import asyncio
import gzip
import socket

import httpx
import pytest

from talk_assets.systems.connector.transport import _NOT_SENT
from talk_assets.systems.connector.wire import AiohttpTransport

LIMITS = httpx.Limits(max_connections=2, max_keepalive_connections=2)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def _send(url: str, transport: AiohttpTransport) -> httpx.Response:
    async with httpx.AsyncClient(transport=transport, timeout=5.0) as client:
        return await client.post(url, json={"name": "x"})


def test_refused_connection_is_not_sent() -> None:
    transport = AiohttpTransport(LIMITS)
    with pytest.raises(httpx.ConnectError) as caught:
        asyncio.run(_send(f"http://127.0.0.1:{_free_port()}/things", transport))
    assert isinstance(caught.value, _NOT_SENT)


def test_dropped_after_sending_may_have_landed() -> None:
    async def main() -> None:
        async def drop(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.readuntil(b"\r\n\r\n")  # the request arrived; no answer
            writer.close()

        server = await asyncio.start_server(drop, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        async with server:
            await _send(f"http://127.0.0.1:{port}/things", AiohttpTransport(LIMITS))

    with pytest.raises(httpx.TransportError) as caught:
        asyncio.run(main())
    assert not isinstance(caught.value, _NOT_SENT)


def _answered(head: bytes, body: bytes) -> httpx.Response:
    """The response to one POST that a loopback server answers with `head` (the status line
    and headers, without Content-Length) and `body`."""

    async def main() -> httpx.Response:
        async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.readuntil(b"\r\n\r\n")
            writer.write(head + b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
            await writer.drain()
            writer.close()

        server = await asyncio.start_server(answer, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        async with server:
            return await _send(f"http://127.0.0.1:{port}/things", AiohttpTransport(LIMITS))

    return asyncio.run(main())


def test_answer_keeps_status_headers_and_body() -> None:
    response = _answered(
        b"HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nX-Thing: a\r\n",
        b'{"id": 7}',
    )
    assert (response.status_code, response.json()) == (201, {"id": 7})
    assert response.headers["x-thing"] == "a"
    assert response.reason_phrase == "Created"


def test_compressed_answer_is_decoded() -> None:
    """An unencoded answer is taken as read; an encoded one still goes through httpx's
    decoders (aiohttp is told not to decompress)."""
    payload = b'{"id": 8, "name": "\xc3\x86rlig"}'
    response = _answered(
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Encoding: gzip\r\n",
        gzip.compress(payload),
    )
    assert response.content == payload
    assert response.json() == {"id": 8, "name": "Ærlig"}
