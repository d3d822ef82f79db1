"""`ConnectorClient`: what every system's client shares. Reads with paging and cursors here,
writes with recovery of unknown outcomes in `writes.py`; a subclass supplies the system's
dialect (the `_` hooks) and names its `SystemSpec`.

How a call travels: every client owns one anyio blocking portal (an event loop in a thread)
with one `httpx.AsyncClient`. The sync methods (`read`, `insert`, ...) call a coroutine through
the portal and wait; `write_many` awaits the same coroutines from the caller's own loop. One
implementation thus serves sync and async callers, and the token, the pacer and the connection
pool are shared by every call a client makes.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import logging
import os
import threading
from collections.abc import AsyncIterator, Callable, Coroutine, Mapping
from datetime import UTC, datetime
from typing import Any, ClassVar, Self, TypeVar

import httpx
from anyio.from_thread import BlockingPortal, start_blocking_portal

from talk_assets.systems.connector.endpoints import credential_problem, url_problem
from talk_assets.systems.connector.errors import (
    ApiError,
    AuthError,
    ConfigurationError,
    RequestFailed,
)
from talk_assets.systems.connector.results import ReadResult
from talk_assets.systems.connector.secrets import Secret
from talk_assets.systems.connector.settings import HttpSettings, pace_from_env
from talk_assets.systems.connector.transport import Transport, json_body
from talk_assets.systems.connector.writes import Writes
from talk_assets.systems.records import FrameBuilder, flatten
from talk_assets.systems.schema import Datatype, SchemaError, System
from talk_assets.systems.spec import SystemSpec

log = logging.getLogger(__name__)

T = TypeVar("T")

EVENT_LOOP = {"use_uvloop": importlib.util.find_spec("uvloop") is not None}
"""The clients' event loop: uvloop where it is installed (libuv's loop in C; about 15% less
CPU per write request than asyncio's own, whose loop is pure Python around `select`)."""


