"""The whole `talk-assets sync` as a separate process: cost in proportion to change.

This script serves both emulators on 127.0.0.1 (sample data generated once per size, cached
as JSON in the temp folder) and runs every sync as `python -m talk_assets.cli sync` in a fresh
child process, `TALK_ASSETS_HOME` in a temp folder, one tenant per size. For each size N
(records per datatype), rate limits off and the clients' pace off
(`<SYSTEM>_REQUESTS_PER_SECOND=0`):

- initial load: the first sync on a fresh tenant, then settling runs until one sends no write
  request (at most MAX_SETTLE); up to 10k records, two more initial loads on fresh tenants
  and emulators, the median reported;
- then REPEATS rounds (the medians reported), each of: a no-change run of the 1k reference
  tenant; no change: one more sync; 1% edited: 1% of PowerOffice employees and 1% of the
  Crmoffice contacts linked to PowerOffice customers edited through the APIs (new values each
  round), then one sync; `echo of the edit`: the sync after it, which reads back that run's
  own writes and writes nothing. Interleaved, so that a phase and the runs it is compared with
  are measured in the same minutes: this machine's speed drifts by up to 2x within minutes.

Columns: wall time of the child process, its CPU time (user + system: a run whose CPU time is
near its wall time is bound by its own CPU), write requests (the emulators' running totals, read
in process), write requests per second, the floor (per system sequential keep-alive raw POSTs,
and raw PATCHes of existing records for the run's updates, measured before the runs on
separate emulators and after them on the same ones, the faster counting: the machine's speed
drifts);
`x floor` = wall time / the time those requests take at the floor; `writing x floor` = the
writing phase alone (first to last sample in which writes moved) over that time), the child's
own peak RSS (VmHWM sampled, `sync_process.PeakRss`; os.wait4's ru_maxrss
includes this process's RSS at the fork), each size's wall time over the 1k size's (`x 1k`),
and the repeated phases' wall time over the 1k reference tenant's no-change runs taken in
between them (`x 1k ref`: a settled 1k tenant on emulators of its own, kept for the whole
benchmark).

Then under real rate limits (`--limited-size`, default 200): emulators enforcing their limits,
the clients at their default pace, one initial load; per system the write requests per second
it achieved while writing, against its limit, and the 429 answers (the emulators' refusals).

Bounded: the rate-limited run goes first; then sizes in order, a size skipped when its estimate
(the last size's time scaled by records) does not fit in what is left of `--cap` seconds.
`--profile DIR` runs, at the largest size, one more no-change sync and one more 1%-edited
sync (after a second edit) under cProfile: `DIR/no-change-<N>.prof`, `DIR/1pct-edited-<N>.prof`.

    uv run python benchmarks/process_benchmark.py [--sizes 1000,10000,100000] [--cap 3600]

Prints tables, issue 10's targets checked against this run (`targets.py`), and writes
benchmarks/results/process_benchmark.json.
"""

from __future__ import annotations

import argparse
import contextlib
import pstats
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from harness import (
    edit_one_percent,
    fastest,
    floor_seconds,
    raw_update_floor,
    raw_write_floor,
    settle,
    size_list,
    sizes_within_cap,
)
from report import write_report
from rich.console import Console
from rich.table import Table
from sync_process import (
    RequestSampler,
    emulator_of,
    run_sync_process,
    sample_data,
    serving,
    sync_env,
)
from targets import issue_targets, targets_table

from talk_assets.store.tenant import TenantStore, tenant_path
from talk_assets.systems.emulator import Emulators

MAX_SETTLE = 4
FLOOR_REQUESTS = 1000
FLOOR_SECONDS = 5.0
SAMPLE_INTERVAL = 0.1
"""Seconds between samples of the emulators' request counts (the writing window's grain)."""
RUN_TIMEOUT = 3600.0
PHASES = ("initial load", "settling", "no change", "1% edited", "echo of the edit")
REPEATS = 3
"""Runs of each repeated phase (no change; 1% edited, each on a new edit, and the run after
it): the median is reported, single runs on a shared machine vary by a second."""
INITIAL_REPEATS = 3
"""Initial loads at a size up to `REPEAT_INITIAL_UP_TO` (each on a fresh tenant and fresh
emulators): the median is reported. A single load at 1k takes under 10 s, of which a few
tenths either way is the machine's drift; one sample said little about the floor target."""
REPEAT_INITIAL_UP_TO = 10_000
"""Records per datatype up to which the initial load is repeated (about a minute each at
10k; at 100k one takes minutes and its own noise is small beside it)."""
REFERENCE_SIZE = 1000
"""Records per datatype of the reference tenant (`reference_tenant`)."""


