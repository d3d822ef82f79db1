"""PowerOffice Go as a Dagster resource: configuration (EnvVar-backed) around the plain client."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from talk_assets.systems.powerofficego.client import (
    DEFAULT_BASE_URL,
    DEFAULT_TOKEN_URL,
    DEMO_APPLICATION_KEY,
    DEMO_CLIENT_KEY,
    DEMO_SUBSCRIPTION_KEY,
    PowerOfficeGoClient,
)
from talk_assets.systems.resource import ConnectorResource

SECRET_FIELDS = ("application_key", "client_key", "subscription_key")


class PowerOfficeGoResource(ConnectorResource):
    """PowerOffice Go v2. Build it with `from_env()`: credentials come through `dagster.EnvVar`,
    so only the variable names reach Dagster's run config, never the values."""

    client_class: ClassVar[type[PowerOfficeGoClient]] = PowerOfficeGoClient
    secret_fields: ClassVar[tuple[str, ...]] = SECRET_FIELDS

    base_url: str = Field(default=DEFAULT_BASE_URL, description="API base, e.g. .../v2")
    token_url: str = Field(default=DEFAULT_TOKEN_URL, description="OAuth token endpoint")
    application_key: str = Field(default=DEMO_APPLICATION_KEY, description="Secret")
    client_key: str = Field(default=DEMO_CLIENT_KEY, description="Secret")
    subscription_key: str = Field(default=DEMO_SUBSCRIPTION_KEY, description="Secret")

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
