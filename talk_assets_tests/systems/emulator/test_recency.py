"""`ChangeIndex.since` answers what a scan of every record answers, in the same order."""

from __future__ import annotations

import random

from talk_assets.systems.emulator.recency import ChangeIndex


def scan(rows, bound):
    return [r for r in rows.values() if r["t"] > bound]


def test_since_equals_a_scan_through_writes_and_removals():
    rng = random.Random(3)
    rows = {i: {"id": i, "t": f"2024-01-{rng.randint(1, 28):02d}"} for i in range(200)}
    index = ChangeIndex("t")
    index.rebuild({"x": rows})
    clock = 0
    for step in range(600):
        bound = f"2024-{rng.randint(1, 3):02d}-{rng.randint(1, 28):02d}"
        assert index.since("x", rows, bound) == scan(rows, bound), step
        op = rng.random()
        if op < 0.5 and rows:  # an update moves the record to the end of the order
            i = rng.choice(list(rows))
            clock += 1
            rows[i] = {"id": i, "t": f"2024-02-{clock:06d}"}
            index.wrote("x", i, rows[i])
        elif op < 0.8:  # a new record
            i = max(rows, default=0) + 1
            clock += 1
            rows[i] = {"id": i, "t": f"2024-02-{clock:06d}"}
            index.wrote("x", i, rows[i])
        elif rows:
            i = rng.choice(list(rows))
            del rows[i]
            index.removed("x", i)


def test_a_stamp_out_of_order_falls_back_to_a_scan():
    rows = {1: {"t": "b"}, 2: {"t": "c"}}
    index = ChangeIndex("t")
    index.rebuild({"x": rows})
    rows[3] = {"t": "a"}
    index.wrote("x", 3, rows[3])
    assert index.since("x", rows, "0") == scan(rows, "0")
    rows[4] = {"t": "z"}  # written without telling the index: the count differs, so a scan
    assert index.since("x", rows, "0") == scan(rows, "0")


def test_listing_equals_a_sorted_scan_through_writes_and_is_kept_between_them():
    rng = random.Random(5)
    rows = {i: {"id": i, "t": f"2024-01-{rng.randint(1, 28):02d}"} for i in range(100)}

    def order(r):
        return r["t"], r["id"]

    index = ChangeIndex("t", list_order=order)
    index.rebuild({"x": rows})

    for step in range(300):
        bound = rng.choice([None, f"2024-01-{rng.randint(1, 28):02d}"])
        want = sorted(rows.values() if bound is None else scan(rows, bound), key=order)
        first = index.listing("x", rows, bound)
        assert first == want, step
        assert index.listing("x", rows, bound) is first  # no write: same list
        i = rng.choice(list(rows)) if rng.random() < 0.6 else max(rows) + 1
        rows[i] = {"id": i, "t": f"2024-02-{step:06d}"}
        index.wrote("x", i, rows[i])
    rows[10_000] = {"id": 10_000, "t": "2025"}  # not told: the size differs, so listed again
    assert index.listing("x", rows, None)[-1] == rows[10_000]
