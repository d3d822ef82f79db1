"""Shared emulator machinery: servers, auth tokens, rate limits, faults, stats, persistence.

The Powerofficego and Crmoffice emulators (`powerofficego/emulator.py`, `crmoffice/emulator.py`)
are ASGI apps built on `Emulator`. This module runs them as real HTTP servers on loopback:

- in-process: `with running_emulators(seed=1, size=20) as emus:` starts both on free ports
  (uvicorn in background threads) and stops them on exit. `emus.powerofficego.url`,
  `.base_url`, `.token_url`, `.env`; `emus.env` merges both systems' environment variables
  (POWEROFFICEGO_BASE_URL, POWEROFFICEGO_TOKEN_URL, the keys, CRMOFFICE_BASE_URL, ...).
  Handles also wrap the hooks: `.stats()`, `.set_faults(rate, kinds)`, `.reset(seed, size)`.
- as a subprocess: `with spawned_emulators(...)` runs
  `python -m talk_assets.cli emulate --powerofficego-port 0 --crmoffice-port 0 ...`, which prints
  one JSON line on stdout once both servers listen:
  `{"powerofficego": {"url", "base_url", "token_url"}, "crmoffice": {...}}` (no secrets), then
  serves until SIGINT/SIGTERM. `talk-assets emulate` prints the same line for any ports.

Test hooks (no token, never rate limited, faulted or counted):
- `GET /_emulator/stats` -> `{"requests": [{"method", "path", "count"}, ...]}` (path without the
  query string, ids as sent; every non-hook request, also the ones answered with a fault or 429).
- `POST /_emulator/faults` `{"rate": 0.2, "kinds": [...], "slow_seconds": 0.5}` (kinds and
  slow_seconds optional) -> the settings now in force, same shape; `GET` reads them.
  Kinds: `"429"`, `"500"`, `"503"`, `"slow"` (answer after `slow_seconds`), `"drop"` (connection
  dropped before the request is processed), `"drop_after"` (the request is processed, a write is
  applied and stored, then the connection is dropped: the answer is lost). Default kinds: all six.
- `POST /_emulator/reset` with no body clears data, counters and rate-limit windows; with
  `{"seed": N, "size": N}` it reloads that sample data. Fault settings and tokens are kept.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import random
import re
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import Receive, Scope, Send

from talk_assets.systems.schema import Datatype, Field

Json = dict[str, Any]

DEMO_CREDENTIALS: dict[str, str] = {
    "POWEROFFICEGO_APPLICATION_KEY": "demo-application-key",
    "POWEROFFICEGO_CLIENT_KEY": "demo-client-key",
    "POWEROFFICEGO_SUBSCRIPTION_KEY": "demo-subscription-key",
    "CRMOFFICE_CLIENT_ID": "demo-client-id",
    "CRMOFFICE_CLIENT_SECRET": "demo-client-secret",
}

FAULT_KINDS: tuple[str, ...] = ("429", "500", "503", "slow", "drop", "drop_after")


def credential(name: str) -> str:
    """A credential from the environment the connectors read, else its demo value."""
    return os.environ.get(name) or DEMO_CREDENTIALS[name]


# --- time -------------------------------------------------------------------------------------


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


def format_timestamp(moment: datetime, *, zulu: bool = False) -> str:
    text = moment.astimezone(UTC).isoformat(timespec="microseconds")
    return text.replace("+00:00", "Z") if zulu else text


_FRACTION = re.compile(r"(\.\d{6})\d+")


def parse_timestamp(text: str) -> datetime:
    """An ISO 8601 date-time with offset (`Z` or `+01:00`; 7-digit fractions are truncated).

    A `+` sent unencoded in a query string arrives as a space; it is read as `+`.
    Raises ValueError for anything else, including a time without an offset.
    """
    cleaned = text.strip()
    cleaned = re.sub(r" (\d{2}:?\d{2})$", r"+\1", cleaned)
    cleaned = _FRACTION.sub(r"\1", cleaned)
    moment = datetime.fromisoformat(cleaned)
    if moment.tzinfo is None:
        raise ValueError(f"{text!r} has no UTC offset")
    return moment


# --- auth, rate limits, faults, stats ------------------------------------------------------------


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


class RateLimiter:
    """At most `limit` requests per key in any sliding one-second window."""

    def __init__(self, limit: int | None) -> None:
        self.limit = limit
        self._windows: dict[str, deque[float]] = {}

    def retry_after(self, key: str) -> int | None:
        """None when the request may go ahead (and counts), else seconds to wait (>= 1)."""
        if not self.limit:
            return None
        now = time.monotonic()
        window = self._windows.setdefault(key, deque())
        while window and window[0] <= now - 1.0:
            window.popleft()
        if len(window) >= self.limit:
            return max(1, math.ceil(window[0] + 1.0 - now))
        window.append(now)
        return None

    def clear(self) -> None:
        self._windows.clear()


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
    def __init__(self) -> None:
        self._counts: dict[tuple[str, str], int] = {}

    def count(self, method: str, path: str) -> None:
        key = (method, path)
        self._counts[key] = self._counts.get(key, 0) + 1

    def as_json(self) -> Json:
        return {
            "requests": [{"method": m, "path": p, "count": c} for (m, p), c in self._counts.items()]
        }

    def clear(self) -> None:
        self._counts.clear()


# --- persistence ---------------------------------------------------------------------------------


class DataFile:
    """One JSON file holding every system's data, rewritten atomically on every change."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._content: Json = {}
        if self.path.exists():
            self._content = json.loads(self.path.read_text(encoding="utf-8"))

    def load(self, system: str) -> Json | None:
        with self._lock:
            return self._content.get(system)

    def save(self, system: str, snapshot: Json) -> None:
        with self._lock:
            self._content[system] = snapshot
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
            with tmp.open("w", encoding="utf-8") as fh:
                json.dump(self._content, fh, ensure_ascii=False, separators=(",", ":"))
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.path)


