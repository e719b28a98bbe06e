"""Pruning by age: events, delivery records and parked messages older than ``retention_s``.

Runs in the background of a worker process, one transaction per pass. A stream whose
receiver has failed for longer than the retention loses the events pruned meanwhile; the
worker logs that and ``DeliveryService.stream_status`` reports it (``behind_retention``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from misthook import periodic
from misthook.store.base import DeleteWhere, Filter, PruneEvents, Store

log = logging.getLogger(__name__)

# Time between two pruning passes.
DEFAULT_INTERVAL_S = 300.0


class Retention:
    def __init__(
        self,
        store: Store,
        retention_s: float,
        *,
        interval_s: float = DEFAULT_INTERVAL_S,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._retention_s = retention_s
        self._interval_s = interval_s
        self._clock = clock

    async def prune_once(self) -> float:
        """Delete everything older than the retention; returns the cutoff (epoch s)."""
        cutoff = self._clock() - self._retention_s
        older = (Filter("timestamp", "lt", cutoff),)
        await self._store.commit(
            [
                PruneEvents(before=cutoff),
                DeleteWhere("deliveries", older),
                DeleteWhere("parked", older),
            ]
        )
        return cutoff

    async def run(self, stop: asyncio.Event) -> None:
        """Prune every ``interval_s`` until ``stop``."""
        await periodic.every(
            self._interval_s, stop, self.prune_once, log, "pruning old events and delivery records"
        )
