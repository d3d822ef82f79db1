"""The connector kit: what a system's client and Dagster resource are built from.

settings.py (HttpSettings), secrets.py (Secret), errors.py (the ConnectorError family),
retry.py (tenacity policy), pacing.py (RequestPacer), auth.py (tokens, BearerAuth),
transport.py (paced, retried calls), wire.py (the aiohttp pool under httpx), results.py
(ReadResult, WriteOp, WriteResult), client.py and writes.py (ConnectorClient), resource.py
(ConnectorResource, imports Dagster: not re-exported here).
"""

from talk_assets.systems.connector.client import ConnectorClient
from talk_assets.systems.connector.errors import (
    ApiError,
    AuthError,
    ConfigurationError,
    ConnectorError,
    NotFound,
    OutcomeUnknown,
    RequestFailed,
    SystemUnavailable,
    WriteRejected,
)
from talk_assets.systems.connector.results import ReadResult, WriteOp, WriteResult
from talk_assets.systems.connector.secrets import Secret, basic_auth
from talk_assets.systems.connector.settings import HttpSettings
from talk_assets.systems.connector.transport import Transport, json_body

__all__ = [
    "ApiError",
    "AuthError",
    "ConfigurationError",
    "ConnectorClient",
    "ConnectorError",
    "HttpSettings",
    "NotFound",
    "OutcomeUnknown",
    "ReadResult",
    "RequestFailed",
    "Secret",
    "SystemUnavailable",
    "Transport",
    "WriteOp",
    "WriteRejected",
    "WriteResult",
    "basic_auth",
    "json_body",
]
