"""Crmoffice as a Dagster resource: its URL and credential fields (EnvVar-backed through
`from_env()`, defaults from its `SystemSpec`); the rest is `ConnectorResource`."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from talk_assets.systems.connector.resource import ConnectorResource
from talk_assets.systems.crmoffice.client import CrmofficeClient
from talk_assets.systems.crmoffice.system import SPEC
from talk_assets.systems.spec import SystemSpec

KEYS = SPEC.credentials


class CrmofficeResource(ConnectorResource):
    """Crmoffice. Build it with `from_env()`: credentials come through `dagster.EnvVar`, so
    only the variable names reach Dagster's run config, never the values."""

    spec: ClassVar[SystemSpec] = SPEC

    base_url: str = Field(default=SPEC.base_url, description="API base (the root)")
    token_url: str = Field(default=SPEC.token_url, description="OAuth token endpoint")
    client_id: str = Field(default=KEYS["client_id"], description="Secret")
    client_secret: str = Field(default=KEYS["client_secret"], description="Secret")
    requests_per_second: float = Field(
        default=SPEC.requests_per_second, description="Client-side pace; 0 = off"
    )
    page_size: int = SPEC.page_size

    def get_client(self) -> CrmofficeClient:
        return super().get_client()  # type: ignore[return-value]
