"""Composition root: the only module that picks concrete parts.

``App`` holds the store, the bus, the services and (when asked) the delivery sender
and workers. ``async with App(config).running(): ...`` opens everything in order and
closes it in reverse.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import socket
import time
from collections.abc import AsyncIterator, Callable

from misthook.bus import Bus
from misthook.config import Config
from misthook.delivery import resolver
from misthook.delivery.sender import Sender
from misthook.delivery.worker import Worker
from misthook.domain.egress import EgressPolicy
from misthook.services.alarms import Alarms
from misthook.services.audit import AuditLog
from misthook.services.bins import Bins, OwnBinUrls
from misthook.services.connectivity import Connectivity
from misthook.services.deliveries import Deliveries
from misthook.services.device_events import DeviceEvents
from misthook.services.devices import Devices
from misthook.services.identity import Identity
from misthook.services.location import Location
from misthook.services.orgs import Orgs
from misthook.services.ratelimit import RateLimiter
from misthook.services.webhooks import Webhooks
from misthook.store import MEMORY_URL, Store, open_store
from misthook.store.tail import TailCachedStore

log = logging.getLogger("misthook")

# Garbage collector thresholds of a misthook process. The defaults (700, 10, 10) run a
# young collection every 700 new objects and a full one often; with the tail cache's
# hundreds of thousands of live events `make bench` measured ~18% of serve's CPU in the
# collector, and 25% more batched events/s with these (cycles are found later, not lost).
GC_THRESHOLDS = (20_000, 20, 20)


def _open_store(config: Config) -> Store:
    """The configured store; SQLite and PostgreSQL behind a cache of this process's newest
    events and of recent reads, so delivery need not read events back, nor once per
    webhook (the memory store is such a cache)."""
    store = open_store(config.database)
    tail = config.tail_cache_events and config.tail_cache_bytes
    reads = config.read_cache_events and config.read_cache_bytes
    if config.database == MEMORY_URL or not (tail or reads):
        return store
    # A zero bound turns either cache off on its own.
    return TailCachedStore(
        store,
        max_events=config.tail_cache_events,
        max_bytes=config.tail_cache_bytes,
        read_cache_events=config.read_cache_events,
        read_cache_bytes=config.read_cache_bytes,
    )


class App:
    def __init__(self, config: Config, clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self.clock = clock
        self.store = _open_store(config)
        self.bus = Bus(self.store, clock)
        self.egress = EgressPolicy(allow=config.egress_allow)
        self.audit = AuditLog(self.store, self.bus, clock)
        self.identity = Identity(self.store, self.bus, self.audit, clock)
        self.orgs = Orgs(self.store, self.bus, self.audit, self.identity, clock)
        self.webhooks = Webhooks(self.store, self.bus, self.audit, self.check_destination, clock)
        self.rate_limiter = RateLimiter(config.rate_limit_per_hour, clock, self.store)
        self.bins = Bins(
            self.store, max_requests=config.bin_max_requests, ttl_s=config.bin_ttl_s, clock=clock
        )
        # deliveries to this server's own bins pass the egress guard (loopback stays closed)
        self.own_bins = OwnBinUrls(config.host, config.port, tls=config.tls_enabled)
        self.sender = Sender(
            self.egress,
            exempt=self.own_bins,
            connect_timeout_s=config.connect_timeout_s,
            total_timeout_s=config.total_timeout_s,
            resp_body_max_bytes=config.log_body_max_bytes,
            max_conns_per_host=config.max_in_flight_per_host,
        )
        self.deliveries = Deliveries(self.store, self.bus, self.sender, config, clock)
        # event sources: devices and their events, connectivity, alarms, location
        self.device_events = DeviceEvents(self.store, self.bus, clock)
        self.devices = Devices(self.store, self.bus, self.audit, self.device_events, clock)
        self.alarms = Alarms(self.store, self.bus, self.audit, config.alarm_window_s, clock)
        self.connectivity = Connectivity(
            self.store, self.bus, self.devices, self.device_events, self.alarms, config, clock
        )
        self.location = Location(self.store, self.bus, self.audit, clock)
        self.worker: Worker | None = None

    async def check_destination(self, url: str) -> str | None:
        """Create-time egress check of a webhook URL (None: deliveries may go there)."""
        if self.own_bins(url):
            return None
        return await resolver.check_destination(self.egress, url)

    async def open(self) -> None:
        gc.set_threshold(*GC_THRESHOLDS)
        await self.store.open()
        await self.sender.start()

    async def close(self) -> None:
        await self.sender.close()
        await self.store.close()

    @contextlib.asynccontextmanager
    async def running(self, *, workers: bool = False) -> AsyncIterator[App]:
        """The app opened; with ``workers``, delivery workers running until exit."""
        await self.open()
        stop = asyncio.Event()
        task: asyncio.Task[None] | None = None
        monitor: asyncio.Task[None] | None = None
        # API call budgets shared with the other processes of the deployment
        budgets = asyncio.create_task(self.rate_limiter.run(stop), name="misthook-budgets")
        try:
            if workers:
                self.worker = Worker(
                    self.store,
                    self.sender,
                    self.config,
                    owner=f"{socket.gethostname()}:{os.getpid()}",
                    on_disable=self.webhooks.disable,
                    clock=self.clock,
                )
                self.bus.on_publish(self.worker.wake)  # other processes: store.listen in run()
                task = asyncio.create_task(self.worker.run(stop), name="misthook-worker")
                if self.config.run_monitor:  # heartbeat timeouts, delayed updowns, schedules
                    monitor = asyncio.create_task(
                        self.connectivity.run(stop), name="misthook-monitor"
                    )
            yield self
        finally:
            stop.set()
            if task is not None:
                with contextlib.suppress(asyncio.CancelledError):
                    await asyncio.wait_for(task, timeout=self.config.total_timeout_s + 5)
            if monitor is not None:
                with contextlib.suppress(asyncio.CancelledError):
                    await asyncio.wait_for(monitor, timeout=10)
            with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                await asyncio.wait_for(budgets, timeout=10)
            await self.close()