class ConnectorClient(Writes):
    """A system over HTTP. Sync methods, plus async `write_many`. Credentials are keyword
    arguments named as in the spec (`client_id=...`); unset ones take their demo values."""

    spec: ClassVar[SystemSpec]
    system: ClassVar[System]
    default_requests_per_second: ClassVar[float]
    default_page_size: ClassVar[int]
    default_token_ttl: ClassVar[float]
    max_pages: ClassVar[int] = 100_000
    """A listing longer than this many pages is an error, not an endless loop."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        spec = cls.__dict__.get("spec")
        if spec is not None:
            cls.system = spec.schema
            cls.default_requests_per_second = spec.requests_per_second
            cls.default_page_size = spec.page_size
            cls.default_token_ttl = spec.token_ttl

    def __init__(
        self,
        *,
        base_url: str | None = None,
        token_url: str | None = None,
        settings: HttpSettings | None = None,
        http_transport: httpx.AsyncBaseTransport | None = None,
        **credentials: str | Secret,
    ) -> None:
        unknown = set(credentials) - set(self.spec.credentials)
        if unknown:
            raise TypeError(f"{type(self).__name__} has no credential {', '.join(sorted(unknown))}")
        self._http_transport = http_transport
        self.base_url = base_url or self.spec.base_url
        self.token_url = token_url or self.spec.token_url
        self.settings = settings or self.default_settings()
        self.credentials = {
            arg: Secret(credentials.get(arg, demo)) for arg, demo in self.spec.credentials.items()
        }
        self._lock = threading.Lock()
        self._portal: BlockingPortal | None = None
        self._portal_exit: contextlib.ExitStack | None = None
        self._portal_thread: int | None = None
        self._transport: Transport | None = None
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
        config = cls.spec.env_config
        kwargs = {arg: env.get(name) or default for arg, (name, default) in config.items()}
        base = settings or cls.default_settings()
        pace = pace_from_env(cls.spec.env_var("requests_per_second"), env)
        if pace is not None and settings is None:
            base = base.with_overrides(requests_per_second=pace or None)
        return cls(**kwargs, settings=base.with_overrides(**setting_overrides))

    @classmethod
    def default_settings(cls, **overrides: Any) -> HttpSettings:
        return HttpSettings(
            requests_per_second=cls.default_requests_per_second,
            page_size=cls.default_page_size,
        ).with_overrides(**overrides)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(base_url={self.base_url!r}, token_url={self.token_url!r})"

    # -- auth dialect (also used by the emulator kit's handles) ----------------------------

    def token_request(self) -> tuple[dict[str, str], dict[str, str]]:
        """Form fields and headers of the client-credentials token request."""
        raise NotImplementedError

    def auth_headers(self, token: str) -> dict[str, str]:
        """Headers of an API call with `token`."""
        return {"Authorization": f"Bearer {token}"}

    def _parse_error(self, response: httpx.Response) -> tuple[str, str | None]:
        raise NotImplementedError

    async def _fetch_token(self, t: Transport) -> tuple[str, float]:
        data, headers = self.token_request()
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

    # -- lifecycle ------------------------------------------------------------------------

    def _runtime(self) -> tuple[BlockingPortal, Transport]:
        with self._lock:
            if self._closed:
                raise RuntimeError(f"{self!r} is closed")
            if self._portal is None:
                self._check_endpoints()
                stack = contextlib.ExitStack()
                self._portal = stack.enter_context(
                    start_blocking_portal(
                        name=f"{self.system.name}-http", backend_options=EVENT_LOOP
                    )
                )
                self._portal_exit = stack
                self._portal_thread = self._portal.call(threading.get_ident)
                self._transport = Transport(
                    system=self.system.name,
                    base_url=self.base_url,
                    settings=self.settings,
                    fetch_token=self._fetch_token,
                    auth_headers=self.auth_headers,
                    parse_error=self._parse_error,
                    secrets=self.credentials.values(),
                    http_transport=self._http_transport,
                )
            assert self._transport is not None
            return self._portal, self._transport

    def _check_endpoints(self) -> None:
        """Before the first request: both URLs usable, and no demo credential for a real
        service. (A test's own `http_transport` sends nothing anywhere: not checked.)"""
        if self._http_transport is not None:
            return
        urls = {"base_url": self.base_url, "token_url": self.token_url}
        problems = [url_problem(self.spec.env_var(arg), url) for arg, url in urls.items()]
        creds = {arg: secret.reveal() for arg, secret in self.credentials.items()}
        problems.append(credential_problem(self.spec, urls, creds))
        found = [p for p in problems if p]
        if found:
            raise ConfigurationError("; ".join(found), system=self.system.name)

    @property
    def transport(self) -> Transport:
        return self._runtime()[1]

    def _run(self, make: Callable[[Transport], Coroutine[Any, Any, T]]) -> T:
        portal, transport = self._runtime()
        return portal.call(make, transport)

    async def _run_async(self, coro: Coroutine[Any, Any, T]) -> T:
        """Await `coro` on the client's loop, from the caller's own loop (or that same loop)."""
        portal, _ = self._runtime()
        if threading.get_ident() == self._portal_thread:
            return await coro
        return await asyncio.wrap_future(portal.start_task_soon(lambda: coro))

    def close(self) -> None:
        with self._lock:
            portal, transport, stack = self._portal, self._transport, self._portal_exit
            self._portal, self._transport, self._portal_exit = None, None, None
            self._closed = True
        if portal is not None and stack is not None:
            try:
                if transport is not None:
                    portal.call(transport.aclose)
            finally:
                stack.close()

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

    # -- read dialect -------------------------------------------------------------------------

    def _pages(
        self, t: Transport, dt: Datatype, since: str | None, page_size: int
    ) -> AsyncIterator[list[Any]]:
        raise NotImplementedError

    async def _has_changes(self, t: Transport, dt: Datatype, since: str) -> bool:
        raise NotImplementedError

    async def _get(self, t: Transport, dt: Datatype, record_id: Any, parent_id: Any) -> Any:
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

    def fetch_token(self) -> None:
        """Get an access token (or reuse the current one): the credentials work."""
        self._run(lambda t: t.tokens.get())

    def probe(self, datatype: str | Datatype) -> int:
        """One small read request (the first page, one record): read access to `datatype`.
        Returns how many records that page held (0 or 1)."""
        dt = self._listable(datatype)

        async def go(t: Transport) -> int:
            pages = self._pages(t, dt, None, 1)
            try:
                async for page in pages:
                    return len(page)
                return 0
            finally:
                aclose = getattr(pages, "aclose", None)
                if aclose is not None:
                    await aclose()

        return self._run(go)

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
