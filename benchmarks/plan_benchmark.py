"""Planning speed: Customers person -> Crmoffice Contacts at 10k, 100k and 1M records per side.

Every record is linked (insert links) and has last synced values; 1% of the customers changed
one property since. The floor is a bare polars join of the same frames (sources -> links ->
targets -> synced values), what any three-way comparison must at least do. Floor and plan run
alternately on the same frames, after a garbage collection, and the best of each is kept, so
background load on the shared machine hits both alike; compare the ratio, not the seconds.

Bounded time: repeats of a size stop once `--budget` seconds are spent on it (at least one
run each), and the whole run aborts after `--timeout` seconds.

    uv run python benchmarks/plan_benchmark.py [--sizes 10000,100000,1000000]
"""

from __future__ import annotations

import argparse
import gc
import json
import platform
import resource
import signal
import sys
import time
from pathlib import Path

import polars as pl
from harness import size_list

from talk_assets.engine import SyncState, make_plan
from talk_assets.engine.lazy import ENGINE
from talk_assets.flows.spec import committed_flows
from talk_assets.systems import resolve_flow

RESULTS = Path(__file__).parent / "results" / "plan_benchmark.json"
FLOW = resolve_flow(committed_flows()[0])  # Powerofficego Customers person -> Crmoffice Contacts


def build(n: int) -> tuple[dict[str, pl.DataFrame], SyncState]:
    src, tgt = FLOW.source, FLOW.target
    ids = pl.int_range(1, n + 1, eager=True)
    first = "First" + ids.cast(pl.String)
    last = "Last" + ids.cast(pl.String)
    phone = "+47" + (ids + 40_000_000).cast(pl.String)
    changed = (ids % 100) == 0
    customers = pl.DataFrame(
        {
            "Id": ids,
            "LastChangedDateTimeOffset": pl.Series(["2024-05-01T00:00:00+00:00"] * n),
            "IsPerson": pl.Series([True] * n),
            "FirstName": pl.select(pl.when(changed).then(first + "x").otherwise(first)).to_series(),
            "LastName": last,
            "PhoneNumber": phone,
        }
    )
    customers = customers.select(
        [
            (pl.col(c) if c in customers.columns else pl.lit(None)).cast(t).alias(c)
            for c, t in src.polars_schema().items()
        ]
    )
    contacts = pl.DataFrame(
        {
            "id": "c" + ids.cast(pl.String),
            "updatedAt": pl.Series(["2024-04-01T00:00:00+00:00"] * n),
            "givenName": first,
            "familyName": last,
            "directPhone": phone,
        }
    ).select(
        [
            (
                pl.col(c)
                if c in ("id", "updatedAt", "givenName", "familyName", "directPhone")
                else pl.lit(None)
            )
            .cast(t)
            .alias(c)
            for c, t in tgt.polars_schema().items()
        ]
    )
    skey = "powerofficego.customers:" + ids.cast(pl.String)
    tkey = "crmoffice.contacts:c" + ids.cast(pl.String)
    name = FLOW.flow.name
    links = pl.DataFrame({"source": skey, "target": tkey}).with_columns(
        origin=pl.lit("insert"), flow=pl.lit(name)
    )
    synced = pl.concat(
        [
            pl.DataFrame({"source": skey, "target": tkey, "value": vals}).with_columns(
                flow=pl.lit(name), property=pl.lit(prop)
            )
            for prop, vals in (("givenName", first), ("familyName", last), ("directPhone", phone))
        ]
    ).select("flow", "source", "target", "property", "value")
    inserted = links.select("flow", "source", "target")
    state = SyncState.from_frames({"links": links, "synced": synced, "inserted": inserted})
    return {src.key: customers, tgt.key: contacts}, state


