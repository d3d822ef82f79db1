"""What the benchmarks share: bounded request loops, the emulators' raw write floor, the 1%
edit through the systems' APIs, settling runs and the size loop under a total time cap."""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from talk_assets.store.clusters import linked_ids
from talk_assets.store.tenant import TenantStore
from talk_assets.systems.emulator import Emulators

FLOOR_WRITES: dict[str, tuple[str, Callable[[int], dict[str, Any]]]] = {
    "powerofficego": ("/Customers", lambda i: {"Name": f"Floor {i} AS", "IsPerson": False}),
    "crmoffice": ("/contacts", lambda i: {"givenName": f"Floor {i}"}),
}
"""Per system, the endpoint and body of one raw write for the floor."""


@dataclass(frozen=True)
class RawUpdate:
    """One system's raw update for the update floor: the records to update (a list endpoint,
    its query, where the records are in the answer, their id field) and the PATCH itself."""

    listing: str
    query: dict[str, int]
    items: str | None  # the answer's key holding the records; None: the answer is the list
    id_field: str
    path: str  # with `{id}`
    content_type: str
    body: Callable[[int], Any]


FLOOR_UPDATES: dict[str, RawUpdate] = {
    "powerofficego": RawUpdate(
        "/Employees",
        {"pageSize": 1000},
        None,
        "Id",
        "/Employees/{id}",
        "application/json-patch+json",
        lambda i: [{"op": "replace", "path": "/PhoneNumber", "value": f"+47 8{i:07d}"}],
    ),
    "crmoffice": RawUpdate(
        "/contacts",
        {"limit": 1000},
        "items",
        "id",
        "/contacts/{id}",
        "application/merge-patch+json",
        lambda i: {"givenName": f"Floor {i}"},
    ),
}
"""Per system, one raw update (PATCH of an existing record) for the update floor."""


def measure(call: Callable[[int], httpx.Response], count: int, cap: float) -> dict[str, float]:
    """`call(i)` sequentially until `count` calls or `cap` seconds; every answer must succeed."""
    done, started = 0, time.perf_counter()
    while done < count and time.perf_counter() - started < cap:
        answer = call(done)
        if not answer.is_success:
            raise RuntimeError(f"{answer.status_code}: {answer.text[:200]}")
        done += 1
    elapsed = time.perf_counter() - started
    return {"requests": done, "seconds": round(elapsed, 3), "per_second": round(done / elapsed, 1)}


def raw_write_floor(
    emus: Emulators, count: int = 1000, cap: float = 5.0, systems: tuple[str, ...] | None = None
) -> dict[str, dict[str, float]]:
    """Per system, sequential raw POSTs on one keep-alive httpx client (bounded by `count` and
    `cap` seconds): the emulator's floor for one write request."""

    def posts(system: str) -> dict[str, float]:
        endpoint, body = FLOOR_WRITES[system]
        with emus[system].client() as api:
            return measure(lambda i: api.post(endpoint, json=body(i)), count, cap)

    return {system: posts(system) for system in systems or tuple(FLOOR_WRITES)}


def raw_update_floor(
    emus: Emulators, count: int = 1000, cap: float = 5.0, systems: tuple[str, ...] | None = None
) -> dict[str, dict[str, float]]:
    """Per system, sequential raw PATCHes of existing records on one keep-alive httpx client:
    each record of the list's first page (1000) once, bounded by `count` and `cap` seconds.
    The emulator's floor for one update. Changes those records."""

    def patches(system: str) -> dict[str, float]:
        update = FLOOR_UPDATES[system]
        with emus[system].client() as api:
            answer = api.get(update.listing, params=update.query)
            answer.raise_for_status()
            records = answer.json() if update.items is None else answer.json()[update.items]
            ids = [r[update.id_field] for r in records]
            headers = {"Content-Type": update.content_type}
            return measure(
                lambda i: api.patch(
                    update.path.format(id=ids[i]), json=update.body(i), headers=headers
                ),
                min(count, len(ids)),
                cap,
            )

    return {system: patches(system) for system in systems or tuple(FLOOR_UPDATES)}


def fastest(*floors: dict[str, dict[str, float]]) -> dict[str, dict[str, float]]:
    """Per system, the fastest of several measurements of a floor: on a shared machine the
    speed drifts by up to 2x over a long benchmark, and the floor is what the emulator can do
    at its best (the conservative side for a ratio to it)."""
    return {
        system: max((floor[system] for floor in floors), key=lambda m: m["per_second"])
        for system in floors[0]
    }


