"""The emulator kit: what a system's emulator is built from, and how emulators run.

app.py (the `Emulator` ASGI base, `HttpError`), controls.py (clock, tokens, the server-side
rate limit, faults, stats), storage.py (the data file), validation.py (payloads against the
schema), serving.py (uvicorn servers, `running_emulators`, `spawned_emulators`), handles.py
(`SystemHandle`, `Emulators`), command.py (`talk-assets emulate`).

The names below are imported on first use, so `talk-assets --help` does not load uvicorn.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "Emulators": "handles",
    "SystemHandle": "handles",
    "EmulatorServer": "serving",
    "make_emulators": "serving",
    "running_emulators": "serving",
    "spawned_emulators": "serving",
    "start_emulators": "serving",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
