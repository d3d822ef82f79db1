"""Crmoffice as a Dagster resource: configuration (EnvVar-backed) around the plain client."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from talk_assets.systems.crmoffice.client import (
    DEFAULT_BASE_URL,
    DEFAULT_TOKEN_URL,
    DEMO_CLIENT_ID,
    DEMO_CLIENT_SECRET,
    MAX_LIMIT,
    CrmofficeClient,
)
from talk_assets.systems.resource import ConnectorResource

SECRET_FIELDS = ("client_id", "client_secret")


class CrmofficeResource(ConnectorResource):
    """Crmoffice. Build it with `from_env()`: credentials come through `dagster.EnvVar`, so
    only the variable names reach Dagster's run config, never the values."""

    client_class: ClassVar[type[CrmofficeClient]] = CrmofficeClient
    secret_fields: ClassVar[tuple[str, ...]] = SECRET_FIELDS

    base_url: str = Field(default=DEFAULT_BASE_URL, description="API base (the root)")
    token_url: str = Field(default=DEFAULT_TOKEN_URL, description="OAuth token endpoint")
    client_id: str = Field(default=DEMO_CLIENT_ID, description="Secret")
    client_secret: str = Field(default=DEMO_CLIENT_SECRET, description="Secret")
    requests_per_second: float = Field(default=20.0, description="Client-side pace; 0 = off")
    page_size: int = MAX_LIMIT

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
