"""`talk-assets sync` as a separate process against emulators this process serves: the
emulators (rate limits on or off, sample data generated once per size and cached), one sync
run in a fresh child process (wall time, CPU time, write requests per system from the
emulators' running totals, the child's own peak RSS (`PeakRss`), optionally under cProfile),
and a sampler of the emulators' request counts for rates over time."""

from __future__ import annotations

import contextlib
import gc
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from talk_assets.systems import registry
from talk_assets.systems.emulator import Emulators, start_emulators
from talk_assets.systems.sampling import generate

SAMPLE_CACHE = Path(tempfile.gettempdir()) / "talk_assets_bench_samples"
"""Generated sample data as JSON, per (seed, size): generating 100k records per datatype takes
long, reading it back is quicker."""


PROFILED_SYNC = (
    "import cProfile, gc, sys; from talk_assets.cli import GC_THRESHOLDS, main; "
    "gc.set_threshold(*GC_THRESHOLDS); profile = cProfile.Profile(); "
    "code = profile.runcall(main, sys.argv[2:]); profile.dump_stats(sys.argv[1]); sys.exit(code)"
)
"""A sync under cProfile; argv: the profile's path, then the command's arguments."""


def sample_data(seed: int, size: int, cache: Path | None = SAMPLE_CACHE) -> tuple[dict, dict]:
    """The sample data of (seed, size), generated once for all systems (the emulators would
    each generate it again) and cached in `cache`. Answers (data, how it was had)."""
    started = time.perf_counter()
    path = cache / f"seed{seed}_size{size}.json" if cache else None
    if path is not None and path.is_file():
        data = json.loads(path.read_text(encoding="utf-8"))
        return data, {"source": "cache", "seconds": round(time.perf_counter() - started, 2)}
    data = dict(generate(seed, size))
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
        os.replace(tmp, path)
    return data, {"source": "generated", "seconds": round(time.perf_counter() - started, 2)}


@contextlib.contextmanager
def serving(data: dict, *, rate_limits: bool) -> Iterator[Emulators]:
    """Every registered system's emulator on a free loopback port, holding `data`."""
    emus = start_emulators(size=0, rate_limits=rate_limits)
    try:
        for server in emus.servers:
            server.emulator.load_records(data.get(server.emulator.system, {}))
        # The loaded records (1.4M objects at 100k) go to the collector's permanent
        # generation: the emulators stand in for remote systems, and their full collections
        # over every stored record would pause them in the middle of the runs measured.
        gc.freeze()
        yield emus
    finally:
        gc.unfreeze()  # collectable again: duckdb's bindings report leaks of what stays frozen
        emus.stop()


def emulator_of(emus: Emulators, system: str) -> Any:
    return next(s.emulator for s in emus.servers if s.emulator.system == system)


def request_counts(emus: Emulators) -> dict[str, dict[str, int]]:
    """Per system, the requests served so far: all of them, the writes and the updates
    (PATCH) among them (tokens excluded). Read from the emulators this process serves, not
    through `/_emulator/stats`: the sampler asks 10 times a second, and that answer lists
    every path served (thousands once records are read or updated by id), which took most of
    the emulators' share of the GIL and slowed the runs measured."""
    return {handle.system: emulator_of(emus, handle.system).stats.totals() for handle in emus}


