"""Credentials that never show themselves, and removing them from text a server echoes."""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable

MASK = "********"
SHORT_SECRET = 8
"""Secrets shorter than this are masked only where they stand alone (not inside a longer run
of letters and digits): a one-letter demo key masked everywhere turned "Access denied" into
"A****ess denied". Longer ones are masked wherever they appear."""


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
    """`text` with every secret's value replaced by the mask (short ones: see `SHORT_SECRET`).
    Longer secrets first, so one that contains another is masked whole."""
    values = sorted({s.reveal() for s in secrets if s}, key=len, reverse=True)
    for value in values:
        if len(value) >= SHORT_SECRET:
            text = text.replace(value, MASK)
        else:
            text = re.sub(rf"(?<![A-Za-z0-9]){re.escape(value)}(?![A-Za-z0-9])", MASK, text)
    return text
