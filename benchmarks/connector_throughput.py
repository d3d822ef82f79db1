"""Connector throughput against the emulators (rate limits off), beside the emulator's floor.

The floor is raw httpx against the same emulator in the same run: a keep-alive client paging
with `.json()` per page (reads), sequential POSTs (inserts; also through httpx's async stack,
which the connector runs on) and `asyncio` POSTs at the same concurrency as `write_many` (bulk).
Floor and connector run in turns, best of `--repeats` rounds each. The connector adds auth, pacing (off here), retries,
flattening to typed polars frames and recovery bookkeeping; the ratio says what that costs.
Every loop is bounded by a count and a time cap.

    uv run python benchmarks/connector_throughput.py [--size 2000] [--writes 300] [--cap 20]

Prints a table and writes benchmarks/results/connector_throughput.json.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Callable
from typing import Any

import httpx
from report import write_report

from talk_assets.systems.connector import ConnectorClient, WriteOp
from talk_assets.systems.crmoffice.client import CrmofficeClient
from talk_assets.systems.emulator import Emulators, running_emulators
from talk_assets.systems.powerofficego.client import PowerOfficeGoClient

PAGE = 1000
CONCURRENCY = 4


def timed(fn: Callable[[], int]) -> dict[str, float]:
    started = time.perf_counter()
    count = fn()
    seconds = time.perf_counter() - started
    return {"count": count, "seconds": round(seconds, 3), "per_second": round(count / seconds, 1)}


def paired(
    fns: dict[str, Callable[[], int]], repeats: int, cap: float
) -> dict[str, dict[str, float]]:
    """Each measurement's fastest of up to `repeats` rounds, run in turns (so a busy moment on
    a shared machine hits all of them), stopping early once `cap` seconds are spent."""
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in fns}
    started = time.perf_counter()
    for _ in range(repeats):
        for name, fn in fns.items():
            runs[name].append(timed(fn))
        if time.perf_counter() - started > cap:
            break
    return {name: max(r, key=lambda x: x["per_second"]) for name, r in runs.items()}


class Raw:
    """Plain httpx against one emulator: the floor."""

    def __init__(self, emu: Emulators, system: str) -> None:
        env = emu.env
        self.system = system
        if system == "powerofficego":
            sub = env["POWEROFFICEGO_SUBSCRIPTION_KEY"]
            token = httpx.post(
                env["POWEROFFICEGO_TOKEN_URL"],
                data={"grant_type": "client_credentials"},
                auth=(env["POWEROFFICEGO_APPLICATION_KEY"], env["POWEROFFICEGO_CLIENT_KEY"]),
                headers={"Ocp-Apim-Subscription-Key": sub},
            ).json()["access_token"]
            self.headers = {"Authorization": f"Bearer {token}", "Ocp-Apim-Subscription-Key": sub}
            self.base = env["POWEROFFICEGO_BASE_URL"] + "/"
        else:
            token = httpx.post(
                env["CRMOFFICE_TOKEN_URL"],
                data={
                    "grant_type": "client_credentials",
                    "client_id": env["CRMOFFICE_CLIENT_ID"],
                    "client_secret": env["CRMOFFICE_CLIENT_SECRET"],
                    "scope": "crmoffice",
                },
            ).json()["access_token"]
            self.headers = {"Authorization": f"Bearer {token}"}
            self.base = env["CRMOFFICE_BASE_URL"].rstrip("/") + "/"

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.base, headers=self.headers, timeout=30)

    def read_all(self, endpoint: str) -> int:
        count = 0
        with self.client() as http:
            if self.system == "powerofficego":
                for number in range(1, 10_000):
                    page = http.get(endpoint, params={"PageNumber": number, "PageSize": PAGE})
                    rows = page.json()
                    count += len(rows)
                    if len(rows) < PAGE:
                        break
            else:
                cursor = None
                for _ in range(10_000):
                    params: dict[str, Any] = {"limit": PAGE}
                    if cursor:
                        params["cursor"] = cursor
                    body = http.get(endpoint, params=params).json()
                    count += len(body["items"])
                    cursor = body["nextCursor"]
                    if not cursor:
                        break
        return count

    def post_sequential(self, endpoint: str, bodies: list[dict[str, Any]]) -> int:
        with self.client() as http:
            for body in bodies:
                http.post(endpoint, json=body).raise_for_status()
        return len(bodies)

    def post_async_sequential(self, endpoint: str, bodies: list[dict[str, Any]]) -> int:
        """Sequential POSTs through httpx's async stack (what the connector runs on)."""
        return self.post_concurrent(endpoint, bodies, 1)

    def post_concurrent(self, endpoint: str, bodies: list[dict[str, Any]], concurrency: int) -> int:
        async def run() -> int:
            limits = httpx.Limits(max_connections=concurrency + 2)
            async with httpx.AsyncClient(
                base_url=self.base, headers=self.headers, timeout=30, limits=limits
            ) as http:
                gate = asyncio.Semaphore(concurrency)

                async def one(body: dict[str, Any]) -> None:
                    async with gate:
                        (await http.post(endpoint, json=body)).raise_for_status()

                await asyncio.gather(*(one(b) for b in bodies))
            return len(bodies)

        return asyncio.run(run())


