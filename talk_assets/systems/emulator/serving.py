"""Emulators as real HTTP servers on loopback, one per registered system:

- in-process: `with running_emulators(seed=1, size=20) as emus:` starts every registered
  system's emulator on a free port (uvicorn in background threads) and stops them on exit.
  `emus.<name>.url`, `.base_url`, `.token_url`, `.env`; `emus.env` merges every
  system's environment variables (`<NAME>_BASE_URL`, `<NAME>_TOKEN_URL`, the credentials).
  Handles also wrap the hooks: `.stats()`, `.set_faults(rate, kinds)`, `.reset(seed, size)`.
- as a subprocess: `with spawned_emulators(...)` runs `python -m talk_assets.cli emulate
  --<name>-port 0 ...` for the built-in systems (`command.py`).

Test hooks (no token, never rate limited, faulted or counted):
- `GET /_emulator/stats` -> `{"requests": [{"method", "path", "count"}, ...]}` (path without the
  query string, ids as sent; every non-hook request, also the ones answered with a fault or 429).
- `POST /_emulator/faults` `{"rate": 0.2, "kinds": [...], "slow_seconds": 0.5}` (kinds and
  slow_seconds optional) -> the settings now in force, same shape; `GET` reads them.
  Kinds: `"429"`, `"500"`, `"503"`, `"slow"` (answer after `slow_seconds`), `"drop"` (connection
  dropped before the request is processed), `"drop_after"` (the request is processed, a write is
  applied and stored, then the connection is dropped: the answer is lost). Default kinds: all six.
- `POST /_emulator/reset` with no body clears data, counters and rate-limit windows; with
  `{"seed": N, "size": N}` it reloads that sample data. Fault settings and tokens are kept.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping

import uvicorn

from talk_assets.systems import registry
from talk_assets.systems.emulator.app import Emulator
from talk_assets.systems.emulator.handles import Emulators, SystemHandle
from talk_assets.systems.emulator.storage import DataFile


class EmulatorServer:
    """An emulator served by uvicorn in a background thread (or the foreground, for the CLI)."""

    def __init__(self, emulator: Emulator, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.emulator = emulator
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, port))
        self.host, self.port = self.sock.getsockname()[:2]
        config = uvicorn.Config(
            emulator,
            log_level="warning",
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=2,
            timeout_keep_alive=5,
        )
        self.server = uvicorn.Server(config)
        self.thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, timeout: float = 10.0) -> None:
        self.thread = threading.Thread(
            target=self.server.run,
            kwargs={"sockets": [self.sock]},
            name=f"emulator-{self.emulator.system}",
            daemon=True,
        )
        self.thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the {self.emulator.system} emulator did not start")
            time.sleep(0.005)

    def stop(self, timeout: float = 10.0) -> None:
        self.server.should_exit = True
        if self.thread is not None:
            self.thread.join(timeout)
        self.sock.close()


def make_emulators(
    *,
    seed: int = 1,
    size: int = 20,
    fault_rate: float = 0.0,
    rate_limits: bool = True,
    token_ttl: float | None = None,
    data_file: str | os.PathLike[str] | None = None,
) -> list[Emulator]:
    store = DataFile(data_file) if data_file else None
    options = dict(
        seed=seed,
        size=size,
        fault_rate=fault_rate,
        rate_limits=rate_limits,
        token_ttl=token_ttl,
        data_file=store,
    )
    return [spec.emulator_class(**options) for spec in registry.specs()]


def start_emulators(
    *,
    seed: int = 1,
    size: int = 20,
    fault_rate: float = 0.0,
    rate_limits: bool = True,
    host: str = "127.0.0.1",
    token_ttl: float | None = None,
    data_file: str | os.PathLike[str] | None = None,
    ports: Mapping[str, int] | None = None,
) -> Emulators:
    """Start every registered system's emulator in a background thread (on `ports[name]`, else
    a free port); call `.stop()` on the answer when done."""
    emulators = make_emulators(
        seed=seed,
        size=size,
        fault_rate=fault_rate,
        rate_limits=rate_limits,
        token_ttl=token_ttl,
        data_file=data_file,
    )
    ports = dict(ports or {})
    servers: list[EmulatorServer] = []
    try:
        for emulator in emulators:
            server = EmulatorServer(emulator, host=host, port=ports.get(emulator.system, 0))
            servers.append(server)
            server.start()
    except BaseException:
        for server in servers:
            server.stop()
        raise
    handles = {s.emulator.system: SystemHandle(s.emulator.spec, s.url) for s in servers}
    return Emulators(handles, servers)


@contextlib.contextmanager
def running_emulators(
    *,
    seed: int = 1,
    size: int = 20,
    fault_rate: float = 0.0,
    rate_limits: bool = True,
    host: str = "127.0.0.1",
    token_ttl: float | None = None,
    data_file: str | None = None,
) -> Iterator[Emulators]:
    """Every registered system's emulator on a free loopback port for the `with` block;
    stopped cleanly after it."""
    emus = start_emulators(
        seed=seed,
        size=size,
        fault_rate=fault_rate,
        rate_limits=rate_limits,
        host=host,
        token_ttl=token_ttl,
        data_file=data_file,
    )
    try:
        yield emus
    finally:
        emus.stop()


@contextlib.contextmanager
def spawned_emulators(
    *,
    seed: int = 1,
    size: int = 20,
    fault_rate: float = 0.0,
    rate_limits: bool = True,
    data_file: str | None = None,
    timeout: float = 30.0,
) -> Iterator[Emulators]:
    """The built-in systems' emulators in a `talk-assets emulate` subprocess on free ports;
    stopped after."""
    cmd = [sys.executable, "-m", "talk_assets.cli", "emulate"]
    for spec in registry.builtin():
        cmd += [f"--{spec.name}-port", "0"]
    cmd += ["--seed", str(seed), "--size", str(size), "--fault-rate", str(fault_rate)]
    if not rate_limits:
        cmd.append("--no-rate-limit")
    if data_file:
        cmd += ["--data-file", str(data_file)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    try:
        line = _read_line(proc, timeout)
        info = json.loads(line)
        handles = {
            spec.name: SystemHandle(spec, info[spec.name]["url"]) for spec in registry.builtin()
        }
        yield Emulators(handles)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stdout:
            proc.stdout.close()


def _read_line(proc: subprocess.Popen[str], timeout: float) -> str:
    result: list[str] = []
    reader = threading.Thread(target=lambda: result.append(proc.stdout.readline()), daemon=True)  # type: ignore[union-attr]
    reader.start()
    reader.join(timeout)
    if not result or not result[0].strip():
        raise RuntimeError("talk-assets emulate did not report its URLs")
    return result[0]
