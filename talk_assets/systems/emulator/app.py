"""The emulator base: one system's emulated API as an ASGI app, with test hooks, stats, injected
faults, its rate limit and auth. A system's emulator subclasses `Emulator` and names its spec."""

from __future__ import annotations

import asyncio
import json
import random
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, ClassVar

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import Receive, Scope, Send

from talk_assets.systems.emulator.controls import (
    Faults,
    MonotonicClock,
    RateLimitWindows,
    Stats,
    Tokens,
)
from talk_assets.systems.emulator.storage import DataFile
from talk_assets.systems.sampling import generate
from talk_assets.systems.spec import SystemSpec

Json = dict[str, Any]
Handler = Callable[[Request], Awaitable[Response]]


class HttpError(Exception):
    """An error answer of the emulated API, raised by a handler and rendered by the system's
    `Emulator.error` (problem details, an error object, ...)."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        field: str | None = None,
        code: str | None = None,
        errors: dict[str, list[str]] | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.message, self.field, self.code = status, message, field, code
        self.errors = errors


class Emulator(ABC):
    """One system's emulator: an ASGI app with hooks, stats, faults, rate limits and auth."""

    spec: ClassVar[SystemSpec]
    system: ClassVar[str]
    id_field: ClassVar[str] = "id"
    """The key of a record's id in the snapshot's records."""
    next_ids: dict[str, int]
    """Per id sequence, the next id to give out (stored with every change)."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        spec = cls.__dict__.get("spec")
        if spec is not None:
            cls.system = spec.name
            cls.rate_limit = int(spec.requests_per_second)
            cls.default_token_ttl = spec.token_ttl

    def __init__(
        self,
        *,
        seed: int = 1,
        size: int = 20,
        fault_rate: float = 0.0,
        rate_limits: bool = True,
        token_ttl: float | None = None,
        data_file: DataFile | None = None,
    ) -> None:
        self.seed, self.size = seed, size
        self.credentials = {arg: self.spec.credential(arg) for arg in self.spec.credentials}
        """The credentials this emulator accepts: the environment's, else the demo values."""
        self.clock = MonotonicClock()
        self.stats = Stats()
        self.faults = Faults(rate=fault_rate, rng=random.Random(seed))
        self.limiter = RateLimitWindows(self.rate_limit if rate_limits else None)
        self.tokens = Tokens(token_ttl if token_ttl is not None else self.default_token_ttl)
        self.data_file = data_file
        self.app = self.build_app()
        snapshot = data_file.load(self.system, self.id_field) if data_file else None
        if snapshot is not None:
            self.restore(snapshot)
        else:
            self.load_sample(seed, size)
        self.persist()  # a new snapshot: the journal replayed at startup starts over

    # per system
    rate_limit: int = 10
    default_token_ttl: float = 3600.0

    @abstractmethod
    def build_app(self) -> Callable[[Scope, Receive, Send], Awaitable[None]]: ...

    @abstractmethod
    def load_records(self, records: dict[str, list[Json]]) -> None:
        """Replace all data by these records (datatype -> records)."""

    def load_sample(self, seed: int, size: int) -> None:
        """Replace all data by the sample data of (seed, size); size 0 means empty."""
        self.load_records(generate(seed, size)[self.system] if size > 0 else {})

    @abstractmethod
    def snapshot(self) -> Json: ...

    @abstractmethod
    def restore(self, snapshot: Json) -> None: ...

    @abstractmethod
    async def guard(self, request: Request) -> Response | None:
        """Auth and rate limit of one request: an error answer, or None to go ahead."""

    @abstractmethod
    def error(
        self, status: int, message: str, *, field: str | None = None, code: str | None = None
    ) -> Response: ...

    def error_of(self, exc: HttpError) -> Response:
        """The answer of a handler's `HttpError` (a system with an `errors` map overrides)."""
        return self.error(exc.status, exc.message, field=exc.field, code=exc.code)

    def handle(self, handler: Handler) -> Handler:
        """`handler` answering its `HttpError`s in the system's error format."""

        async def run(request: Request) -> Response:
            try:
                return await handler(request)
            except HttpError as exc:
                return self.error_of(exc)

        return run

    def persist(self) -> None:
        """Store all data (O(records): at startup and on reset)."""
        if self.data_file is not None:
            self.data_file.save(self.system, self.snapshot())

    def persist_change(
        self, table: str, record_id: Any, record: Json | None, **additions: Json
    ) -> None:
        """Store one written record (None: deleted) before it is answered, in O(1), for a
        snapshot of the shape `storage.py` describes; `additions`: entries added to a map of
        the snapshot (`idempotency={key: entry}`)."""
        if self.data_file is not None:
            change = {"table": table, "id": record_id, "record": record}
            change |= {"next_ids": self.next_ids, **additions}
            self.data_file.append(self.system, change, self.snapshot)

    def fault_answer(self, kind: str) -> Response:
        messages = {
            "429": "Too many requests (injected fault).",
            "500": "Internal server error (injected fault).",
            "503": "Service unavailable (injected fault).",
        }
        answer = self.error(int(kind), messages[kind])
        if kind in ("429", "503"):
            answer.headers["Retry-After"] = "1"
        return answer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        if path.startswith("/_emulator/"):
            await self.hook(Request(scope, receive))(scope, receive, send)
            return
        self.stats.count(scope["method"], path)
        kind = self.faults.pick()
        if kind == "drop":
            await drop_connection(send)
            return
        if kind in ("429", "500", "503"):
            await self.fault_answer(kind)(scope, receive, send)
            return
        if kind == "slow":
            await asyncio.sleep(self.faults.slow_seconds)
        refused = await self.guard(Request(scope, receive))
        if refused is not None:
            await refused(scope, receive, send)
            return
        if kind == "drop_after":

            async def swallow(message: Any) -> None:
                return None

            await self.app(scope, receive, swallow)
            await drop_connection(send)
            return
        await self.app(scope, receive, send)

    async def handle_hook(self, request: Request) -> Response:
        path, method = request.url.path, request.method
        if path == "/_emulator/stats" and method == "GET":
            return JSONResponse(self.stats.as_json())
        if path == "/_emulator/faults" and method == "GET":
            return JSONResponse(self.faults.settings())
        body: Any = None
        raw = await request.body()
        if raw.strip():
            try:
                body = json.loads(raw)
            except ValueError:
                return JSONResponse({"error": "the body is not JSON"}, status_code=400)
        if path == "/_emulator/faults" and method == "POST":
            why = self.faults.configure(body)
            if why:
                return JSONResponse({"error": why}, status_code=400)
            return JSONResponse(self.faults.settings())
        if path == "/_emulator/reset" and method == "POST":
            return self.reset(body)
        return JSONResponse({"error": f"no hook {method} {path}"}, status_code=404)

    def hook(self, request: Request) -> Callable[[Scope, Receive, Send], Awaitable[None]]:
        async def run(scope: Scope, receive: Receive, send: Send) -> None:
            answer = await self.handle_hook(request)
            await answer(scope, receive, send)

        return run

    def reset(self, body: Any) -> Response:
        seed: int | None = None
        size = 0
        if body is not None:
            if not isinstance(body, dict) or set(body) - {"seed", "size"}:
                return JSONResponse({"error": 'expected {"seed": N, "size": N}'}, status_code=400)
            seed, size = body.get("seed", self.seed), body.get("size", self.size)
            if not all(isinstance(v, int) and not isinstance(v, bool) for v in (seed, size)):
                return JSONResponse({"error": "seed and size must be integers"}, status_code=400)
            if size < 0:
                return JSONResponse({"error": "size must be >= 0"}, status_code=400)
        self.load_sample(seed or 0, size)
        self.stats.clear()
        self.limiter.clear()
        self.persist()
        return JSONResponse({"reset": True, "seed": seed, "size": size})

    def stamp(self) -> datetime:
        return self.clock.now()


async def drop_connection(send: Send) -> None:
    """Close the TCP connection without an answer (uvicorn: abort the request's transport)."""
    cycle = getattr(send, "__self__", None)
    transport = getattr(cycle, "transport", None)
    if transport is not None:
        cycle.disconnected = True  # type: ignore[union-attr]
        transport.abort()
        return
    # Another server: start an answer and break off, the client sees an incomplete response.
    await send(
        {"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"9")]}
    )
    raise ConnectionAbortedError("injected fault: dropped connection")