PROFILES = {"no change": "no-change-{size}.prof", "1% edited": "1pct-edited-{size}.prof"}


def median_run(runs: list[dict]) -> dict:
    """The run with the median wall time, with every run's time beside it."""
    ordered = sorted(runs, key=lambda r: r["seconds"])
    return {
        **ordered[len(ordered) // 2],
        "runs": len(runs),
        "runs_seconds": [r["seconds"] for r in runs],
    }


def bench_size(size: int, reference: Callable[[], dict], profile: Path | None = None) -> dict:
    """All phases at one size on one pair of emulators and one fresh tenant; with `profile`
    (a folder), one more no-change and one more 1%-edited run under cProfile, not counted.
    `reference()`: a no-change run of the settled 1k reference tenant, run before each round
    of this size's repeated phases (`reference_tenant`)."""
    started = time.perf_counter()
    floors_before = fresh_floors()
    data, sample = sample_data(1, size)
    tenant = f"bench{size}"
    phases: dict[str, dict] = {}
    with (
        tempfile.TemporaryDirectory(prefix="process_benchmark_") as home,
        serving(data, rate_limits=False) as emus,
    ):
        env = sync_env(emus, home, paced=False)

        def run(profile_to: Path | None = None) -> dict:
            return sampled_run(emus, env, home, tenant, profile=profile_to)

        first_load, settling, settled = settle(run, MAX_SETTLE)
        repeats = INITIAL_REPEATS - 1 if size <= REPEAT_INITIAL_UP_TO else 0
        loads = [first_load, *(initial_load(data) for _ in range(repeats))]
        phases["initial load"] = median_run(loads) if len(loads) > 1 else first_load
        if settling:
            phases["settling"] = settling
        if settled:
            store = TenantStore(tenant_path(tenant, Path(home)), read_only=True)
            unchanged, edited_runs, echo_runs, references = [], [], [], []
            for round_no in range(REPEATS):  # interleaved: the machine's speed drifts
                references.append(reference())
                unchanged.append(run())
                edited = edit_one_percent(emus, store, size, round_no)
                edited_runs.append({**run(), "edited_records": edited})
                echo_runs.append(run())  # reads back the edited run's own writes
            phases["no change"] = median_run(unchanged)
            phases["1% edited"] = median_run(edited_runs)
            phases["echo of the edit"] = median_run(echo_runs)
            reference_seconds = median_run(references)["seconds"]
            for name in ("no change", "1% edited", "echo of the edit"):
                phases[name]["reference_1k_seconds"] = reference_seconds
                phases[name]["vs_reference_1k"] = round(
                    phases[name]["seconds"] / reference_seconds, 2
                )
            if profile is not None:
                run(profile / PROFILES["no change"].format(size=size))
                edit_one_percent(emus, store, size, round_no=REPEATS)
                run(profile / PROFILES["1% edited"].format(size=size))
        floors_after = floors(emus)
    floor = fastest(floors_before[0], floors_after[0])
    update_floor = fastest(floors_before[1], floors_after[1])
    for phase in phases.values():
        at_floor = floor_seconds(
            phase.get("write_requests_by_system", {}),
            floor,
            phase.get("update_requests_by_system", {}),
            update_floor,
        )
        phase["floor_seconds"] = round(at_floor, 3)
        phase["ratio_to_floor"] = round(phase["seconds"] / at_floor, 1) if at_floor else None
        writing = phase.get("writing_seconds")
        phase["writing_ratio_to_floor"] = (
            round(writing / at_floor, 2) if writing and at_floor else None
        )
    return {
        "size": size,
        "settled": settled,
        "sample_data": sample,
        "phases": phases,
        "raw_write_floor": floor,
        "raw_update_floor": update_floor,
        "floor_measurements": {
            "before": {"write": floors_before[0], "update": floors_before[1]},
            "after": {"write": floors_after[0], "update": floors_after[1]},
        },
        "total_seconds": round(time.perf_counter() - started, 1),
    }


def initial_load(data: dict) -> dict:
    """One more initial load of `data`: a fresh tenant on fresh emulators (the first load's
    emulators hold its inserts), measured like every run."""
    with (
        tempfile.TemporaryDirectory(prefix="process_benchmark_load_") as home,
        serving(data, rate_limits=False) as emus,
    ):
        return sampled_run(emus, sync_env(emus, home, paced=False), home, "load")


def sampled_run(
    emus: Emulators, env: dict[str, str], home: str, tenant: str, profile: Path | None = None
) -> dict:
    """One sync process (`run_sync_process`) with the emulators' request counts sampled while
    it runs: its writing phase and the seconds before its first write and after its last."""
    with RequestSampler(emus, interval=SAMPLE_INTERVAL) as sampler:
        result = run_sync_process(emus, env, home, tenant, timeout=RUN_TIMEOUT, profile=profile)
    return {**result, "writing_seconds": sampler.writing_seconds(), **sampler.around_writes()}


@contextlib.contextmanager
def reference_tenant(size: int = REFERENCE_SIZE) -> Iterator[Callable[[], dict]]:
    """A settled tenant of `size` records per datatype on emulators of its own, kept for the
    whole benchmark: its no-change run, taken beside each size's repeated runs, is what their
    ratio to 1k is measured against. This machine's speed drifts by up to 2x within minutes,
    so a 1k run measured at the start says little about a 100k run measured 15 minutes later."""
    data, _ = sample_data(1, size)
    with (
        tempfile.TemporaryDirectory(prefix="process_benchmark_ref_") as home,
        serving(data, rate_limits=False) as emus,
    ):
        env = sync_env(emus, home, paced=False)

        def run() -> dict:
            return run_sync_process(emus, env, home, "reference", timeout=RUN_TIMEOUT)

        _, _, settled = settle(run, MAX_SETTLE)
        if not settled:
            raise RuntimeError(f"the {size} reference tenant did not settle")
        yield run


def fresh_floors() -> tuple[dict, dict]:
    """The raw write and update floors measured before a size's runs, on a separate pair of
    emulators holding the 1k sample (the size's own emulators must not change before its
    initial load): with those measured after the runs, the faster counts (`harness.fastest`)."""
    data, _ = sample_data(1, 1000)
    with serving(data, rate_limits=False) as emus:
        return floors(emus)


def floors(emus: Emulators) -> tuple[dict, dict]:
    """The raw write (POST) and update (PATCH) floors of these emulators."""
    return (
        raw_write_floor(emus, FLOOR_REQUESTS, FLOOR_SECONDS),
        raw_update_floor(emus, FLOOR_REQUESTS, FLOOR_SECONDS),
    )


def bench_rate_limited(size: int) -> dict:
    """One initial load at `size` with the emulators' rate limits on, the clients at their
    default pace: per system the write rate achieved while writing, and the 429s."""
    data, _ = sample_data(1, size)
    with (
        tempfile.TemporaryDirectory(prefix="process_benchmark_") as home,
        serving(data, rate_limits=True) as emus,
    ):
        env = sync_env(emus, home, paced=True)
        with RequestSampler(emus) as sampler:
            run = run_sync_process(emus, env, home, "limited", timeout=RUN_TIMEOUT)
        systems = {}
        for handle in emus:
            emulator = emulator_of(emus, handle.system)
            systems[handle.system] = {
                "limit_requests_per_second": emulator.rate_limit,
                "answers_429": emulator.limiter.refused,
                "write_window": sampler.write_window(handle.system),
            }
        windows = [s["write_window"] for s in systems.values()]
        start = max(w.get("start", 0.0) for w in windows)
        end = min(w.get("end", 0.0) for w in windows)
        both = {"seconds": round(max(end - start, 0.0), 2)}
        for handle in emus:  # while every system was writing: each one's rate
            both[handle.system] = sampler.rates_between(handle.system, start, end)
    for s in systems.values():
        for moment in ("start", "end"):
            s["write_window"].pop(moment, None)
    return {"size": size, "initial load": run, "systems": systems, "all_writing": both}


def add_ratios_to_1k(results: list[dict]) -> None:
    """Each phase's wall time, write requests and peak RSS over the 1000-record size's."""
    base = next((r for r in results if r["size"] == 1000), None)
    if base is None:
        return
    for r in results:
        for name, phase in r["phases"].items():
            ref = base["phases"].get(name)
            if ref is None:
                continue
            phase["vs_1k"] = {
                key: round(phase[key] / ref[key], 2) if ref[key] else None
                for key in ("seconds", "write_requests", "peak_rss_mb")
            }


def _around(phase: dict) -> str:
    """Seconds before the first write and after the last, as `before/after` (the `pre/post s`
    column)."""
    before, after = phase.get("before_writes_seconds"), phase.get("after_writes_seconds")
    return "-" if before is None or after is None else f"{before:.2f}/{after:.2f}"


def size_table(results: list[dict], skipped: list[dict]) -> Table:
    table = Table(title="talk-assets sync as a process (rate limits off)")
    for head in (
        "N",
        "phase",
        "runs",
        "wall s",
        "cpu s",
        "x 1k",
        "x 1k ref",
        "write req",
        "req/s",
        "floor req/s",
        "x floor",
        "writing s",
        "pre/post s",
        "writing x floor",
        "peak RSS MB",
    ):
        table.add_column(
            head,
            justify="left" if head == "phase" else "right",
            no_wrap=head == "pre/post s",  # `before/after` seconds: one value, never cut
        )
    for r in results:
        for name in PHASES:
            p = r["phases"].get(name)
            if p is None:
                continue
            at_floor = p["floor_seconds"]
            table.add_row(
                f"{r['size']:,}",
                name,
                str(p.get("runs", 1)),
                f"{p['seconds']:.1f}",
                _num(p.get("cpu_seconds")),
                _num(p.get("vs_1k", {}).get("seconds")),
                _num(p.get("vs_reference_1k")),
                f"{p['write_requests']:,}",
                f"{p['write_requests_per_second']:,.0f}",
                f"{p['write_requests'] / at_floor:,.0f}" if at_floor else "-",
                _num(p["ratio_to_floor"]),
                _num(p.get("writing_seconds")),
                _around(p),
                _num(p.get("writing_ratio_to_floor")),
                f"{p['peak_rss_mb']:,.0f}",
            )
        if not r["settled"]:
            table.add_row(f"{r['size']:,}", f"not settled after {MAX_SETTLE} runs", *[""] * 12)
    for s in skipped:
        why = f"skipped: estimate {s['estimate_seconds']} s, {s['left']} s left of the cap"
        table.add_row(f"{s['size']:,}", why, *[""] * 12)
    return table


def limited_table(limited: dict) -> Table:
    run = limited["initial load"]
    table = Table(
        title=f"initial load at N = {limited['size']} under real rate limits "
        f"(wall {run['seconds']:.1f} s, peak RSS {run['peak_rss_mb']:.0f} MB)"
    )
    both = limited.get("all_writing", {})
    heads = ("system", "write req", "write s", "write req/s", "all req/s", "limit", "429s")
    for head in (*heads, f"req/s while all wrote ({both.get('seconds', 0):g} s)", "% of limit"):
        table.add_column(head, justify="left" if head == "system" else "right")
    for system, s in limited["systems"].items():
        w = s["write_window"]
        overlap = both.get(system, {}).get("requests_per_second")
        limit = s["limit_requests_per_second"]
        table.add_row(
            system,
            f"{w['write_requests']:,}",
            f"{w['seconds']:.1f}",
            _num(w.get("write_requests_per_second")),
            _num(w.get("requests_per_second")),
            str(limit),
            str(s["answers_429"]),
            _num(overlap),
            f"{100 * overlap / limit:.0f}%" if overlap and limit else "-",
        )
    return table


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:g}"


