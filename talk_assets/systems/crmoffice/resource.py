"""Crmoffice as a Dagster resource: configuration (EnvVar-backed) around the plain client."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Self

from dagster import ConfigurableResource, InitResourceContext
from pydantic import Field, PrivateAttr

from talk_assets.systems.crmoffice.client import (
    DEFAULT_BASE_URL,
    DEFAULT_TOKEN_URL,
    DEMO_CLIENT_ID,
    DEMO_CLIENT_SECRET,
    MAX_LIMIT,
    CrmofficeClient,
)
from talk_assets.systems.http import ClientResource, resource_kwargs_from_env

SECRET_FIELDS = ("client_id", "client_secret")


class CrmofficeResource(ConfigurableResource, ClientResource):
    """Crmoffice. Build it with `from_env()`: credentials come through `dagster.EnvVar`, so
    only the variable names reach Dagster's run config, never the values."""

    base_url: str = Field(default=DEFAULT_BASE_URL, description="API base (the root)")
    token_url: str = Field(default=DEFAULT_TOKEN_URL, description="OAuth token endpoint")
    client_id: str = Field(default=DEMO_CLIENT_ID, description="Secret")
    client_secret: str = Field(default=DEMO_CLIENT_SECRET, description="Secret")
    requests_per_second: float = Field(default=20.0, description="Client-side pace; 0 = off")
    timeout_seconds: float = 30.0
    max_attempts: int = 6
    max_retry_seconds: float = 60.0
    backoff_initial_seconds: float = 0.5
    backoff_max_seconds: float = 20.0
    write_concurrency: int = 4
    page_size: int = MAX_LIMIT

    _client: Any = PrivateAttr(default=None)

    @classmethod
    def from_env(cls, **overrides: Any) -> Self:
        """URLs and credentials from the CRMOFFICE_* variables (demo credentials and the real
        service URLs when unset); other config fields as keyword arguments."""
        kwargs = resource_kwargs_from_env(CrmofficeClient.env_config)
        return cls(**{**kwargs, **overrides})

    def _new_client(self) -> CrmofficeClient:
        return CrmofficeClient(
            base_url=self.base_url,
            token_url=self.token_url,
            client_id=self.client_id,
            client_secret=self.client_secret,
            settings=self._settings(),
        )

    def get_client(self) -> CrmofficeClient:
        return super().get_client()  # type: ignore[return-value]

    def teardown_after_execution(self, context: InitResourceContext) -> None:
        self.close()

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        for name, value in super().__repr_args__():
            yield name, ("********" if name in SECRET_FIELDS else value)
