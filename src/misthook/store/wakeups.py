"""The wake-ups of the workers that share a store within one process (memory, SQLite).

PostgreSQL tells every process by NOTIFY; these stores have no such channel, so each tells
the workers of its own process directly, by the same rules: a commit that appends events
or gives streams back wakes them (``wakes_workers``), and a worker that runs out of streams
makes the others rebalance. Workers in other processes on a SQLite file see both at their
next poll and heartbeat.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from misthook.store.base import Op, wakes_workers


class InProcessWakeups:
    def __init__(self) -> None:
        self._on_wake: list[Callable[[], None]] = []
        self._on_workers: list[Callable[[], None]] = []

    def listen(self, on_wake: Callable[[], None], on_workers: Callable[[], None] | None) -> None:
        self._on_wake.append(on_wake)
        if on_workers is not None:
            self._on_workers.append(on_workers)

    def committed(self, ops: Sequence[Op], appended: Sequence[int]) -> None:
        """A commit of ``ops`` went through, appending the events ``appended``."""
        if wakes_workers(ops, appended):
            for wake in list(self._on_wake):
                wake()

    def rebalance(self) -> None:
        for rebalance in list(self._on_workers):
            rebalance()

    def clear(self) -> None:
        self._on_wake.clear()
        self._on_workers.clear()
