"""Timestamps as both systems write them: ISO 8601 text with a UTC offset.

One parser for the connectors and the emulators. Its one failure behaviour: anything that is not
an ISO 8601 date-time (with an offset, unless `assume_utc`) raises `ValueError`; callers that
tolerate a bad value catch it (`timestamp_or_none`).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

_FRACTION = re.compile(r"(\.\d{6})\d+")
_SPACED_OFFSET = re.compile(r"(T[\d:.]+) (\d{2}:?\d{2})$")


def parse_timestamp(text: Any, *, assume_utc: bool = False) -> datetime:
    """An ISO 8601 date-time with offset (`Z` or `+01:00`; 7-digit fractions are truncated).

    A `+` sent unencoded in a query string arrives as a space; it is read as `+`. A time without
    an offset is UTC when `assume_utc`, else an error. Raises ValueError for anything else (also
    for a value that is not text).
    """
    if not isinstance(text, str):
        raise ValueError(f"{text!r} is not an ISO 8601 date-time")
    cleaned = _SPACED_OFFSET.sub(r"\1+\2", text.strip())
    cleaned = _FRACTION.sub(r"\1", cleaned)
    moment = datetime.fromisoformat(cleaned)
    if moment.tzinfo is None:
        if not assume_utc:
            raise ValueError(f"{text!r} has no UTC offset")
        moment = moment.replace(tzinfo=UTC)
    return moment


def timestamp_or_none(text: Any) -> datetime | None:
    """`parse_timestamp(text, assume_utc=True)`, or None where that raises."""
    try:
        return parse_timestamp(text, assume_utc=True)
    except ValueError:
        return None


def format_timestamp(moment: datetime, *, zulu: bool = False) -> str:
    """Microsecond ISO text in UTC, `+00:00` or (zulu) `Z`."""
    text = moment.astimezone(UTC).isoformat(timespec="microseconds")
    return text.replace("+00:00", "Z") if zulu else text
