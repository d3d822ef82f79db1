"""Credentials that never show themselves, and removing them from text a server echoes."""

from __future__ import annotations

import base64
from collections.abc import Iterable

MASK = "********"


class Secret:
    """A credential that never shows itself in reprs, str(), logs or exceptions."""

    __slots__ = ("_value",)

    def __init__(self, value: str | Secret) -> None:
        self._value = value.reveal() if isinstance(value, Secret) else str(value)

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return f"Secret({MASK!r})"

    def __str__(self) -> str:
        return MASK

    def __bool__(self) -> bool:
        return bool(self._value)


def basic_auth(user: Secret, password: Secret) -> str:
    raw = f"{user.reveal()}:{password.reveal()}".encode()
    return "Basic " + base64.b64encode(raw).decode()


def scrub(text: str, secrets: Iterable[Secret]) -> str:
    """`text` with every secret's value replaced by the mask."""
    for secret in secrets:
        if secret:
            text = text.replace(secret.reveal(), MASK)
    return text
