"""PowerOffice Go as a Dagster resource: configuration (EnvVar-backed) around the plain client."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Self

from dagster import ConfigurableResource, InitResourceContext
from pydantic import Field, PrivateAttr

from talk_assets.systems.http import ClientResource, resource_kwargs_from_env
from talk_assets.systems.powerofficego.client import (
    DEFAULT_BASE_URL,
    DEFAULT_TOKEN_URL,
    DEMO_APPLICATION_KEY,
    DEMO_CLIENT_KEY,
    DEMO_SUBSCRIPTION_KEY,
    PowerOfficeGoClient,
)

SECRET_FIELDS = ("application_key", "client_key", "subscription_key")


class PowerOfficeGoResource(ConfigurableResource, ClientResource):
    """PowerOffice Go v2. Build it with `from_env()`: credentials come through `dagster.EnvVar`,
    so only the variable names reach Dagster's run config, never the values."""

    base_url: str = Field(default=DEFAULT_BASE_URL, description="API base, e.g. .../v2")
    token_url: str = Field(default=DEFAULT_TOKEN_URL, description="OAuth token endpoint")
    application_key: str = Field(default=DEMO_APPLICATION_KEY, description="Secret")
    client_key: str = Field(default=DEMO_CLIENT_KEY, description="Secret")
    subscription_key: str = Field(default=DEMO_SUBSCRIPTION_KEY, description="Secret")
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
        """URLs and credentials from the POWEROFFICEGO_* variables (demo keys and the real
        service URLs when unset); other config fields as keyword arguments."""
        kwargs = resource_kwargs_from_env(PowerOfficeGoClient.env_config)
        return cls(**{**kwargs, **overrides})

    def _new_client(self) -> PowerOfficeGoClient:
        return PowerOfficeGoClient(
            base_url=self.base_url,
            token_url=self.token_url,
            application_key=self.application_key,
            client_key=self.client_key,
            subscription_key=self.subscription_key,
            settings=self._settings(),
        )

    def get_client(self) -> PowerOfficeGoClient:
        return super().get_client()  # type: ignore[return-value]

    def teardown_after_execution(self, context: InitResourceContext) -> None:
        self.close()

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        for name, value in super().__repr_args__():
            yield name, ("********" if name in SECRET_FIELDS else value)
