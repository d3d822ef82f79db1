"""`ConnectorResource`: a system's client as a Dagster resource. What every system's resource
shares: the retry and pacing config, configuration from the environment through
`dagster.EnvVar`, one client per run, masked secrets. A system's resource class only declares
its URL and credential fields (defaults from its `SystemSpec`)."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, ClassVar, Self

from dagster import ConfigurableResource, EnvVar, InitResourceContext
from pydantic import Field, PrivateAttr

from talk_assets.systems.connector.client import ConnectorClient
from talk_assets.systems.connector.results import ReadResult, WriteOp, WriteResult
from talk_assets.systems.connector.secrets import MASK
from talk_assets.systems.connector.settings import HttpSettings, pace_from_env
from talk_assets.systems.schema import Datatype
from talk_assets.systems.spec import SystemSpec


def resource_kwargs_from_env(env_config: Mapping[str, tuple[str, str]]) -> dict[str, Any]:
    """Resource config from the environment: `dagster.EnvVar(NAME)` for every variable that is
    set (resolved at run time, never stored as a value), the default for the others."""
    return {
        arg: EnvVar(name) if os.environ.get(name) else default
        for arg, (name, default) in env_config.items()
    }


class ConnectorResource(ConfigurableResource):
    """Base of the system resources. A resource builds its client on first use
    (`get_client()`), reuses it for the whole run and closes it after the run."""

    spec: ClassVar[SystemSpec]
    """The system; its resource class declares `base_url`, `token_url` and one field per
    credential (defaults from the spec)."""

    requests_per_second: float = Field(default=10.0, description="Client-side pace; 0 = off")
    timeout_seconds: float = 30.0
    max_attempts: int = 6
    max_retry_seconds: float = 60.0
    backoff_initial_seconds: float = 0.5
    backoff_max_seconds: float = 20.0
    write_concurrency: int = 4
    page_size: int = 5000

    _client: Any = PrivateAttr(default=None)

    @classmethod
    def from_env(cls, **overrides: Any) -> Self:
        """URLs and credentials from the system's environment variables (demo credentials and
        the real service URLs when unset), the pace from `<NAME>_REQUESTS_PER_SECOND`; other
        config fields as keyword arguments."""
        pace = pace_from_env(cls.spec.env_var("requests_per_second"), os.environ)
        paced = {} if pace is None else {"requests_per_second": pace}
        return cls(**{**resource_kwargs_from_env(cls.spec.env_config), **paced, **overrides})

    @classmethod
    def secret_fields(cls) -> tuple[str, ...]:
        return tuple(cls.spec.credentials)

    def _new_client(self) -> ConnectorClient:
        return self.spec.client_class(
            base_url=self.base_url,
            token_url=self.token_url,
            settings=self._settings(),
            **{arg: getattr(self, arg) for arg in self.spec.credentials},
        )

    def _settings(self) -> HttpSettings:
        rps = self.requests_per_second
        return HttpSettings(
            timeout=self.timeout_seconds,
            requests_per_second=rps if rps > 0 else None,
            max_attempts=self.max_attempts,
            max_retry_seconds=self.max_retry_seconds,
            backoff_initial=self.backoff_initial_seconds,
            backoff_max=self.backoff_max_seconds,
            write_concurrency=self.write_concurrency,
            page_size=self.page_size,
        )

    def get_client(self) -> ConnectorClient:
        if self._client is None:
            self._client = self._new_client()
        return self._client

    def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            client.close()

    def teardown_after_execution(self, context: InitResourceContext) -> None:
        self.close()

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        for name, value in super().__repr_args__():
            yield name, (MASK if name in self.secret_fields() else value)

    def read(
        self, datatype: str | Datatype, since: str | None = None, *, page_size: int | None = None
    ) -> ReadResult:
        return self.get_client().read(datatype, since, page_size=page_size)

    def has_changes(self, datatype: str | Datatype, since: str | None) -> bool:
        return self.get_client().has_changes(datatype, since)

    def get(self, datatype: str | Datatype, record_id: Any, *, parent_id: Any = None) -> dict:
        return self.get_client().get(datatype, record_id, parent_id=parent_id)

    def insert(
        self,
        datatype: str | Datatype,
        values: Mapping[str, Any],
        *,
        reference: str,
        parent_id: Any = None,
    ) -> dict[str, Any]:
        return self.get_client().insert(datatype, values, reference=reference, parent_id=parent_id)

    def update(
        self,
        datatype: str | Datatype,
        record_id: Any,
        values: Mapping[str, Any],
        *,
        parent_id: Any = None,
    ) -> dict[str, Any]:
        return self.get_client().update(datatype, record_id, values, parent_id=parent_id)

    async def write_many(
        self, ops: Iterable[WriteOp], *, concurrency: int | None = None
    ) -> list[WriteResult]:
        return await self.get_client().write_many(ops, concurrency=concurrency)

    def write_many_blocking(
        self, ops: Iterable[WriteOp], *, concurrency: int | None = None
    ) -> list[WriteResult]:
        return self.get_client().write_many_blocking(ops, concurrency=concurrency)
