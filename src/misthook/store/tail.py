"""A cache of the newest events THIS process appended, in front of any Store.

Delivery reads every event back soon after it was appended; with 100 webhooks on one
topic that is 100 reads of each event, and each SQLite row step hands the GIL away and
waits to get it back. ``TailCachedStore`` keeps the events of its own successful
commits in memory, indexed per topic and org (and site), and serves ``read_events``
from there when it can.

Why it is safe: an event enters the tail only after ``commit`` returned, so the tail
is a copy of what is already durable and nothing is acknowledged from it. The tail
claims the seqs ``[start, end]`` and keeps EVERY event of that range (minus those
pruned): when new seqs do not follow ``end`` (another process appended in between, or
a PostgreSQL sequence gap) it starts again at them, and a read is served from memory
only when it starts inside the claimed range. A read that finds nothing there goes to
the store, so events another process appended after ``end`` still arrive.

Reads the tail cannot serve go to a ``ReadCache`` (what earlier store reads returned,
for the other streams of the same scope) and then to the store; identical reads in
flight at once share one store read.

Every other method, and every write, goes to the wrapped store unchanged.
A prune committed by another process is not seen here: such a tail may serve an event
that is already older than the retention (a harmless extra delivery, never a loss).
"""

from __future__ import annotations

import asyncio
import bisect
import collections
import functools
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from misthook.store.base import (
    AppendEvents,
    CommitResult,
    Doc,
    Filter,
    NewEvent,
    Op,
    PruneEvents,
    Query,
    Store,
    StoredEvent,
    Stream,
    WorkerLoad,
)
from misthook.store.read_cache import EVENT_OVERHEAD_BYTES, ReadCache, Scope

# Dropped entries at the front of a run are deleted in one go once there are this many
# (and they are at least half of it): amortized O(1) per event.
_COMPACT_AFTER = 1024


class _Run:
    """The cached events of one key (topic + org, or topic + org + site), by seq."""

    __slots__ = ("events", "head", "seqs")

    def __init__(self) -> None:
        self.seqs: list[int] = []
        self.events: list[StoredEvent] = []
        self.head = 0  # entries before it are dropped

    def after(self, after_seq: int, limit: int) -> list[StoredEvent]:
        start = bisect.bisect_right(self.seqs, after_seq, lo=self.head)
        return self.events[start : start + limit]

    def drop_oldest(self) -> bool:
        """Drop the oldest event; True when the run is empty."""
        self.head += 1
        if self.head >= len(self.seqs):
            self.seqs.clear()
            self.events.clear()
            self.head = 0
            return True
        if self.head >= _COMPACT_AFTER and self.head * 2 >= len(self.seqs):
            del self.seqs[: self.head]
            del self.events[: self.head]
            self.head = 0
        return False


