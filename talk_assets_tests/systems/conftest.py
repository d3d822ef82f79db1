"""Shared fixtures of the system tests: the emulators a module runs, its system's handle, an
HTTP client and a connector client on them.

A module names its own sample data (so its assertions keep holding) and its system:

    EMULATOR_DATA = {"seed": 3, "size": 8}   # both emulators' sample data
    SYSTEM = "powerofficego"                 # for `system`, `api` and `client`
    CLIENT = PowerOfficeGoClient             # for `client`
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from talk_assets.systems.emulator import Emulators, SystemHandle, running_emulators
from talk_assets_tests.systems.clients import FAST


def emulator_data(request: pytest.FixtureRequest) -> dict[str, int]:
    """The requesting module's `EMULATOR_DATA` (seed and size of the sample data)."""
    return dict(getattr(request.module, "EMULATOR_DATA", {"seed": 1, "size": 8}))


@pytest.fixture(scope="module")
def emus(request: pytest.FixtureRequest) -> Iterator[Emulators]:
    """Both emulators, without rate limits, for the whole module."""
    with running_emulators(**emulator_data(request), rate_limits=False) as emulators:
        yield emulators


@pytest.fixture
def system(emus: Emulators, request: pytest.FixtureRequest) -> SystemHandle:
    """The module's `SYSTEM`, reset to the module's sample data."""
    handle: SystemHandle = getattr(emus, request.module.SYSTEM)
    handle.reset(**emulator_data(request))
    return handle


@pytest.fixture
def api(system: SystemHandle) -> Iterator[httpx.Client]:
    """A plain HTTP client on the module's system, with a token."""
    with system.client() as client:
        yield client


@pytest.fixture
def client(emus: Emulators, request: pytest.FixtureRequest) -> Iterator[Any]:
    """The module's connector `CLIENT` on the emulators, with `FAST` options and no faults
    (before and after)."""
    handle: SystemHandle = getattr(emus, request.module.SYSTEM)
    handle.set_faults(0)
    with request.module.CLIENT.from_env(emus.env, **FAST) as connector:
        yield connector
    handle.set_faults(0)