def sync_env(emus: Emulators, home: str, *, paced: bool) -> dict[str, str]:
    """The sync's environment: the emulators' URLs and credentials, state under `home`, and the
    clients' pace off (`<SYSTEM>_REQUESTS_PER_SECOND=0`) unless `paced` (their default)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TALK_ASSETS_", "DAGSTER_"))}
    env.update(emus.env)
    env.update(TALK_ASSETS_HOME=home, DAGSTER_HOME=str(Path(home) / "dagster"))
    env["DAGSTER_DISABLE_TELEMETRY"] = "1"
    for spec in registry.specs():
        env.pop(spec.env_var("requests_per_second"), None)
        if not paced:
            env[spec.env_var("requests_per_second")] = "0"
    return env


def run_sync_process(
    emus: Emulators,
    env: dict[str, str],
    home: str,
    tenant: str,
    *,
    timeout: float,
    profile: Path | None = None,
) -> dict[str, Any]:
    """One `talk-assets sync` in a fresh child process: wall time, CPU time (user + system),
    write requests per system, peak RSS of the child. Its output goes to
    `<home>/sync-<n>.out`; a failed run raises."""
    args = ["sync", "--tenant", tenant, "--allow-mass-write"]
    if profile is None:
        cmd = [sys.executable, "-m", "talk_assets.cli", *args]
    else:  # `cli.main`, not the entry point: that leaves by os._exit, before cProfile writes
        cmd = [sys.executable, "-c", PROFILED_SYNC, str(profile), *args]
    before = request_counts(emus)
    out_path = Path(home) / f"sync-{len(list(Path(home).glob('sync-*.out'))) + 1}.out"
    with out_path.open("w", encoding="utf-8") as out:
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, env=env, cwd=home, stdout=out, stderr=subprocess.STDOUT)
        killer = threading.Timer(timeout, proc.kill)
        killer.start()
        peak = PeakRss(proc.pid)
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            killer.cancel()
            peak.stop()
        seconds = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        tail = out_path.read_text(encoding="utf-8")[-2000:]
        raise RuntimeError(f"sync exited {proc.returncode} after {seconds:.0f} s:\n{tail}")
    after = request_counts(emus)
    writes = {s: after[s]["writes"] - before[s]["writes"] for s in after}
    updates = {s: after[s]["updates"] - before[s]["updates"] for s in after}
    total = sum(writes.values())
    return {
        "seconds": round(seconds, 2),
        "write_requests": total,
        "write_requests_by_system": writes,
        "update_requests_by_system": updates,
        "write_requests_per_second": round(total / seconds, 1) if seconds else 0.0,
        "peak_rss_mb": round((peak.kib or usage.ru_maxrss) / 1024, 1),
        "ru_maxrss_mb": round(usage.ru_maxrss / 1024, 1),  # KiB on Linux
        "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 2),
    }


class PeakRss:
    """The peak RSS of a child process's own program (VmHWM of /proc/<pid>/status, sampled
    in a thread until it exits).

    Not `os.wait4`'s ru_maxrss: Linux carries a process's high-water mark across `exec`, so a
    child forked from this process (which holds the emulators' records, ~GBs at 100k) reports
    at least this process's RSS at the fork (`ru_maxrss_mb`). VmHWM belongs to the memory of
    the program the child runs after `exec`; samples before the exec are ignored."""

    def __init__(self, pid: int, interval: float = 0.02) -> None:
        self.kib = 0
        self._pid, self._interval = pid, interval
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, name="peak-rss", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        proc = Path(f"/proc/{self._pid}")
        while not self._done.is_set():
            try:
                if b"talk_assets" in (proc / "cmdline").read_bytes():  # after the exec
                    for line in (proc / "status").read_text().splitlines():
                        if line.startswith("VmHWM:"):
                            self.kib = max(self.kib, int(line.split()[1]))
            except (OSError, ValueError):
                return
            self._done.wait(self._interval)

    def stop(self) -> None:
        self._done.set()
        self._thread.join()


class RequestSampler:
    """Samples the emulators' request counts every `interval` seconds in a thread, for the
    rates a run achieved while it wrote."""

    def __init__(self, emus: Emulators, interval: float = 0.25) -> None:
        self.emus, self.interval = emus, interval
        self.samples: list[tuple[float, dict[str, dict[str, int]]]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="request-sampler", daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.samples.append((time.perf_counter(), request_counts(self.emus)))
            self._stop.wait(self.interval)

    def __enter__(self) -> RequestSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.samples.append((time.perf_counter(), request_counts(self.emus)))

    def rates_between(self, system: str, start: float, end: float) -> dict[str, float]:
        """`system`'s write and all requests per second between two sample times."""
        inside = [(t, c[system]) for t, c in self.samples if start <= t <= end]
        if len(inside) < 2 or inside[-1][0] <= inside[0][0]:
            return {"write_requests_per_second": 0.0, "requests_per_second": 0.0}
        (t0, c0), (t1, c1) = inside[0], inside[-1]
        return {
            "write_requests_per_second": round((c1["writes"] - c0["writes"]) / (t1 - t0), 2),
            "requests_per_second": round((c1["requests"] - c0["requests"]) / (t1 - t0), 2),
        }

    def writing_seconds(self) -> float:
        """From the first sample in which any system's writes moved to the last: the run's
        writing phase (0 when nothing was written)."""
        windows = self._windows_with_writes()
        if not windows:
            return 0.0
        return round(max(w["end"] for w in windows) - min(w["start"] for w in windows), 2)

    def around_writes(self) -> dict[str, float | None]:
        """Seconds from the first sample (taken as the run started) to the first sample in
        which writes moved, and from the last such sample to the last sample (taken as the
        run ended): what a run spends before its first write and after its last (start-up,
        reads and planning; the last commits and the end of the run). None without writes."""
        windows = self._windows_with_writes()
        if not windows or len(self.samples) < 2:
            return {"before_writes_seconds": None, "after_writes_seconds": None}
        start, end = self.samples[0][0], self.samples[-1][0]
        return {
            "before_writes_seconds": round(min(w["start"] for w in windows) - start, 2),
            "after_writes_seconds": round(end - max(w["end"] for w in windows), 2),
        }

    def _windows_with_writes(self) -> list[dict[str, float]]:
        """`write_window` of every system that wrote."""
        windows = [self.write_window(handle.system) for handle in self.emus]
        return [w for w in windows if w["write_requests"]]

    def write_window(self, system: str) -> dict[str, float]:
        """From the first to the last sample in which `system`'s writes moved: its write
        requests, all its requests, and both per second over that window."""
        points = [(t, c[system]["writes"], c[system]["requests"]) for t, c in self.samples]
        moved = [i for i in range(1, len(points)) if points[i][1] != points[i - 1][1]]
        if not moved:
            return {"seconds": 0.0, "write_requests": 0, "requests": 0}
        first, last = points[moved[0] - 1], points[moved[-1]]
        seconds = last[0] - first[0]
        writes, requests = last[1] - first[1], last[2] - first[2]
        return {
            "start": first[0],
            "end": last[0],
            "seconds": round(seconds, 2),
            "write_requests": writes,
            "requests": requests,
            "write_requests_per_second": round(writes / seconds, 2),
            "requests_per_second": round(requests / seconds, 2),
        }