def floor(records: dict[str, pl.DataFrame], state: SyncState) -> float:
    """A bare join of the same frames: sources -> links -> targets -> synced values.

    Collected with the engine's polars engine (in memory: faster here than the streaming
    default, so the floor is the stricter of the two)."""
    t0 = time.perf_counter()
    src = records["powerofficego.customers"].with_columns(
        key=pl.concat_str([pl.lit("powerofficego.customers:"), pl.col("Id").cast(pl.String)])
    )
    tgt = records["crmoffice.contacts"].with_columns(
        key=pl.concat_str([pl.lit("crmoffice.contacts:"), pl.col("id")])
    )
    out = (
        src.lazy()
        .join(state.links.lazy(), left_on="key", right_on="source")
        .join(tgt.lazy(), left_on="target", right_on="key")
        .join(state.synced.lazy(), left_on=["key", "target"], right_on=["source", "target"])
        .collect(engine=ENGINE)
    )
    assert out.height == 3 * src.height
    return time.perf_counter() - t0


def _reset_peak() -> bool:
    """Reset the process's peak RSS (VmHWM), Linux only; False where unsupported."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def _peak_mib() -> float | None:
    try:
        status = Path("/proc/self/status").read_text()
    except OSError:
        return None
    kb = next((int(ln.split()[1]) for ln in status.splitlines() if ln.startswith("VmHWM")), None)
    return None if kb is None else round(kb / 1024, 1)


def measure(n: int, repeat: int, budget: float) -> dict:
    records, state = build(n)
    floors, plans, plan_peaks = [], [], []
    start = time.perf_counter()
    for _ in range(repeat):
        gc.collect()
        floors.append(floor(records, state))
        gc.collect()
        reset = _reset_peak()
        t0 = time.perf_counter()
        plan = make_plan(records, [FLOW], state)
        plans.append(time.perf_counter() - t0)
        plan_peaks.append(_peak_mib() if reset else None)
        if time.perf_counter() - start > budget:
            break
    expected = n // 100
    assert plan.writes.height == expected, (plan.writes.height, expected)
    assert plan.inserts.is_empty()
    t_plan, t_floor = min(plans), min(floors)
    return {
        "records_per_side": n,
        "changed": expected,
        "runs": len(plans),
        "plan_seconds": round(t_plan, 3),
        "floor_seconds": round(t_floor, 3),
        "records_per_second": int(2 * n / t_plan),
        "ratio_to_floor": round(t_plan / t_floor, 2),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "plan_peak_rss_mib": max((p for p in plan_peaks if p is not None), default=None),
    }


def _timeout(signum: int, frame: object) -> None:
    raise TimeoutError("plan benchmark exceeded --timeout")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=size_list, default="10000,100000,1000000")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--budget", type=float, default=60.0, help="seconds per size for repeats")
    parser.add_argument("--timeout", type=int, default=600, help="abort the whole run after this")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGALRM, _timeout)
    signal.alarm(args.timeout)
    rows = [measure(size, args.repeat, args.budget) for size in args.sizes]
    signal.alarm(0)
    print(
        f"{'records/side':>12} {'plan s':>8} {'floor s':>8} {'rec/s':>12} "
        f"{'x floor':>8} {'peak MiB':>9} {'plan MiB':>9}"
    )
    for r in rows:
        print(
            f"{r['records_per_side']:>12,} {r['plan_seconds']:>8.3f} {r['floor_seconds']:>8.3f} "
            f"{r['records_per_second']:>12,} {r['ratio_to_floor']:>8.2f} {r['peak_rss_mib']:>9.1f} "
            f"{r['plan_peak_rss_mib'] or float('nan'):>9.1f}"
        )
    if not args.no_write:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        meta = {
            "flow": FLOW.flow.title,
            "python": sys.version.split()[0],
            "polars": pl.__version__,
            "machine": platform.machine(),
            "threads": pl.thread_pool_size(),
            "polars_engine": ENGINE,
            "note": "best of `runs`; floor and plan alternate on the same frames; peak_rss_mib is "
            "the process peak so far (sizes run in increasing order, floor included); "
            "plan_peak_rss_mib the peak RSS while planning (frames of the size included)",
        }
        RESULTS.write_text(json.dumps({"meta": meta, "results": rows}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
