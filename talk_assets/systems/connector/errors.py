"""The errors a connector raises (one family under `ConnectorError`; `ApiError` for a 4xx
answer), and the two transient signals the retry policy acts on."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class ConnectorError(Exception):
    """Base of every error a connector raises. Its text never contains a credential."""

    def __init__(
        self,
        message: str,
        *,
        system: str,
        datatype: str | None = None,
        status: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.system = system
        self.datatype = datatype
        self.status = status

    def __str__(self) -> str:
        where = f"{self.system}.{self.datatype}" if self.datatype else self.system
        status = f" (HTTP {self.status})" if self.status else ""
        return f"{where}: {self.message}{status}"


class AuthError(ConnectorError):
    """Credentials refused: the token request failed, or a fresh token got a 401."""


class ConfigurationError(ConnectorError):
    """The client's URLs or credentials are unusable: found before any request was sent."""


class RequestFailed(ConnectorError):
    """Retries exhausted, or an answer the connector cannot use."""


class SystemUnavailable(RequestFailed):
    """The system could not be reached: connection errors or timeouts until retries ran out, or
    at once when retrying cannot help (unknown host, connection refused on the first contact)."""


class ApiError(ConnectorError):
    """A 4xx answer that is not worth retrying, with the system's own message and field."""

    def __init__(
        self,
        message: str,
        *,
        system: str,
        datatype: str | None = None,
        status: int | None = None,
        field: str | None = None,
    ) -> None:
        super().__init__(message, system=system, datatype=datatype, status=status)
        self.field = field


class NotFound(ApiError):
    """404: the record (or its parent) does not exist."""


class WriteRejected(ApiError):
    """The system (or the connector, before sending) refused a write of one record."""

    def __init__(
        self,
        message: str,
        *,
        system: str,
        datatype: str | None = None,
        status: int | None = None,
        field: str | None = None,
        operation: str = "insert",
        values: Mapping[str, Any] | None = None,
        record_id: Any = None,
        reference: str | None = None,
    ) -> None:
        super().__init__(message, system=system, datatype=datatype, status=status, field=field)
        self.operation = operation
        self.values = dict(values or {})
        self.record_id = record_id
        self.reference = reference

    def __str__(self) -> str:
        what = f"{self.operation} {self.record_id or self.reference or ''}".strip()
        on = f" on {self.field}" if self.field else ""
        return f"{super().__str__()} [{what}{on}]"


class OutcomeUnknown(ConnectorError):
    """An insert may or may not have landed, and the connector could not find out."""

    def __init__(
        self,
        message: str,
        *,
        system: str,
        datatype: str | None = None,
        reference: str | None = None,
        values: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(message, system=system, datatype=datatype)
        self.reference = reference
        self.values = dict(values or {})


class Transient(Exception):
    """A failed attempt the retry policy may repeat (never leaves the connector)."""

    def __init__(self, reason: str, *, status: int | None = None, retry_after: float | None = None):
        super().__init__(reason)
        self.status = status
        self.retry_after = retry_after


class Retryable(Transient):
    """A failure worth another attempt: the request did not take effect."""

    def __init__(
        self,
        reason: str,
        *,
        status: int | None = None,
        retry_after: float | None = None,
        unreachable: bool = False,
    ):
        super().__init__(reason, status=status, retry_after=retry_after)
        self.unreachable = unreachable


class Ambiguous(Transient):
    """A non-idempotent request that may have taken effect (5xx, timeout or drop after sending)."""
