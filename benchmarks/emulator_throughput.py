"""Emulator throughput on loopback: list pages and single writes per second, per system.

Runs both emulators in-process with rate limits off, one keep-alive httpx client per system,
sequential requests (what one connector does). Every loop is bounded by a count and a time cap.

    uv run python benchmarks/emulator_throughput.py [--size 500] [--requests 300] [--cap 10]

Prints a table and writes benchmarks/results/emulator_throughput.json.
"""

from __future__ import annotations

import argparse
import sys

from harness import measure
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=500, help="sample records per datatype")
    parser.add_argument("--requests", type=int, default=300, help="requests per measurement")
    parser.add_argument("--cap", type=float, default=10.0, help="seconds per measurement, at most")
    args = parser.parse_args()
    results = run(args.size, args.requests, args.cap)
    print(f"{'system':<15}{'operation':<12}{'requests':>9}{'seconds':>9}{'per second':>12}")
    for system, ops in results.items():
        for op, r in ops.items():
            print(f"{system:<15}{op:<12}{r['requests']:>9}{r['seconds']:>9}{r['per_second']:>12}")
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
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