def floor_seconds(
    write_requests: dict[str, int],
    floor: dict[str, dict[str, float]],
    updates: dict[str, int] | None = None,
    update_floor: dict[str, dict[str, float]] | None = None,
) -> float:
    """How long the raw floor takes for these write requests per system: the `updates`
    (PATCHes) among them at `update_floor`'s rate, the others at `floor`'s (POSTs)."""
    total = 0.0
    for system, n in write_requests.items():
        patched = (updates or {}).get(system, 0) if update_floor else 0
        if n > patched:
            total += (n - patched) / floor[system]["per_second"]
        if patched:
            total += patched / update_floor[system]["per_second"]
    return total


def edit_one_percent(emus: Emulators, store: TenantStore, size: int, round_no: int = 0) -> int:
    """Edit 1% of PowerOffice employees (PhoneNumber) and 1% of the Crmoffice contacts linked
    to PowerOffice customers (givenName) through the APIs: edits the sync must carry across.
    Each `round_no` writes other values. Answers the number of records edited."""
    count = max(1, size // 100)
    employees = [e for e, _ in linked_ids(store, "powerofficego.employees", "crmoffice.contacts")]
    contacts = [c for _, c in linked_ids(store, "powerofficego.customers", "crmoffice.contacts")]
    edited = 0
    with emus.powerofficego.client() as po:
        for i, emp in enumerate(employees[:count]):
            po.patch(
                f"/Employees/{emp}",
                json=[
                    {
                        "op": "replace",
                        "path": "/PhoneNumber",
                        "value": f"+47 9{round_no:02d} {i:05d}",
                    }
                ],
                headers={"Content-Type": "application/json-patch+json"},
            ).raise_for_status()
            edited += 1
    with emus.crmoffice.client() as crm:
        for i, contact in enumerate(contacts[:count]):
            crm.patch(
                f"/contacts/{contact}",
                json={"givenName": f"Edited {i}" + (f" ({round_no})" if round_no else "")},
                headers={"Content-Type": "application/merge-patch+json"},
            ).raise_for_status()
            edited += 1
    return edited


def settle(
    run: Callable[[], dict], max_runs: int, wrote: str = "write_requests"
) -> tuple[dict, dict | None, bool]:
    """The initial load and the settling runs after it: `run()` again while the last run's
    `wrote` count is not 0, at most `max_runs` times. Answers (initial load, the settling runs
    summed or None, settled?)."""
    first = last = run()
    runs: list[dict] = []
    while last[wrote] and len(runs) < max_runs:
        last = run()
        runs.append(last)
    summed = None
    if runs:
        summed = {"runs": len(runs), "seconds": round(sum(r["seconds"] for r in runs), 2)}
        for key in ("write_requests", "writes", "read", "cpu_seconds"):
            if key in runs[0]:
                summed[key] = sum(r[key] for r in runs)
        for key in ("peak_rss_mb",):
            if key in runs[0]:
                summed[key] = max(r[key] for r in runs)
    if summed and "write_requests" in summed:
        summed["write_requests_per_second"] = (
            round(summed["write_requests"] / summed["seconds"], 1) if summed["seconds"] else 0.0
        )
    return first, summed, not last[wrote]


def sizes_within_cap(
    sizes: list[int], cap: float, bench: Callable[[int], dict], spent: float = 0.0
) -> tuple[list[dict], list[dict]]:
    """`bench(size)` for each size in order while its estimate (the last size's seconds scaled
    by records) fits in what is left of `cap` seconds (`spent` already used). Answers (results,
    skipped); a result holds `size` and `total_seconds`."""
    started = time.perf_counter() - spent
    results: list[dict] = []
    skipped: list[dict] = []
    for size in sizes:
        left = cap - (time.perf_counter() - started)
        prev = results[-1] if results else None
        estimate = prev["total_seconds"] * size / prev["size"] if prev else 0.0
        if estimate > left or left <= 0:
            skipped.append({"size": size, "estimate_seconds": round(estimate), "left": round(left)})
            print(f"size {size}: skipped (estimate {estimate:.0f} s, {left:.0f} s left)")
            continue
        print(f"size {size}: running", flush=True)
        results.append(bench(size))
    return results, skipped


def size_list(text: str) -> list[int]:
    """`--sizes` as argparse takes it: comma-separated positive integers, e.g. `1000,10000`
    (a wrong value is a usage error, not a traceback)."""
    try:
        sizes = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        sizes = []
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError(
            f"{text!r}: give record counts per datatype, comma-separated, e.g. 1000,10000"
        )
    return sizes
