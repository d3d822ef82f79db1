"""Emulator throughput on loopback: list pages and single writes per second, per system.

Runs both emulators in-process with rate limits off, one keep-alive httpx client per system,
sequential requests (what one connector does). Every loop is bounded by a count and a time cap.
The `data_file` section: writes per second at `--stored-sizes` records per datatype, with a
`--data-file` (every acknowledged write on disk) side by side with none.

    uv run python benchmarks/emulator_throughput.py [--size 500] [--requests 300] [--cap 10]
        [--stored-sizes 1000 10000]

Prints a table and writes benchmarks/results/emulator_throughput.json.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from harness import measure, raw_write_floor
from report import write_report

from talk_assets.systems.emulator import running_emulators

PAGE = 100


def run(size: int, count: int, cap: float) -> dict:
    results: dict[str, dict[str, dict[str, float]]] = {}
    with running_emulators(seed=1, size=size, rate_limits=False) as emus:
        with emus.powerofficego.client() as api:
            pages = max(1, size // PAGE)
            results["powerofficego"] = {
                "list_page": measure(
                    lambda i: api.get(
                        "/Customers", params={"PageNumber": i % pages + 1, "PageSize": PAGE}
                    ),
                    count,
                    cap,
                ),
                "write": measure(
                    lambda i: api.post(
                        "/Customers", json={"Name": f"Bench {i} AS", "IsPerson": False}
                    ),
                    count,
                    cap,
                ),
            }
        with emus.crmoffice.client() as api:
            results["crmoffice"] = {
                "list_page": measure(
                    lambda i: api.get("/contacts", params={"limit": PAGE}), count, cap
                ),
                "write": measure(
                    lambda i: api.post("/contacts", json={"givenName": f"Bench {i}"}), count, cap
                ),
            }
    return results


def stored_writes(sizes: list[int], count: int, cap: float) -> dict[str, dict[str, float]]:
    """Per size and system, raw POSTs per second without and with a data file."""
    rows: dict[str, dict[str, float]] = {}
    for size in sizes:
        for stored in (False, True):
            with tempfile.TemporaryDirectory() as tmp:
                data_file = str(Path(tmp) / "emulators.json") if stored else None
                with running_emulators(
                    seed=1, size=size, rate_limits=False, data_file=data_file
                ) as emus:
                    for system, r in raw_write_floor(emus, count, cap).items():
                        key = f"{system} {size}"
                        rows.setdefault(key, {})["file" if stored else "memory"] = r["per_second"]
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=500, help="sample records per datatype")
    parser.add_argument("--requests", type=int, default=300, help="requests per measurement")
    parser.add_argument("--cap", type=float, default=10.0, help="seconds per measurement, at most")
    parser.add_argument(
        "--stored-sizes", type=int, nargs="*", default=[1000, 10000], help="records per datatype"
    )
    args = parser.parse_args()
    results = run(args.size, args.requests, args.cap)
    print(f"{'system':<15}{'operation':<12}{'requests':>9}{'seconds':>9}{'per second':>12}")
    for system, ops in results.items():
        for op, r in ops.items():
            print(f"{system:<15}{op:<12}{r['requests']:>9}{r['seconds']:>9}{r['per_second']:>12}")
    stored = stored_writes(args.stored_sizes, args.requests, args.cap)
    print(f"\n{'writes/s at size':<22}{'no data file':>14}{'data file':>11}")
    for key, row in stored.items():
        print(f"{key:<22}{row['memory']:>14}{row['file']:>11}")
    write_report(
        "emulator_throughput",
        settings={
            "size": args.size,
            "requests": args.requests,
            "cap_seconds": args.cap,
            "page_size": PAGE,
            "rate_limits": False,
            "client": "one keep-alive httpx.Client per system, sequential requests",
        },
        results=results,
        data_file={"sizes": args.stored_sizes, "writes_per_second": stored},
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