# --- schema-driven validation ----------------------------------------------------------------------


Shape = dict[str, "Field | Shape"]


def shape_of(dt: Datatype) -> Shape:
    """Nested field tree of a datatype: `{"MailAddress": {"City": Field, ...}, "Name": Field}`."""
    tree: Shape = {}
    for f in dt.fields:
        node = tree
        *parents, leaf = f.parts
        for part in parents:
            node = node.setdefault(part, {})  # type: ignore[assignment]
        node[leaf] = f
    return tree


@dataclass(frozen=True)
class Problem:
    path: str
    kind: str  # unknown | read_only | type | required
    message: str


def check_type(f: Field, value: Any) -> str | None:
    """Why `value` is not a valid value of field `f`, or None. Null is always valid here."""
    if value is None:
        return None
    kind = f.type
    ok = {
        "string": isinstance(value, str),
        "integer": isinstance(value, int) and not isinstance(value, bool),
        "number": isinstance(value, int | float) and not isinstance(value, bool),
        "boolean": isinstance(value, bool),
        "date": isinstance(value, str),
        "datetime": isinstance(value, str),
    }[kind]
    if ok and kind == "date":
        try:
            date.fromisoformat(value)
            ok = len(value) == 10
        except ValueError:
            ok = False
    elif ok and kind == "datetime":
        try:
            parse_timestamp(value)
        except ValueError:
            ok = False
    if ok:
        return None
    want = {"date": "a date YYYY-MM-DD", "datetime": "an ISO 8601 date-time with offset"}
    return f"The value {json.dumps(value, ensure_ascii=False)} is not {want.get(kind, ('an ' if kind[0] in 'aeiou' else 'a ') + kind)}."


def check_object(
    shape: Shape, body: Any, *, prefix: str = "", ignore_case: bool = False
) -> tuple[Json, list[Problem]]:
    """Validate a (partial) record against a shape: unknown, read-only and wrongly typed fields.

    Returns the body with canonical field names. Read-only fields are refused when non-null.
    """
    if not isinstance(body, dict):
        return {}, [Problem(prefix.rstrip(".") or "$", "type", "Expected a JSON object.")]
    lookup = {k.lower(): k for k in shape} if ignore_case else {k: k for k in shape}
    out: Json = {}
    problems: list[Problem] = []
    for key, value in body.items():
        name = lookup.get(key.lower() if ignore_case else key)
        path = f"{prefix}{name or key}"
        if name is None:
            problems.append(Problem(path, "unknown", f"The field {path} does not exist."))
            continue
        node = shape[name]
        if isinstance(node, dict):
            if value is None:
                out[name] = None
                continue
            sub, subproblems = check_object(node, value, prefix=f"{path}.", ignore_case=ignore_case)
            out[name] = sub
            problems += subproblems
            continue
        if not node.writable and value is not None:
            problems.append(Problem(path, "read_only", f"The field {path} is read-only."))
            continue
        why = check_type(node, value)
        if why:
            problems.append(Problem(path, "type", f"{path}: {why}"))
            continue
        if node.writable:
            out[name] = value
    return out, problems


