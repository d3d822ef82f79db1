"""Which records changed since a stamp, without looking at the others.

A list with a since-bound (`LastChangedDateTimeOffset > x`, `updatedAt > x`) used to test
every record of the datatype: an incremental read cost the emulator in proportion to all its
records, and the emulator runs in the benchmark's process. `ChangeIndex` keeps, per table,
the record ids in the order of their change stamps (the text the filter compares); a write
moves its record to the end (the emulator's clock never goes back), so the records changed
since a stamp are a tail of that order, found from the end.

Paging through a long list asked the same question once per page: `ChangeIndex.listing`
keeps the last few answers, sorted, until the table's next write, so each page is a slice.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping
from typing import Any

Json = dict[str, Any]


class ChangeIndex:
    """Per table, record ids in ascending order of `field` (text), and their insertion
    positions (the order the table's dict iterates in). `list_order`: the sort key of the
    system's lists (`listing`); None keeps the table's own order."""

    def __init__(self, field: str, list_order: Callable[[Json], Any] | None = None) -> None:
        self.field = field
        self.list_order = list_order
        self._order: dict[str, dict[Hashable, str]] = {}
        self._position: dict[str, dict[Hashable, int]] = {}
        self._next: dict[str, int] = {}
        self._sorted: dict[str, bool] = {}
        self._version: dict[str, int] = {}
        self._listings: dict[tuple[str, str | None], tuple[tuple[int, int], list[Json]]] = {}

    LISTINGS_KEPT = 4
    """How many sorted listings stay cached (one per table and bound being paged through)."""

    def rebuild(self, tables: Mapping[str, Mapping[Hashable, Json]]) -> None:
        """Index these tables as they are now (after loading or restoring)."""
        for name, rows in tables.items():
            stamps = sorted(((i, r[self.field]) for i, r in rows.items()), key=lambda kv: kv[1])
            self._order[name] = dict(stamps)
            self._position[name] = {i: n for n, i in enumerate(rows)}
            self._next[name] = len(rows)
            self._sorted[name] = True
            self._changed(name)

    def _changed(self, name: str) -> None:
        self._version[name] = self._version.get(name, 0) + 1

    def wrote(self, name: str, record_id: Hashable, record: Json) -> None:
        """`record` was stored under `record_id` (created, or replaced with a new stamp)."""
        self._changed(name)
        order, stamp = self._order.setdefault(name, {}), record[self.field]
        order.pop(record_id, None)
        if order and stamp < next(reversed(order.values())):
            self._sorted[name] = False  # a stamp out of order: lists scan (never so far)
        order[record_id] = stamp
        positions = self._position.setdefault(name, {})
        if record_id not in positions:
            positions[record_id] = self._next.get(name, 0)
            self._next[name] = positions[record_id] + 1

    def removed(self, name: str, record_id: Hashable) -> None:
        self._changed(name)
        self._order.get(name, {}).pop(record_id, None)
        self._position.get(name, {}).pop(record_id, None)

    def since(self, name: str, rows: Mapping[Hashable, Json], bound: str) -> list[Json]:
        """The records of `rows` whose stamp is after `bound`, in the order `rows` iterates:
        what `[r for r in rows.values() if r[field] > bound]` answers."""
        order = self._order.get(name)
        if order is None or not self._sorted.get(name) or len(order) != len(rows):
            return [r for r in rows.values() if r[self.field] > bound]
        tail = []
        for record_id, stamp in reversed(order.items()):
            if stamp <= bound:
                break
            tail.append(record_id)
        position = self._position[name]
        tail.sort(key=position.__getitem__)
        return [rows[i] for i in tail]

    def listing(self, name: str, rows: Mapping[Hashable, Json], bound: str | None) -> list[Json]:
        """The records of `rows` changed after `bound` (all of them for None), in the list
        order: the same list while the table has no write, computed once for all the pages
        read from it. Do not change the list answered."""
        key = (name, bound)
        # A write through the handlers bumps the version; the size catches rows changed
        # around them (as `since` does).
        version = (self._version.get(name, 0), len(rows))
        kept = self._listings.get(key)
        if kept is not None and kept[0] == version:
            return kept[1]
        listed = list(rows.values()) if bound is None else self.since(name, rows, bound)
        if self.list_order is not None:
            listed.sort(key=self.list_order)
        self._listings.pop(key, None)
        self._listings[key] = (version, listed)
        while len(self._listings) > self.LISTINGS_KEPT:
            del self._listings[next(iter(self._listings))]
        return listed
