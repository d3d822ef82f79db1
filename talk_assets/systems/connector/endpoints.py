"""Where a connector may send its requests: URLs checked before the first request, and the rule
that a real endpoint (anything not on loopback) never gets the emulator's demo credentials."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from urllib.parse import urlsplit

from talk_assets.systems.spec import SystemSpec

LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})


def url_problem(variable: str, value: str) -> str | None:
    """Why `value` is no usable http(s) URL (None when it is): the message names the variable
    and says what to write instead."""
    if not value or not value.strip():
        return f"{variable} is empty: write a URL such as https://api.example.com"
    value = value.strip()
    parts = urlsplit(value)
    if "://" not in value:
        return f"{variable}={value!r} has no scheme: write http://{value}"
    if parts.scheme not in ("http", "https"):
        rest = value.split("://", 1)[1]
        return f"{variable}={value!r}: the scheme must be http or https, write https://{rest}"
    try:
        host, _port = parts.hostname, parts.port
    except ValueError as exc:
        return f"{variable}={value!r}: {exc}"
    if not host:
        return f"{variable}={value!r} has no host: write {parts.scheme}://HOST{parts.path}"
    return None


def is_loopback(url: str) -> bool:
    """Whether `url` points at this machine (an emulator), not at a real service."""
    host = (urlsplit(url).hostname or "").lower().rstrip(".")
    if host in LOOPBACK_NAMES or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def credential_problem(
    spec: SystemSpec, urls: Mapping[str, str], credentials: Mapping[str, str | None]
) -> str | None:
    """Why these credentials must not go to these URLs: a URL off loopback (a real service, the
    defaults included) needs every credential set, and none of them the emulator's demo value."""
    real = [url for url in urls.values() if url and not is_loopback(url)]
    if not real:
        return None
    missing = [
        spec.env_var(arg)
        for arg, demo in spec.credentials.items()
        if not credentials.get(arg) or credentials.get(arg) == demo
    ]
    if not missing:
        return None
    url_vars = " and ".join(spec.env_var(arg) for arg in urls)
    return (
        f"{spec.title} at {real[0]} is a real service, and {', '.join(missing)} "
        f"{'is' if len(missing) == 1 else 'are'} not set (the emulator's demo credentials are "
        f"never sent there): set {'it' if len(missing) == 1 else 'them'}, or run "
        f"`talk-assets emulate` and point {url_vars} at it"
    )
