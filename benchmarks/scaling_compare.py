"""Idle and 1%-edited runs of two code trees from one settled tenant: what grows with N.

Building a settled tenant takes minutes (an initial load at 10k ~2.5 min), so `build` does it
once per size and keeps it: the tenant's home (its DuckDB file and Dagster home) and the
emulators' snapshot, under `--state` (default a folder in the temp dir). `compare` then starts
the emulators from that snapshot, copies the home, and per code tree (`--code`, a folder whose
`talk_assets` package the sync imports through PYTHONPATH; empty: the installed one) runs
`talk-assets sync` as a fresh process: no change, then after the 1% edit of
`harness.edit_one_percent`. Every tree starts from identical state, in turns, so trees are
compared under the same load of the machine. `--profile DIR` writes each run's cProfile.

    uv run python benchmarks/scaling_compare.py build --sizes 1000,10000,30000
    git archive <base> | tar -x -C /tmp/base
    uv run python benchmarks/scaling_compare.py compare --sizes 1000,10000,30000 \
        --code before=/tmp/base --code after=

Prints a table (seconds and peak RSS, and each over the 1k size's) and writes
benchmarks/results/scaling_compare.json.
"""

from __future__ import annotations

import argparse
import pickle
import shutil
import sys
import tempfile
from pathlib import Path

from harness import edit_one_percent, settle, size_list
from report import write_report
from rich.console import Console
from rich.table import Table
from sync_process import run_sync_process, sample_data, serving, sync_env

from talk_assets.store.tenant import TenantStore, tenant_path

STATE = Path(tempfile.gettempdir()) / "talk_assets_scaling"
TENANT = "t"
MAX_SETTLE = 4
RUN_TIMEOUT = 3600.0
PHASES = ("no change", "1% edited")


def build(size: int, state: Path) -> dict:
    """A settled tenant at `size`: its home and the emulators' snapshot under `state/size`."""
    data, _ = sample_data(1, size)
    folder = state / str(size)
    shutil.rmtree(folder, ignore_errors=True)
    home = folder / "home"
    home.mkdir(parents=True)
    with serving(data, rate_limits=False) as emus:
        env = sync_env(emus, str(home), paced=False)
        first, settling, settled = settle(
            lambda: run_sync_process(emus, env, str(home), TENANT, timeout=RUN_TIMEOUT), MAX_SETTLE
        )
        snapshot = {s.emulator.system: s.emulator.snapshot() for s in emus.servers}
    (folder / "emulators.pickle").write_bytes(pickle.dumps(snapshot))
    return {"size": size, "initial load": first, "settling": settling, "settled": settled}


def compare(size: int, state: Path, code: str, profile: Path | None, label: str) -> dict:
    """A no-change run and a 1%-edited run of the `code` tree from the settled tenant."""
    folder = state / str(size)
    snapshot = pickle.loads((folder / "emulators.pickle").read_bytes())
    phases = {}
    with (
        tempfile.TemporaryDirectory(prefix="scaling_compare_") as tmp,
        serving({}, rate_limits=False) as emus,
    ):
        for server in emus.servers:
            server.emulator.restore(snapshot[server.emulator.system])
        home = Path(tmp) / "home"
        shutil.copytree(folder / "home", home)
        for out in home.glob("sync-*.out"):
            out.unlink()
        env = sync_env(emus, str(home), paced=False)
        if code:
            env["PYTHONPATH"] = code

        def run(phase: str) -> dict:
            prof = None
            if profile is not None:
                prof = (
                    profile / f"{label}-{phase.replace(' ', '-').replace('%', 'pct')}-{size}.prof"
                )
            return run_sync_process(emus, env, str(home), TENANT, timeout=RUN_TIMEOUT, profile=prof)

        phases["no change"] = run("no change")
        store = TenantStore(tenant_path(TENANT, home), read_only=True)
        edited = edit_one_percent(emus, store, size, round_no=7)
        phases["1% edited"] = {**run("1% edited"), "edited_records": edited}
    return phases


def table(results: dict[str, dict[int, dict]]) -> Table:
    out = Table(title="talk-assets sync from one settled tenant per size, per code tree")
    for head in ("code", "N", "phase", "wall s", "x 1k", "peak RSS MB", "x 1k ", "write req"):
        out.add_column(head, justify="left" if head in ("code", "phase") else "right")
    for label, sizes in results.items():
        base = sizes.get(1000, {})
        for size, phases in sizes.items():
            for phase in PHASES:
                p, ref = phases[phase], base.get(phase)
                out.add_row(
                    label,
                    f"{size:,}",
                    phase,
                    f"{p['seconds']:.1f}",
                    f"{p['seconds'] / ref['seconds']:.2f}" if ref else "-",
                    f"{p['peak_rss_mb']:,.0f}",
                    f"{p['peak_rss_mb'] / ref['peak_rss_mb']:.2f}" if ref else "-",
                    f"{p['write_requests']:,}",
                )
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=("build", "compare"))
    parser.add_argument("--sizes", type=size_list, default="1000,10000,30000")
    parser.add_argument("--state", type=Path, default=STATE)
    parser.add_argument(
        "--code", action="append", default=[], help="label=folder (empty: installed)"
    )
    parser.add_argument("--profile", type=Path)
    args = parser.parse_args()
    sizes = args.sizes
    if args.command == "build":
        for size in sizes:
            print(build(size, args.state), flush=True)
        return 0
    trees = dict(c.split("=", 1) for c in args.code) or {"installed": ""}
    if args.profile:
        args.profile.mkdir(parents=True, exist_ok=True)
    results: dict[str, dict[int, dict]] = {label: {} for label in trees}
    for size in sizes:
        for label, code in trees.items():  # in turns: the same load for every tree
            results[label][size] = compare(size, args.state, code, args.profile, label)
            print(label, size, results[label][size], flush=True)
    Console(width=140).print(table(results))
    write_report(
        "scaling_compare",
        settings={
            "sizes": sizes,
            "code": trees,
            "sync": "python -m talk_assets.cli sync --allow-mass-write, a fresh process per run",
            "state": "one settled tenant per size, restored for every run",
        },
        results={label: {str(s): p for s, p in r.items()} for label, r in results.items()},
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
