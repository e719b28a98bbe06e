"""The tail cache (misthook.store.tail) in front of real SQLite files.

The whole Store contract also runs against it (the ``+tail`` parameters of the root
``store`` fixture); these tests cover what only a cache can get wrong: claiming events
it does not have, keeping events the store no longer has, and growing without bound.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import orjson
import pytest

from misthook.bus import Bus
from misthook.delivery.worker import Worker
from misthook.errors import StoreError
from misthook.store.base import AppendEvents, NewEvent, PruneEvents, Put, StoredEvent
from misthook.store.read_cache import EVENT_OVERHEAD_BYTES
from misthook.store.sqlite import SqliteStore
from misthook.store.tail import TailCachedStore
from tests.integration import test_worker as hooks
from tests.integration.test_worker import (
    Receiver,
    add_webhook,
    make_config,
    running,
    sending,
    serving,
    until,
)

ORG = "org-1"
SITE = "site-1"
TOPIC = "device-events"

Opener = Callable[..., Awaitable[TailCachedStore]]


def event(
    n: int,
    *,
    topic: str = TOPIC,
    org: str = ORG,
    site: str | None = SITE,
    timestamp: float | None = None,
    size: int = 0,
) -> NewEvent:
    body = orjson.dumps({"n": n, "pad": "x" * size})
    ts = 1_700_000_000.0 + n if timestamp is None else timestamp
    return NewEvent(f"ev-{n}", org, site, topic, ts, body)


async def append(store: TailCachedStore, *events: NewEvent) -> list[int]:
    return (await store.commit([AppendEvents(list(events))])).event_seqs


def numbers(events: list[StoredEvent]) -> list[int]:
    return [orjson.loads(e.body)["n"] for e in events]


async def served_from_memory(store: TailCachedStore, after_seq: int) -> bool:
    """Two reads give the very same objects only when both came from the tail."""
    first = await store.read_events(TOPIC, ORG, SITE, after_seq, 100)
    second = await store.read_events(TOPIC, ORG, SITE, after_seq, 100)
    return bool(first) and all(a is b for a, b in zip(first, second, strict=True))


@pytest.fixture
async def open_tail(tmp_path: Path) -> AsyncIterator[Opener]:
    """Opens TailCachedStores on ONE SQLite file (several: several processes)."""
    opened: list[TailCachedStore] = []

    async def opener(max_events: int = 1000, max_bytes: int = 1 << 20) -> TailCachedStore:
        store = TailCachedStore(
            SqliteStore(str(tmp_path / "shared.db")), max_events=max_events, max_bytes=max_bytes
        )
        await store.open()
        opened.append(store)
        return store

    yield opener
    for store in opened:
        await store.close()


async def test_fresh_events_are_read_from_memory_and_match_the_store(open_tail: Opener) -> None:
    """Events this instance appended come back from memory, equal to the store's own."""
    store = await open_tail()
    seqs = await append(store, *(event(n) for n in range(5)))
    cached = await store.read_events(TOPIC, ORG, SITE, 0, 100)
    stored = await store.inner.read_events(TOPIC, ORG, SITE, 0, 100)
    assert cached == stored and [e.seq for e in cached] == seqs
    assert await served_from_memory(store, 0)
    assert numbers(await store.read_events(TOPIC, ORG, SITE, seqs[1], 2)) == [2, 3]


async def test_another_instances_append_restarts_the_tail(open_tail: Opener) -> None:
    """When another instance appended in between, the tail starts again at the new events
    and never serves a range with the other instance's events missing."""
    a, b = await open_tail(), await open_tail()
    first = await append(a, event(0), event(1), event(2))
    await append(b, event(3), event(4))
    mine = await append(a, event(5), event(6))
    assert a.covered == (mine[0], mine[-1])
    # from the start: the tail does not cover it, the store answers with b's events too
    assert numbers(await a.read_events(TOPIC, ORG, SITE, 0, 100)) == list(range(7))
    assert numbers(await a.read_events(TOPIC, ORG, SITE, first[1], 100)) == [2, 3, 4, 5, 6]
    assert numbers(await a.read_events(TOPIC, ORG, SITE, mine[0] - 1, 100)) == [5, 6]
    assert await served_from_memory(a, mine[0] - 1)


async def test_events_beyond_the_tail_come_from_the_store(open_tail: Opener) -> None:
    """A read after the tail's last event falls back to the store: another instance's
    newer events arrive."""
    a, b = await open_tail(), await open_tail()
    seqs = await append(a, event(0), event(1))
    await append(b, event(2), event(3))
    assert a.covered == (seqs[0], seqs[-1])
    assert numbers(await a.read_events(TOPIC, ORG, SITE, seqs[-1], 100)) == [2, 3]
    assert await a.read_events(TOPIC, ORG, SITE, seqs[-1] + 2, 100) == []


