"""The registry: the one list of systems the product syncs. The Dagster layer (resources,
sensors), the emulator kit and the CLI loop over it; nothing else names a system.

A third system is a folder with a `system.py` holding its `SystemSpec`, listed in `BUILTIN`
(or, in tests, `register(spec)` / `with registered(spec):`).
"""

from __future__ import annotations

import contextlib
import importlib
import threading
from collections.abc import Iterator

from talk_assets.systems.spec import SystemSpec

BUILTIN: tuple[str, ...] = (
    "talk_assets.systems.powerofficego.system",
    "talk_assets.systems.crmoffice.system",
)
"""Modules whose `SPEC` is a built-in system, in registry order (sample data follows it)."""

_lock = threading.Lock()
_specs: dict[str, SystemSpec] | None = None


def _loaded() -> dict[str, SystemSpec]:
    global _specs
    with _lock:
        if _specs is None:
            specs = [importlib.import_module(m).SPEC for m in BUILTIN]
            _specs = {s.name: s for s in specs}
        return _specs


def specs() -> tuple[SystemSpec, ...]:
    """Every registered system, in registry order."""
    return tuple(_loaded().values())


def builtin() -> tuple[SystemSpec, ...]:
    """The built-in systems (those a fresh process, e.g. `talk-assets emulate`, knows)."""
    return tuple(importlib.import_module(m).SPEC for m in BUILTIN)


def names() -> tuple[str, ...]:
    return tuple(_loaded())


def spec(name: str) -> SystemSpec:
    """A system's spec by its key (`powerofficego`)."""
    try:
        return _loaded()[name]
    except KeyError:
        raise KeyError(f"no system {name!r} (registered: {', '.join(names())})") from None


def register(new: SystemSpec) -> None:
    """Add a system (after the built-in ones); replaces one of the same name."""
    specs_now = _loaded()
    with _lock:
        specs_now[new.name] = new


def unregister(name: str) -> None:
    specs_now = _loaded()
    with _lock:
        specs_now.pop(name, None)


@contextlib.contextmanager
def registered(new: SystemSpec) -> Iterator[SystemSpec]:
    """`new` registered for the `with` block (tests)."""
    previous = _loaded().get(new.name)
    register(new)
    try:
        yield new
    finally:
        if previous is None:
            unregister(new.name)
        else:
            register(previous)