def is_empty(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


# --- the ASGI base ---------------------------------------------------------------------------------

Handler = Callable[[Request], Awaitable[Response]]


class Emulator(ABC):
    """One system's emulator: an ASGI app with hooks, stats, faults, rate limits and auth."""

    system: str

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
        self.clock = MonotonicClock()
        self.stats = Stats()
        self.faults = Faults(rate=fault_rate, rng=random.Random(seed))
        self.limiter = RateLimiter(self.rate_limit if rate_limits else None)
        self.tokens = Tokens(token_ttl if token_ttl is not None else self.default_token_ttl)
        self.data_file = data_file
        self.app = self.build_app()
        snapshot = data_file.load(self.system) if data_file else None
        if snapshot is not None:
            self.restore(snapshot)
        else:
            self.load_sample(seed, size)
            self.persist()

    # per system
    rate_limit: int = 10
    default_token_ttl: float = 3600.0

    @abstractmethod
    def build_app(self) -> Callable[[Scope, Receive, Send], Awaitable[None]]: ...

    @abstractmethod
    def load_sample(self, seed: int, size: int) -> None:
        """Replace all data by the sample data of (seed, size); size 0 means empty."""

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

    def persist(self) -> None:
        if self.data_file is not None:
            self.data_file.save(self.system, self.snapshot())

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
            await _drop_connection(send)
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
            await _drop_connection(send)
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


async def _drop_connection(send: Send) -> None:
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


# --- servers ---------------------------------------------------------------------------------------


class EmulatorServer:
    """An emulator served by uvicorn in a background thread (or the foreground, for the CLI)."""

    def __init__(self, emulator: Emulator, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.emulator = emulator
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, port))
        self.host, self.port = self.sock.getsockname()[:2]
        config = uvicorn.Config(
            emulator,
            log_level="warning",
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=2,
            timeout_keep_alive=5,
        )
        self.server = uvicorn.Server(config)
        self.thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, timeout: float = 10.0) -> None:
        self.thread = threading.Thread(
            target=self.server.run,
            kwargs={"sockets": [self.sock]},
            name=f"emulator-{self.emulator.system}",
            daemon=True,
        )
        self.thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the {self.emulator.system} emulator did not start")
            time.sleep(0.005)

    def stop(self, timeout: float = 10.0) -> None:
        self.server.should_exit = True
        if self.thread is not None:
            self.thread.join(timeout)
        self.sock.close()


