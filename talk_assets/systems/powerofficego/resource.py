"""PowerOffice Go as a Dagster resource: its URL and credential fields (EnvVar-backed through
`from_env()`, defaults from its `SystemSpec`); the rest is `ConnectorResource`."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from talk_assets.systems.connector.resource import ConnectorResource
from talk_assets.systems.powerofficego.client import PowerOfficeGoClient
from talk_assets.systems.powerofficego.system import SPEC
from talk_assets.systems.spec import SystemSpec

KEYS = SPEC.credentials


class PowerOfficeGoResource(ConnectorResource):
    """PowerOffice Go v2. Build it with `from_env()`: credentials come through `dagster.EnvVar`,
    so only the variable names reach Dagster's run config, never the values."""

    spec: ClassVar[SystemSpec] = SPEC

    base_url: str = Field(default=SPEC.base_url, description="API base, e.g. .../v2")
    token_url: str = Field(default=SPEC.token_url, description="OAuth token endpoint")
    application_key: str = Field(default=KEYS["application_key"], description="Secret")
    client_key: str = Field(default=KEYS["client_key"], description="Secret")
    subscription_key: str = Field(default=KEYS["subscription_key"], description="Secret")
    requests_per_second: float = Field(
        default=SPEC.requests_per_second, description="Client-side pace; 0 = off"
    )
    page_size: int = SPEC.page_size

    def get_client(self) -> PowerOfficeGoClient:
        return super().get_client()  # type: ignore[return-value]