async def test_other_topics_sites_and_orgs_are_kept_apart(open_tail: Opener) -> None:
    """Per topic, org and site the tail answers exactly what the store answers."""
    store = await open_tail()
    mixed = [
        event(n, topic=("alarms", TOPIC)[n % 2], org=("o1", "o2")[n % 3 == 0], site=site)
        for n, site in zip(range(60), ["s1", "s2", None] * 20, strict=True)
    ]
    await append(store, *mixed)
    for topic in ("alarms", TOPIC, "audits"):
        for org in ("o1", "o2"):
            for site in ("s1", "s2", None):
                for after in (0, 17, 59):
                    cached = await store.read_events(topic, org, site, after, 7)
                    stored = await store.inner.read_events(topic, org, site, after, 7)
                    assert cached == stored, (topic, org, site, after)


async def test_eviction_keeps_the_newest_within_the_event_bound(open_tail: Opener) -> None:
    """Over max_events the oldest go; reads before the tail still get everything."""
    store = await open_tail(max_events=10)
    seqs = await append(store, *(event(n) for n in range(8)))
    seqs += await append(store, *(event(n) for n in range(8, 25)))
    assert store.cached_events == 10
    assert store.covered == (seqs[15], seqs[-1])
    assert numbers(await store.read_events(TOPIC, ORG, SITE, 0, 100)) == list(range(25))
    assert numbers(await store.read_events(TOPIC, ORG, SITE, seqs[14], 100)) == list(range(15, 25))
    assert await served_from_memory(store, seqs[14])


async def test_eviction_keeps_within_the_byte_bound(open_tail: Opener) -> None:
    """Bodies of ~1 KB with a 5 KB bound: the tail never holds more than the bound."""
    bound = 5 * (1024 + EVENT_OVERHEAD_BYTES)
    store = await open_tail(max_bytes=bound)
    for n in range(20):
        await append(store, event(n, size=1000))
        assert store.cached_bytes <= bound
    assert 1 <= store.cached_events <= 5
    assert numbers(await store.read_events(TOPIC, ORG, SITE, 0, 100)) == list(range(20))


async def test_a_prune_removes_the_events_from_the_tail(open_tail: Opener) -> None:
    """Events the store pruned are not served from memory any more."""
    store = await open_tail()
    seqs = await append(store, *(event(n, timestamp=float(n)) for n in (5, 1, 7, 2, 9)))
    await store.commit([PruneEvents(before=6.0)])
    assert numbers(await store.read_events(TOPIC, ORG, SITE, 0, 100)) == [7, 9]
    assert await served_from_memory(store, 0)
    later = await append(store, event(10, timestamp=10.0))
    assert later == [seqs[-1] + 1] and store.cached_events == 3


async def test_a_failed_commit_adds_nothing(open_tail: Opener) -> None:
    """A commit the store refused leaves no trace in the tail."""
    store = await open_tail()
    with pytest.raises(StoreError):
        await store.commit([AppendEvents([event(0)]), Put("no_such_collection", {"id": "x"})])
    assert store.cached_events == 0
    assert await store.read_events(TOPIC, ORG, SITE, 0, 100) == []


async def test_zero_bounds_disable_the_cache(open_tail: Opener) -> None:
    """max_events 0: every read goes to the store, and the answers are the same."""
    store = await open_tail(max_events=0)
    await append(store, event(0), event(1))
    assert store.cached_events == 0
    assert numbers(await store.read_events(TOPIC, ORG, SITE, 0, 100)) == [0, 1]


async def test_two_instances_on_one_file_deliver_everything_in_order(open_tail: Opener) -> None:
    """Two processes' worth of store, bus and worker on one SQLite file, both publishing:
    every webhook gets every event exactly once, in publish order."""
    config = make_config()
    a, b = await open_tail(), await open_tail()
    async with (
        serving(Receiver()) as rx1,
        serving(Receiver()) as rx2,
        sending(config) as sender,
    ):
        await add_webhook(a, rx1.url)
        await add_webhook(b, rx2.url)
        bus_a, bus_b = Bus(a), Bus(b)
        worker_a = Worker(a, sender, config, owner="a")
        worker_b = Worker(b, sender, config, owner="b")
        bus_a.on_publish(worker_a.wake)
        bus_b.on_publish(worker_b.wake)
        async with running(worker_a, worker_b):
            for n in range(0, 400, 10):
                bus = (bus_a, bus_b)[n // 10 % 3 == 0]
                await bus.publish(
                    hooks.ORG, hooks.SITE, hooks.TOPIC, [{"n": i} for i in range(n, n + 10)]
                )
                await asyncio.sleep(0.002)
            await until(lambda: len(rx1.events) >= 400 and len(rx2.events) >= 400)
            await asyncio.sleep(0.3)
    for rx in (rx1, rx2):
        assert [e["n"] for e in rx.events] == list(range(400))


async def test_a_read_during_an_append_waits_for_it_instead_of_reading_back(
    open_tail: Opener,
) -> None:
    """A read that finds nothing while this instance's append is in flight gets the new
    events from memory once the append is done (the store is not asked)."""
    store = await open_tail()
    seqs = await append(store, event(0))
    appending = asyncio.create_task(append(store, event(1), event(2)))
    await asyncio.sleep(0)  # the append is now on its way to the store
    read = await store.read_events(TOPIC, ORG, SITE, seqs[0], 100)
    await appending
    assert numbers(read) == [1, 2]
    again = await store.read_events(TOPIC, ORG, SITE, seqs[0], 100)
    assert all(a is b for a, b in zip(read, again, strict=True))  # both from memory