class SystemHandle:
    """How a client reaches one running emulator, plus its hooks."""

    def __init__(self, system: str, url: str, base_path: str, token_path: str) -> None:
        self.system = system
        self.url = url
        self.base_url = url + base_path
        self.token_url = url + token_path

    @property
    def env(self) -> dict[str, str]:
        prefix = self.system.upper()
        env = {f"{prefix}_BASE_URL": self.base_url, f"{prefix}_TOKEN_URL": self.token_url}
        env.update({k: credential(k) for k in DEMO_CREDENTIALS if k.startswith(prefix + "_")})
        return env

    def token(self) -> str:
        """A fresh access token, fetched the way a client does."""
        env = self.env
        if self.system == "powerofficego":
            answer = httpx.post(
                self.token_url,
                data={"grant_type": "client_credentials"},
                auth=(env["POWEROFFICEGO_APPLICATION_KEY"], env["POWEROFFICEGO_CLIENT_KEY"]),
                headers={"Ocp-Apim-Subscription-Key": env["POWEROFFICEGO_SUBSCRIPTION_KEY"]},
                timeout=10,
            )
        else:
            form = {
                "grant_type": "client_credentials",
                "client_id": env["CRMOFFICE_CLIENT_ID"],
                "client_secret": env["CRMOFFICE_CLIENT_SECRET"],
                "scope": "crmoffice",
            }
            answer = httpx.post(self.token_url, data=form, timeout=10)
        answer.raise_for_status()
        return answer.json()["access_token"]

    def client(self, **options: Any) -> httpx.Client:
        """An httpx client on the API base with a token (and subscription key): for tests and
        the demo to edit records through the normal API, as a user of the system would."""
        headers = {"Authorization": f"Bearer {self.token()}"}
        if self.system == "powerofficego":
            headers["Ocp-Apim-Subscription-Key"] = self.env["POWEROFFICEGO_SUBSCRIPTION_KEY"]
        options.setdefault("timeout", 10)
        return httpx.Client(base_url=self.base_url, headers=headers, **options)

    def _hook(self, method: str, name: str, body: Json | None = None) -> Json:
        answer = httpx.request(method, f"{self.url}/_emulator/{name}", json=body, timeout=10)
        answer.raise_for_status()
        return answer.json()

    def stats(self) -> Json:
        return self._hook("GET", "stats")

    def write_requests(self) -> int:
        """Write requests served so far (POST, PATCH, PUT, DELETE; token requests excluded):
        what tests and benchmarks count to prove a run wrote nothing, or how much."""
        return sum(
            row["count"]
            for row in self.stats()["requests"]
            if row["method"] in WRITE_METHODS and "token" not in row["path"].lower()
        )

    def set_faults(
        self, rate: float, kinds: list[str] | None = None, slow_seconds: float | None = None
    ) -> Json:
        body: Json = {"rate": rate}
        if kinds is not None:
            body["kinds"] = kinds
        if slow_seconds is not None:
            body["slow_seconds"] = slow_seconds
        return self._hook("POST", "faults", body)

    def reset(self, seed: int | None = None, size: int | None = None) -> Json:
        """No arguments: clear data and counters; else reload sample data (seed, size)."""
        body = {k: v for k, v in (("seed", seed), ("size", size)) if v is not None} or None
        return self._hook("POST", "reset", body)

    def describe(self) -> Json:
        return {"url": self.url, "base_url": self.base_url, "token_url": self.token_url}


WRITE_METHODS = ("POST", "PATCH", "PUT", "DELETE")
PATHS = {"powerofficego": ("/v2", "/OAuth/Token"), "crmoffice": ("", "/connect/token")}


@dataclass
class Emulators:
    powerofficego: SystemHandle
    crmoffice: SystemHandle
    servers: list[EmulatorServer] = field(default_factory=list, repr=False)

    @property
    def env(self) -> dict[str, str]:
        return {**self.powerofficego.env, **self.crmoffice.env}

    def reset(self, seed: int | None = None, size: int | None = None) -> None:
        self.powerofficego.reset(seed, size)
        self.crmoffice.reset(seed, size)

    def set_faults(self, rate: float, kinds: list[str] | None = None) -> None:
        self.powerofficego.set_faults(rate, kinds)
        self.crmoffice.set_faults(rate, kinds)

    def write_requests(self) -> int:
        return self.powerofficego.write_requests() + self.crmoffice.write_requests()

    def stop(self) -> None:
        for server in self.servers:
            server.stop()
        self.servers.clear()


def make_emulators(
    *,
    seed: int = 1,
    size: int = 20,
    fault_rate: float = 0.0,
    rate_limits: bool = True,
    token_ttl: float | None = None,
    data_file: str | os.PathLike[str] | None = None,
) -> list[Emulator]:
    from talk_assets.systems.crmoffice.emulator import CrmofficeEmulator
    from talk_assets.systems.powerofficego.emulator import PowerofficegoEmulator

    store = DataFile(data_file) if data_file else None
    options = dict(
        seed=seed,
        size=size,
        fault_rate=fault_rate,
        rate_limits=rate_limits,
        token_ttl=token_ttl,
        data_file=store,
    )
    return [PowerofficegoEmulator(**options), CrmofficeEmulator(**options)]