def bench_system(
    emu: Emulators,
    system: str,
    client: ConnectorClient,
    read: tuple[str, str],
    write: tuple[str, str, Callable[[str], dict[str, Any]]],
    writes: int,
    cap: float,
    repeats: int,
) -> dict[str, dict[str, Any]]:
    raw = Raw(emu, system)
    datatype, endpoint = read
    w_datatype, w_endpoint, make = write
    out: dict[str, dict[str, Any]] = {}
    client.read(datatype)  # token and connections warm, as in a run
    out[f"read {datatype}"] = paired(
        {
            "floor": lambda: raw.read_all(endpoint),
            "connector": lambda: client.read(datatype, page_size=PAGE).frame.height,
        },
        repeats,
        cap,
    )
    tag = iter(range(10**9))

    def bodies(kind: str) -> list[dict[str, Any]]:
        return [make(f"{kind}-{next(tag)}") for _ in range(writes)]

    def connector_sequential() -> int:
        done = 0
        deadline = time.perf_counter() + cap
        for body in bodies("cs"):
            if time.perf_counter() > deadline:
                break
            client.insert(w_datatype, body, reference=f"bench-{next(tag)}")
            done += 1
        return done

    def connector_bulk() -> int:
        ops = [WriteOp.insert(w_datatype, b, reference=f"bench-{next(tag)}") for b in bodies("cb")]
        results = client.write_many_blocking(ops, concurrency=CONCURRENCY)
        assert all(r.ok for r in results), [r.message for r in results if not r.ok][:3]
        return len(results)

    out[f"insert {w_datatype} (sequential)"] = paired(
        {
            "floor": lambda: raw.post_sequential(w_endpoint, bodies("rs")),
            "floor_async": lambda: raw.post_async_sequential(w_endpoint, bodies("ra")),
            "connector": connector_sequential,
        },
        repeats,
        cap,
    )
    out[f"insert {w_datatype} (write_many, {CONCURRENCY} at once)"] = paired(
        {
            "floor": lambda: raw.post_concurrent(w_endpoint, bodies("rc"), CONCURRENCY),
            "connector": connector_bulk,
        },
        repeats,
        cap,
    )
    for row in out.values():
        row["ratio"] = round(row["connector"]["per_second"] / row["floor"]["per_second"], 2)
    return out


def run(size: int, writes: int, cap: float, repeats: int) -> dict[str, Any]:
    settings = {"requests_per_second": None, "page_size": PAGE}
    results: dict[str, Any] = {}
    with running_emulators(seed=1, size=size, rate_limits=False) as emu:
        with PowerOfficeGoClient.from_env(emu.env, **settings) as pog:
            results["powerofficego"] = bench_system(
                emu,
                "powerofficego",
                pog,
                ("customers", "Customers"),
                ("products", "Products", lambda t: {"Name": f"Vare {t}", "UnitPrice": 10.5}),
                writes,
                cap,
                repeats,
            )
        with CrmofficeClient.from_env(emu.env, **settings) as crm:
            results["crmoffice"] = bench_system(
                emu,
                "crmoffice",
                crm,
                ("contacts", "contacts"),
                ("contacts", "contacts", lambda t: {"givenName": "Bench", "familyName": t}),
                writes,
                cap,
                repeats,
            )
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=2000, help="sample records per datatype")
    parser.add_argument("--writes", type=int, default=300, help="inserts per measurement")
    parser.add_argument("--cap", type=float, default=20.0, help="seconds per measurement, at most")
    parser.add_argument("--repeats", type=int, default=3, help="rounds per measurement")
    args = parser.parse_args()
    results = run(args.size, args.writes, args.cap, args.repeats)
    head = (
        f"{'system':<14}{'operation':<40}{'floor/s':>10}{'async floor/s':>15}"
        f"{'connector/s':>13}{'ratio':>7}"
    )
    print(head)
    print("-" * len(head))
    for system, rows in results.items():
        for op, r in rows.items():
            floor, conn = r["floor"]["per_second"], r["connector"]["per_second"]
            floor_async = r.get("floor_async", {}).get("per_second", "")
            print(f"{system:<14}{op:<40}{floor:>10}{floor_async:>15}{conn:>13}{r['ratio']:>7}")
    print("records per second; ratio = connector / floor (raw httpx, same emulator, same run)")
    write_report(
        "connector_throughput",
        settings={
            "size": args.size,
            "writes": args.writes,
            "cap_seconds": args.cap,
            "repeats": args.repeats,
            "page_size": PAGE,
            "write_concurrency": CONCURRENCY,
            "rate_limits": False,
            "client_rate_limiter": "off",
            "units": "records per second",
        },
        results=results,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
