"""`SystemSpec`: everything the product knows about one system, declared in the system's folder
(`<system>/system.py`) and listed by the registry (`registry.py`).

The heavy parts (client, resource, emulator, sample data) are named as `"module:attribute"` (or
given as the objects themselves) and imported on first use, so reading the registry costs only
the schemas: `talk-assets --help` never imports Dagster or the HTTP stack.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from talk_assets.systems.schema import System

if TYPE_CHECKING:
    from talk_assets.systems.connector.client import ConnectorClient
    from talk_assets.systems.connector.resource import ConnectorResource
    from talk_assets.systems.emulator.app import Emulator
    from talk_assets.systems.sampling import SampleContext

Json = dict[str, Any]
SampleGenerator = Callable[["SampleContext"], dict[str, list[Json]]]


def load(target: Any) -> Any:
    """`"package.module:attribute"` imported, or the object itself."""
    if not isinstance(target, str):
        return target
    module, _, attribute = target.partition(":")
    return getattr(importlib.import_module(module), attribute)


@dataclass(frozen=True)
class SystemSpec:
    """One system: schema, connector, Dagster resource, emulator, URLs, demo credentials."""

    schema: System
    client: str | type[ConnectorClient]
    """The connector client class (the system's dialect on `ConnectorClient`)."""
    resource: str | type[ConnectorResource]
    """The Dagster resource class; its key in the definitions is the system's name."""
    emulator: str | type[Emulator]
    """The emulator class (an ASGI app on the emulator kit's `Emulator`)."""
    base_url: str
    """The real service's API base (`<NAME>_BASE_URL` overrides it)."""
    token_url: str
    """The real service's OAuth token endpoint (`<NAME>_TOKEN_URL`)."""
    credentials: Mapping[str, str] = field(default_factory=dict)
    """Credential argument -> the demo value the emulator accepts (`<NAME>_<ARG>` overrides)."""
    emulator_base_path: str = ""
    """Path of the API base below an emulator's root URL (`/v2`)."""
    emulator_token_path: str = "/token"
    default_port: int = 0
    """`talk-assets emulate --<name>-port` default."""
    requests_per_second: float = 10.0
    """The system's rate limit: the connector's default pace."""
    page_size: int = 1000
    token_ttl: float = 3600.0
    """Token lifetime when the token answer has no `expires_in`."""
    sample: str | SampleGenerator | None = None
    """Sample data generator: `(SampleContext) -> {datatype: [records]}`."""

    @property
    def name(self) -> str:
        return self.schema.name

    @property
    def title(self) -> str:
        return self.schema.title

    def env_var(self, argument: str) -> str:
        """`base_url` -> `ACME_BASE_URL`."""
        return f"{self.name.upper()}_{argument.upper()}"

    @property
    def env_config(self) -> dict[str, tuple[str, str]]:
        """Constructor argument -> (environment variable, default) of client and resource."""
        defaults = {"base_url": self.base_url, "token_url": self.token_url, **self.credentials}
        return {arg: (self.env_var(arg), default) for arg, default in defaults.items()}

    def credential(self, argument: str) -> str:
        """A credential from the environment the connectors read, else its demo value."""
        return os.environ.get(self.env_var(argument)) or self.credentials[argument]

    @property
    def secret_env(self) -> dict[str, str]:
        """Credential variables and their values in force (demo values when unset)."""
        return {self.env_var(arg): self.credential(arg) for arg in self.credentials}

    @property
    def client_class(self) -> type[ConnectorClient]:
        return load(self.client)

    @property
    def resource_class(self) -> type[ConnectorResource]:
        return load(self.resource)

    @property
    def emulator_class(self) -> type[Emulator]:
        return load(self.emulator)

    @property
    def sample_generator(self) -> SampleGenerator | None:
        return None if self.sample is None else load(self.sample)