def top_cumulative(profile: Path, count: int = 25) -> list[str]:
    """The profile's top entries by cumulative time, as pstats prints them."""
    import io

    out = io.StringIO()
    pstats.Stats(str(profile), stream=out).sort_stats("cumulative").print_stats(count)
    return out.getvalue().splitlines()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sizes", type=size_list, default="1000,10000,100000", help="records per datatype"
    )
    parser.add_argument("--cap", type=float, default=3600.0, help="total seconds, at most")
    parser.add_argument(
        "--limited-size", type=int, default=200, help="N under real rate limits; 0: skip"
    )
    parser.add_argument(
        "--profile", type=Path, help="folder: cProfile a no-change and a 1%%-edited run there"
    )
    args = parser.parse_args()
    sizes = args.sizes
    started = time.perf_counter()
    limited = None
    if args.limited_size > 0:
        print(f"rate-limited initial load at {args.limited_size}: running", flush=True)
        limited = bench_rate_limited(args.limited_size)
    largest = max(sizes) if sizes else 0
    if args.profile:
        args.profile.mkdir(parents=True, exist_ok=True)

    with reference_tenant() as reference:

        def bench(size: int) -> dict:
            return bench_size(size, reference, args.profile if size == largest else None)

        results, skipped = sizes_within_cap(
            sizes, args.cap, bench, spent=time.perf_counter() - started
        )
    profiled = next((r["size"] for r in results if r["size"] == largest), None)
    add_ratios_to_1k(results)
    console = Console(width=140)
    console.print(size_table(results, skipped))
    for r in results:
        posts, patches = (
            ", ".join(f"{s} {f['per_second']:,.0f}/s" for s, f in r[key].items())
            for key in ("raw_write_floor", "raw_update_floor")
        )
        sample = r["sample_data"]
        console.print(
            f"N {r['size']:,}: raw POST floor {posts}; raw PATCH floor {patches}; "
            f"sample data {sample['source']} in "
            f"{sample['seconds']} s; {r['total_seconds']} s in all"
        )
    if limited:
        console.print(limited_table(limited))
    targets = issue_targets(results, limited)
    console.print(targets_table(targets))
    profile_top = {}
    if args.profile and profiled is not None:
        for phase, name in PROFILES.items():
            path = args.profile / name.format(size=profiled)
            profile_top[phase] = top_cumulative(path)
            console.print(f"cProfile of a {phase} run at {profiled:,} ({path}):")
            console.print("\n".join(profile_top[phase]), markup=False, highlight=False)
    write_report(
        "process_benchmark",
        settings={
            "sizes": sizes,
            "cap_seconds": args.cap,
            "sync": "python -m talk_assets.cli sync --allow-mass-write, a fresh process per run",
            "emulators": "served by the benchmark process (uvicorn threads), seed 1",
            "emulator_rate_limits": False,
            "client_requests_per_second": 0,
            "floor": "per system sequential raw POSTs (creates) and raw PATCHes (updates of "
            "existing records), one keep-alive httpx client, "
            f"at most {FLOOR_REQUESTS} or {FLOOR_SECONDS} s each; measured before a size's "
            "runs (on separate emulators holding the 1k sample) and after them (on the size's "
            "emulators), the faster per system counts",
            "max_settle_runs": MAX_SETTLE,
            "peak_rss": "VmHWM of the sync child after its exec, sampled every 20 ms",
        },
        columns={
            "seconds": "wall time of the sync process, start to exit (the median run's for "
            f"the phases run {REPEATS} times)",
            "runs_seconds": "every run's wall time, for the phases run more than once",
            "cpu_seconds": "user + system CPU time of the sync process (os.wait4): above the "
            "wall time where DuckDB and polars use both cores; near it, the run is bound by "
            "its own CPU (one core for Python under the GIL; the emulators use the other)",
            "write_requests": "POST/PATCH/PUT/DELETE the emulators served during the run",
            "floor_seconds": "the run's write requests at each system's raw rate: its PATCHes "
            "at the PATCH rate, the others at the POST rate",
            "ratio_to_floor": "seconds / floor_seconds",
            "writing_seconds": "from the first to the last request-count sample in which any "
            f"system's writes moved (samples every {SAMPLE_INTERVAL} s): the run's writing phase",
            "before_writes_seconds": "from the run's start to the first sample in which writes "
            "moved: start-up, reads and planning before the first write",
            "after_writes_seconds": "from the last sample in which writes moved to the run's "
            "end: the last commits, the sinks' end and the process's exit",
            "writing_ratio_to_floor": "writing_seconds / floor_seconds: the writes' own pace, "
            "without the process's fixed start-up, read and plan time",
            "vs_1k": "this size's value over the 1000-record size's, same phase",
            "vs_reference_1k": "seconds over the median no-change run of a settled 1k "
            "reference tenant, run before each round of this size's repeated phases (the "
            "same minutes: the machine's speed drifts)",
        },
        results=results,
        skipped=skipped,
        rate_limited=limited,
        targets=targets,
        profile={"size": profiled, "top_cumulative": profile_top} if profile_top else None,
        total_seconds=round(time.perf_counter() - started, 1),
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
