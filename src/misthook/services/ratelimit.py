"""Per-token call budget, as Mist: N calls per hour, then 429 with Retry-After.

The budget is per clock hour (it renews at the top of each hour) and shared by every
process of a deployment: each process counts its calls in memory, so a call costs no
database round trip, and every ``SYNC_S`` adds them to the store's counters, learning
the totals of the other processes in the same statement. Several API processes can
therefore let a token exceed its budget by at most the calls they take between two
syncs.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable

from misthook import periodic
from misthook.errors import RateLimitedError, StoreError
from misthook.store.base import Store

WINDOW_S = 3600.0
SYNC_S = 1.0

log = logging.getLogger(__name__)


class RateLimiter:
    def __init__(
        self, per_hour: int, clock: Callable[[], float] = time.time, store: Store | None = None
    ) -> None:
        self._per_hour = per_hour
        self._clock = clock
        self._store = store
        self._pending: dict[str, int] = {}  # "token:hour" -> calls not yet in the store
        self._known: dict[str, int] = {}  # "token:hour" -> the store's total at the last sync
        self._hour = 0  # the hour the counts kept are of

    def hit(self, token: str) -> None:
        """Count one call of ``token``; raise RateLimitedError past the budget."""
        now = self._clock()
        hour = int(now // WINDOW_S)
        key = f"{token}:{hour}"
        pending = self._pending.get(key, 0)
        if self._known.get(key, 0) + pending >= self._per_hour:
            raise RateLimitedError(retry_after_s=max(1, math.ceil((hour + 1) * WINDOW_S - now)))
        self._pending[key] = pending + 1
        if hour != self._hour:  # a new hour: the counts of the last one are done with
            self._forget_before(hour)

    async def sync(self) -> None:
        """Add this process's calls to the shared counters and learn everyone's totals."""
        if self._store is None or not self._pending:
            return
        now = self._clock()
        hour = int(now // WINDOW_S)
        pending, self._pending = self._pending, {}
        try:
            totals = await self._store.add_counts(pending, (hour + 2) * WINDOW_S, now)
        except StoreError:
            for key, n in pending.items():  # counted again at the next sync
                self._pending[key] = self._pending.get(key, 0) + n
            raise
        # The store's total already holds this process's calls it was given.
        self._known.update(totals)
        self._forget_before(hour)

    async def run(self, stop: asyncio.Event) -> None:
        """Sync every ``SYNC_S`` until ``stop``, and once more then."""
        await periodic.every(
            SYNC_S, stop, self.sync, log, "adding API call counts to the store", wait_first=True
        )

    def _forget_before(self, hour: int) -> None:
        self._hour = hour

        def current(key: str) -> bool:
            return int(key.rsplit(":", 1)[1]) >= hour

        self._pending = {k: v for k, v in self._pending.items() if current(k)}
        self._known = {k: v for k, v in self._known.items() if current(k)}