class TailCachedStore:
    """A Store that delegates to ``inner`` and serves fresh events from memory.

    At most ``max_events`` events and about ``max_bytes`` bytes are kept (oldest
    dropped first); either bound at 0 disables the cache (pure delegation).
    """

    def __init__(
        self,
        inner: Store,
        *,
        max_events: int,
        max_bytes: int,
        read_cache_events: int = 0,
        read_cache_bytes: int = 0,
    ) -> None:
        self.inner = inner
        self.reads = ReadCache(max_events=read_cache_events, max_bytes=read_cache_bytes)
        self._reading: dict[tuple[Scope, int, int], asyncio.Future[list[StoredEvent]]] = {}
        self.max_events = max_events
        self.max_bytes = max_bytes
        self._enabled = max_events > 0 and max_bytes > 0
        # every cached event, oldest first (for eviction and prune)
        self._order: collections.deque[StoredEvent] = collections.deque()
        self._order_seqs: collections.deque[int] = collections.deque()
        self._by_org: dict[tuple[str, str], _Run] = {}
        self._by_site: dict[tuple[str, str, str], _Run] = {}
        self._bytes = 0
        # commits with events in flight (a read that finds nothing waits for them)
        self._appending: set[asyncio.Future[None]] = set()
        # The claimed range: every event with start <= seq <= end is in the tail (unless
        # pruned). Empty at first: nothing is claimed until this process appends.
        self._start = 1
        self._end = 0

    # --- what the tail holds (tests and the status of a process) ---------------------

    @property
    def cached_events(self) -> int:
        return len(self._order)

    @property
    def cached_bytes(self) -> int:
        return self._bytes

    @property
    def covered(self) -> tuple[int, int] | None:
        """The seqs ``(first, last)`` the tail holds, None when empty."""
        if not self._order_seqs:
            return None
        return self._order_seqs[0], self._order_seqs[-1]

    # --- lifecycle -------------------------------------------------------------------

    async def open(self) -> None:
        await self.inner.open()

    async def close(self) -> None:
        self._clear()
        await self.inner.close()

    async def schema_version(self) -> int:
        return await self.inner.schema_version()

    # --- documents -------------------------------------------------------------------

    async def get(self, collection: str, id: str) -> Doc | None:
        return await self.inner.get(collection, id)

    async def find_one(self, collection: str, filters: tuple[Filter, ...]) -> Doc | None:
        return await self.inner.find_one(collection, filters)

    async def query(self, collection: str, query: Query) -> list[Doc]:
        return await self.inner.query(collection, query)

    async def count(self, collection: str, filters: tuple[Filter, ...]) -> int:
        return await self.inner.count(collection, filters)

    async def count_distinct(
        self, collection: str, filters: tuple[Filter, ...], field: str, limit: int
    ) -> list[tuple[Any, int]]:
        return await self.inner.count_distinct(collection, filters, field, limit)

    # --- commit ----------------------------------------------------------------------

    async def commit(self, ops: Sequence[Op]) -> CommitResult:
        if not self._enabled or not any(isinstance(op, AppendEvents) for op in ops):
            result = await self.inner.commit(ops)
            if any(isinstance(op, PruneEvents) for op in ops):
                self.reads.clear()
                if self._enabled:
                    self._remember(ops, result.event_seqs)
            return result
        done = asyncio.get_running_loop().create_future()
        self._appending.add(done)
        try:
            result = await self.inner.commit(ops)
            # No await between the store's answer and this: no read sees a half update.
            self._remember(ops, result.event_seqs)
            return result
        finally:
            self._appending.discard(done)
            done.set_result(None)

    def _remember(self, ops: Sequence[Op], seqs: list[int]) -> None:
        appended = sum(len(op.events) for op in ops if isinstance(op, AppendEvents))
        if appended != len(seqs):
            self._clear()  # a store that numbers differently: claim nothing
            return
        at = 0
        for op in ops:
            if isinstance(op, AppendEvents) and op.events:
                count = len(op.events)
                self._add(op.events, seqs[at : at + count])
                at += count
            elif isinstance(op, PruneEvents):
                self._prune(op.before)
        self._evict()

    def _add(self, events: Sequence[NewEvent], seqs: list[int]) -> None:
        # One StoredEvent per event, built here once for every reader (each one is an
        # object the garbage collector tracks: the fewer per event, the better).
        stored = [
            StoredEvent(seq, e.id, e.org_id, e.site_id, e.topic, float(e.timestamp), e.body)
            for e, seq in zip(events, seqs, strict=True)
        ]
        first = seqs[0]
        if first != self._end + 1 or seqs != list(range(first, first + len(seqs))):
            # Someone else's events (or a gap) lie before or among these: the tail cannot
            # vouch for them. It starts again, at the first run of consecutive seqs.
            for event in stored:
                if event.seq != self._end + 1:
                    self._clear()
                    self._start = event.seq
                self._add_one(event)
            return
        self._end = seqs[-1]
        self._order.extend(stored)
        self._order_seqs.extend(seqs)
        by_org, by_site = self._by_org, self._by_site
        size = 0
        for e in stored:
            size += len(e.body)
            key = (e.topic, e.org_id)
            run = by_org.get(key)
            if run is None:
                run = by_org[key] = _Run()
            run.seqs.append(e.seq)
            run.events.append(e)
            if e.site_id is not None:
                site_key = (e.topic, e.org_id, e.site_id)
                site_run = by_site.get(site_key)
                if site_run is None:
                    site_run = by_site[site_key] = _Run()
                site_run.seqs.append(e.seq)
                site_run.events.append(e)
        self._bytes += size + EVENT_OVERHEAD_BYTES * len(stored)

    def _add_one(self, e: StoredEvent) -> None:
        seq = self._end = e.seq
        self._order.append(e)
        self._order_seqs.append(seq)
        self._bytes += len(e.body) + EVENT_OVERHEAD_BYTES
        run = self._by_org.setdefault((e.topic, e.org_id), _Run())
        run.seqs.append(seq)
        run.events.append(e)
        if e.site_id is not None:
            site_run = self._by_site.setdefault((e.topic, e.org_id, e.site_id), _Run())
            site_run.seqs.append(seq)
            site_run.events.append(e)

    def _evict(self) -> None:
        order, order_seqs = self._order, self._order_seqs
        while order and (len(order) > self.max_events or self._bytes > self.max_bytes):
            oldest = order.popleft()
            seq = order_seqs.popleft()
            self._bytes -= len(oldest.body) + EVENT_OVERHEAD_BYTES
            # The oldest of all is the oldest of its runs too.
            key = (oldest.topic, oldest.org_id)
            if self._by_org[key].drop_oldest():
                del self._by_org[key]
            if oldest.site_id is not None:
                site_key = (oldest.topic, oldest.org_id, oldest.site_id)
                if self._by_site[site_key].drop_oldest():
                    del self._by_site[site_key]
            self._start = seq + 1

    def _prune(self, before: float) -> None:
        """Forget what the store just pruned; the claimed range stays (those seqs are
        gone from the store too)."""
        if not any(e.timestamp < before for e in self._order):
            return
        kept = [e for e in self._order if e.timestamp >= before]
        start, end = self._start, self._end
        self._clear()
        self._start = start
        for e in kept:
            self._add_one(e)  # in order, within the claimed range
        self._end = end

    def _clear(self) -> None:
        self._order.clear()
        self._order_seqs.clear()
        self._by_org.clear()
        self._by_site.clear()
        self._bytes = 0
        self._start = self._end + 1

    # --- event log -------------------------------------------------------------------

    async def max_seq(self) -> int:
        return await self.inner.max_seq()

    async def oldest_seq(self) -> int:
        return await self.inner.oldest_seq()

    async def read_events(
        self, topic: str, org_id: str, site_id: str | None, after_seq: int, limit: int
    ) -> list[StoredEvent]:
        found = self._cached(topic, org_id, site_id, after_seq, limit)
        if found:
            return found
        if self._appending:
            # This process's appends in flight may be in the store already and not yet
            # here: wait for them (milliseconds) rather than read them back.
            await asyncio.wait(list(self._appending))
            found = self._cached(topic, org_id, site_id, after_seq, limit)
            if found:
                return found
        # Nothing here: beyond the tail, another process may have appended.
        return await self._read_through((topic, org_id, site_id), after_seq, limit)

    async def _read_through(self, scope: Scope, after_seq: int, limit: int) -> list[StoredEvent]:
        if not self.reads.enabled:
            return await self.inner.read_events(*scope, after_seq, limit)
        found = self.reads.get(scope, after_seq, limit)
        if found is None:
            return await self._read_shared(scope, after_seq, limit)
        if len(found) == limit:
            return found
        # The run ends first: the rest from the store (an answer is always what the store
        # would give), by the very read the stream ahead makes next, so the two share it.
        rest = await self._read_shared(scope, found[-1].seq, limit)
        return found + rest[: limit - len(found)]

    async def _read_shared(self, scope: Scope, after_seq: int, limit: int) -> list[StoredEvent]:
        """A store read, shared by every reader asking the same at the same time."""
        key = (scope, after_seq, limit)
        reading = self._reading.get(key)
        if reading is None:
            reading = asyncio.ensure_future(self.inner.read_events(*scope, after_seq, limit))
            self._reading[key] = reading
            reading.add_done_callback(functools.partial(self._read_done, key))
        # A reader that is cancelled must not cancel the read the others wait for.
        return await asyncio.shield(reading)

    def _read_done(
        self, key: tuple[Scope, int, int], reading: asyncio.Future[list[StoredEvent]]
    ) -> None:
        del self._reading[key]
        if not reading.cancelled() and reading.exception() is None:
            scope, after_seq, _ = key
            self.reads.put(scope, after_seq, reading.result())

    def _cached(
        self, topic: str, org_id: str, site_id: str | None, after_seq: int, limit: int
    ) -> list[StoredEvent]:
        """The events the tail can vouch for (none when it does not cover after_seq)."""
        if not self._order or after_seq < self._start - 1 or limit <= 0:
            return []
        run = (
            self._by_org.get((topic, org_id))
            if site_id is None
            else self._by_site.get((topic, org_id, site_id))
        )
        return [] if run is None else run.after(after_seq, limit)

    # --- streams ---------------------------------------------------------------------

    async def lease_streams(
        self, owner: str, now: float, lease_s: float, limit: int
    ) -> list[Stream]:
        return await self.inner.lease_streams(owner, now, lease_s, limit)

    async def renew_leases(self, owner: str, keys: Sequence[tuple[str, str]], until: float) -> None:
        await self.inner.renew_leases(owner, keys, until)

    async def list_streams(self, webhook_id: str) -> list[Stream]:
        return await self.inner.list_streams(webhook_id)

    async def worker_heartbeat(self, owner: str, now: float, alive_until: float) -> WorkerLoad:
        return await self.inner.worker_heartbeat(owner, now, alive_until)

    async def worker_gone(self, owner: str) -> None:
        await self.inner.worker_gone(owner)

    async def ask_rebalance(self) -> None:
        await self.inner.ask_rebalance()

    async def add_counts(
        self, counts: Mapping[str, int], expires_at: float, now: float
    ) -> dict[str, int]:
        return await self.inner.add_counts(counts, expires_at, now)

    async def listen(
        self, on_wake: Callable[[], None], on_workers: Callable[[], None] | None = None
    ) -> None:
        await self.inner.listen(on_wake, on_workers)