def start_emulators(
    *,
    seed: int = 1,
    size: int = 20,
    fault_rate: float = 0.0,
    rate_limits: bool = True,
    host: str = "127.0.0.1",
    token_ttl: float | None = None,
    data_file: str | os.PathLike[str] | None = None,
    powerofficego_port: int = 0,
    crmoffice_port: int = 0,
) -> Emulators:
    """Start both emulators in background threads; call `.stop()` on the answer when done."""
    emulators = make_emulators(
        seed=seed,
        size=size,
        fault_rate=fault_rate,
        rate_limits=rate_limits,
        token_ttl=token_ttl,
        data_file=data_file,
    )
    ports = {"powerofficego": powerofficego_port, "crmoffice": crmoffice_port}
    servers: list[EmulatorServer] = []
    try:
        for emulator in emulators:
            server = EmulatorServer(emulator, host=host, port=ports[emulator.system])
            servers.append(server)
            server.start()
    except BaseException:
        for server in servers:
            server.stop()
        raise
    handles = {
        s.emulator.system: SystemHandle(s.emulator.system, s.url, *PATHS[s.emulator.system])
        for s in servers
    }
    return Emulators(handles["powerofficego"], handles["crmoffice"], servers)


@contextlib.contextmanager
def running_emulators(
    *,
    seed: int = 1,
    size: int = 20,
    fault_rate: float = 0.0,
    rate_limits: bool = True,
    host: str = "127.0.0.1",
    token_ttl: float | None = None,
    data_file: str | None = None,
) -> Iterator[Emulators]:
    """Both emulators on free loopback ports for the `with` block; stopped cleanly after it."""
    emus = start_emulators(
        seed=seed,
        size=size,
        fault_rate=fault_rate,
        rate_limits=rate_limits,
        host=host,
        token_ttl=token_ttl,
        data_file=data_file,
    )
    try:
        yield emus
    finally:
        emus.stop()


@contextlib.contextmanager
def spawned_emulators(
    *,
    seed: int = 1,
    size: int = 20,
    fault_rate: float = 0.0,
    rate_limits: bool = True,
    data_file: str | None = None,
    timeout: float = 30.0,
) -> Iterator[Emulators]:
    """Both emulators in a `talk-assets emulate` subprocess on free ports; stopped after."""
    cmd = [sys.executable, "-m", "talk_assets.cli", "emulate"]
    cmd += ["--powerofficego-port", "0", "--crmoffice-port", "0"]
    cmd += ["--seed", str(seed), "--size", str(size), "--fault-rate", str(fault_rate)]
    if not rate_limits:
        cmd.append("--no-rate-limit")
    if data_file:
        cmd += ["--data-file", str(data_file)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    try:
        line = _read_line(proc, timeout)
        info = json.loads(line)
        handles = {name: SystemHandle(name, info[name]["url"], *PATHS[name]) for name in PATHS}
        yield Emulators(handles["powerofficego"], handles["crmoffice"])
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stdout:
            proc.stdout.close()


def _read_line(proc: subprocess.Popen[str], timeout: float) -> str:
    result: list[str] = []
    reader = threading.Thread(target=lambda: result.append(proc.stdout.readline()), daemon=True)  # type: ignore[union-attr]
    reader.start()
    reader.join(timeout)
    if not result or not result[0].strip():
        raise RuntimeError("talk-assets emulate did not report its URLs")
    return result[0]


def emulate_command(args: Any) -> int:
    """`talk-assets emulate`: serve both emulators until SIGINT or SIGTERM."""
    stop = threading.Event()
    previous = {
        sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)
    }
    try:
        emus = start_emulators(
            seed=args.seed,
            size=args.size,
            fault_rate=args.fault_rate,
            rate_limits=not args.no_rate_limit,
            host=args.host,
            data_file=args.data_file,
            powerofficego_port=args.powerofficego_port,
            crmoffice_port=args.crmoffice_port,
        )
    except OSError as exc:
        print(f"talk-assets emulate: {exc}", file=sys.stderr)
        return 1
    try:
        info = {
            "powerofficego": emus.powerofficego.describe(),
            "crmoffice": emus.crmoffice.describe(),
        }
        print(json.dumps(info), flush=True)
        for handle in (emus.powerofficego, emus.crmoffice):
            print(
                f"{handle.system}: API {handle.base_url or handle.url}, token {handle.token_url}",
                file=sys.stderr,
                flush=True,
            )
        while not stop.wait(0.5):
            pass
    finally:
        emus.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0
