"""Threads that all wait behind one lock: how sinks meet a commit in progress."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence


def run_queued(
    lock: threading.Lock, calls: Sequence[Callable[[], None]], queued: Callable[[], int]
) -> None:
    """Start a thread per call while holding `lock`, wait until `queued()` counts every call
    waiting, then let go and join them: each call finds all the others waiting."""
    threads = [threading.Thread(target=call) for call in calls]
    with lock:
        for thread in threads:
            thread.start()
        while queued() < len(calls):
            threading.Event().wait(0.01)
    for thread in threads:
        thread.join(20)
