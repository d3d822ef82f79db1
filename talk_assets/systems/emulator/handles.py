"""How tests, the demo and benchmarks reach running emulators: a `SystemHandle` per system
(URLs, environment, a token fetched the way the system's client does, the test hooks) and
`Emulators`, all of them by system name (`emus.acme`, `emus["acme"]`)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import httpx

from talk_assets.systems.spec import SystemSpec

if TYPE_CHECKING:
    from talk_assets.systems.emulator.serving import EmulatorServer

Json = dict[str, Any]


class SystemHandle:
    """How a client reaches one running emulator, plus its hooks."""

    def __init__(self, spec: SystemSpec, url: str) -> None:
        self.spec = spec
        self.system = spec.name
        self.url = url
        self.base_url = url + spec.emulator_base_path
        self.token_url = url + spec.emulator_token_path

    @property
    def env(self) -> dict[str, str]:
        """The environment a connector reads to reach this emulator (URLs and credentials)."""
        spec = self.spec
        urls = {spec.env_var("base_url"): self.base_url, spec.env_var("token_url"): self.token_url}
        return {**urls, **spec.secret_env}

    def _client(self) -> Any:
        creds = {arg: self.spec.credential(arg) for arg in self.spec.credentials}
        return self.spec.client_class(base_url=self.base_url, token_url=self.token_url, **creds)

    def token(self) -> str:
        """A fresh access token, fetched the way the system's client does."""
        form, headers = self._client().token_request()
        answer = httpx.post(self.token_url, data=form, headers=headers, timeout=10)
        answer.raise_for_status()
        return answer.json()["access_token"]

    def client(self, **options: Any) -> httpx.Client:
        """An httpx client on the API base with a token (and the system's other auth headers):
        for tests and the demo to edit records through the normal API, as a user would."""
        headers = self._client().auth_headers(self.token())
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
        return self.stats()["totals"]["writes"]

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


@dataclass
class Emulators:
    """Running emulators by system name: `emus.acme`, `emus["acme"]`."""

    handles: dict[str, SystemHandle]
    servers: list[EmulatorServer] = field(default_factory=list, repr=False)

    def __getattr__(self, name: str) -> SystemHandle:
        handles = self.__dict__.get("handles", {})
        if name in handles:
            return handles[name]
        raise AttributeError(name)

    def __getitem__(self, name: str) -> SystemHandle:
        return self.handles[name]

    def __iter__(self) -> Iterator[SystemHandle]:
        return iter(self.handles.values())

    @property
    def env(self) -> dict[str, str]:
        return {k: v for handle in self for k, v in handle.env.items()}

    def reset(self, seed: int | None = None, size: int | None = None) -> None:
        for handle in self:
            handle.reset(seed, size)

    def set_faults(self, rate: float, kinds: list[str] | None = None) -> None:
        for handle in self:
            handle.set_faults(rate, kinds)

    def write_requests(self) -> int:
        return sum(handle.write_requests() for handle in self)

    def describe(self) -> dict[str, Json]:
        return {handle.system: handle.describe() for handle in self}

    def stop(self) -> None:
        for server in self.servers:
            server.stop()
        self.servers.clear()
