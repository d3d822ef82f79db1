"""The whole asset graph end to end against the emulators: how long a sync takes and how close
its writes come to the emulator's own floor.

For each size (sample records per datatype) both emulators start in-process with rate limits
off, the resources' client-side limiters are off too (`requests_per_second=0`), and the `sync`
job runs in-process (`run_sync`, ephemeral Dagster instance, fresh tenant state):

- initial load: the first run (everything is inserted), then settling runs until one writes
  nothing (values reach records created the run before; at most MAX_SETTLE runs);
- steady state: a run with no change anywhere (must send no write request);
- 1% edited: 1% of PowerOffice employees (PhoneNumber) and 1% of the Crmoffice contacts linked
  to PowerOffice customers (givenName) edited through the APIs, then one run.

The floor: after the runs, the same emulators take sequential raw POSTs (one keep-alive httpx
client, Crmoffice /contacts) for a bounded count; `floor s` is the time those would take for
the number of write requests the run sent, and `ratio` is run seconds / floor seconds.

Bounded: sizes in order, a size is skipped when its estimate (the last size's time scaled by
records) does not fit in what is left of the total cap.

    uv run python benchmarks/sync_benchmark.py [--sizes 100,1000,5000] [--cap 480]

Prints a table and writes benchmarks/results/sync_benchmark.json.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

from harness import edit_one_percent, raw_write_floor, settle, size_list, sizes_within_cap
from report import write_report

MAX_SETTLE = 4
FLOOR_REQUESTS = 2000
FLOOR_SECONDS = 10.0


def timed_sync(settings, instance, resources, emus) -> dict:
    from talk_assets.defs.runner import run_sync

    before = emus.write_requests()
    started = time.perf_counter()
    rep = run_sync(settings, instance=instance, resources=resources)
    seconds = time.perf_counter() - started
    if not rep.success:
        raise RuntimeError(f"sync failed: {rep.error}")
    requests = emus.write_requests() - before
    return {
        "seconds": round(seconds, 2),
        "writes": rep.writes,
        "write_requests": requests,
        "read": sum(rep.read.values()),
        "write_requests_per_second": round(requests / seconds, 1) if seconds else 0.0,
    }


def bench_size(size: int) -> dict:
    from dagster import DagsterInstance

    from talk_assets.defs.settings import SyncSettings
    from talk_assets.systems.crmoffice.resource import CrmofficeResource
    from talk_assets.systems.emulator import running_emulators
    from talk_assets.systems.powerofficego.resource import PowerOfficeGoResource

    started = time.perf_counter()
    with (
        tempfile.TemporaryDirectory(prefix="sync_benchmark_") as home,
        running_emulators(seed=1, size=size, rate_limits=False) as emus,
    ):
        os.environ.update(emus.env)
        os.environ["TALK_ASSETS_HOME"] = home
        os.environ["DAGSTER_HOME"] = str(Path(home) / "dagster")
        settings = SyncSettings(tenant=f"bench{size}", home=home, allow_mass_write=True)
        resources = {
            "powerofficego": PowerOfficeGoResource.from_env(requests_per_second=0),
            "crmoffice": CrmofficeResource.from_env(requests_per_second=0),
        }
        with DagsterInstance.ephemeral() as instance:
            phases: dict[str, dict] = {}
            phases["initial load"], settling, settled = settle(
                lambda: timed_sync(settings, instance, resources, emus), MAX_SETTLE, "writes"
            )
            if settling:
                phases["settling"] = settling
            if not settled:
                raise RuntimeError(f"size {size}: no steady state after {MAX_SETTLE} runs")
            phases["steady state"] = timed_sync(settings, instance, resources, emus)
            edited = edit_one_percent(emus, settings.store(), size)
            phases["1% edited"] = timed_sync(settings, instance, resources, emus)
            phases["1% edited"]["edited_records"] = edited
            floor = raw_write_floor(emus, FLOOR_REQUESTS, FLOOR_SECONDS, ("crmoffice",))
            floor = floor["crmoffice"]
    for phase in phases.values():
        floor_seconds = phase["write_requests"] / floor["per_second"]
        phase["floor_seconds"] = round(floor_seconds, 3)
        phase["ratio_to_floor"] = (
            round(phase["seconds"] / floor_seconds, 1) if phase["write_requests"] else None
        )
    return {
        "size": size,
        "phases": phases,
        "raw_post_floor": floor,
        "total_seconds": round(time.perf_counter() - started, 1),
    }


def print_table(results: list[dict]) -> None:
    head = (
        f"{'records':>8}  {'phase':<13}{'runs':>5}{'seconds':>9}{'writes':>8}{'requests':>9}"
        f"{'req/s':>8}{'floor s':>9}{'ratio':>7}"
    )
    print(head)
    print("-" * len(head))
    for r in results:
        for name, p in r["phases"].items():
            ratio = "-" if p["ratio_to_floor"] is None else f"{p['ratio_to_floor']}"
            print(
                f"{r['size']:>8}  {name:<13}{p.get('runs', 1):>5}{p['seconds']:>9}"
                f"{p['writes']:>8}{p['write_requests']:>9}{p['write_requests_per_second']:>8}"
                f"{p['floor_seconds']:>9}{ratio:>7}"
            )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sizes", type=size_list, default="100,1000,5000", help="records per datatype"
    )
    parser.add_argument("--cap", type=float, default=480.0, help="total seconds, at most")
    args = parser.parse_args()
    sizes = args.sizes
    from talk_assets.commands.environment import load_environment

    load_environment()
    started = time.perf_counter()
    results, skipped = sizes_within_cap(sizes, args.cap, bench_size)
    print_table(results)
    for r in results:
        f = r["raw_post_floor"]
        print(f"size {r['size']}: raw POST floor {f['per_second']}/s ({f['requests']} POSTs)")
    write_report(
        "sync_benchmark",
        settings={
            "sizes": sizes,
            "cap_seconds": args.cap,
            "emulator_rate_limits": False,
            "client_requests_per_second": 0,
            "executor": "in-process (run_sync), ephemeral Dagster instance",
            "emulators": "in the same process (threads), seed 1",
            "floor": "sequential raw POSTs to Crmoffice /contacts, one keep-alive client",
            "max_settle_runs": MAX_SETTLE,
        },
        columns={
            "writes": "records written, counted as Sesam Talk counts updates (RunReport.writes)",
            "write_requests": "POST/PATCH requests the emulators served during the run",
            "floor_seconds": "write_requests / raw POST rate of the same emulators",
            "ratio_to_floor": "run seconds / floor seconds",
        },
        results=results,
        skipped=skipped,
        total_seconds=round(time.perf_counter() - started, 1),
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
