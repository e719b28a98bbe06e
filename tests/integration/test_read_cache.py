"""The read cache (misthook.store.read_cache) behind the tail, on real SQLite files.

A process that did not append the events (a ``misthook worker``) reads them from the
store; these tests check that other streams of the scope then get them from memory,
equal to what the store holds, and never an answer the store would not give: nothing
missing inside a range, nothing past what was read, nothing from another scope.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import orjson
import pytest

from misthook.bus import Bus
from misthook.delivery.worker import Worker
from misthook.store.base import PruneEvents, StoredEvent
from misthook.store.read_cache import EVENT_OVERHEAD_BYTES
from misthook.store.sqlite import SqliteStore
from misthook.store.tail import TailCachedStore
from tests.integration import test_worker as hooks
from tests.integration.test_tail_cache import ORG, SITE, TOPIC, append, event, numbers
from tests.integration.test_worker import (
    Receiver,
    add_webhook,
    make_config,
    running,
    sending,
    serving,
    until,
)


class CountingSqlite(SqliteStore):
    """A real SQLite store that counts the event reads it answers."""

    reads = 0

    async def read_events(
        self, topic: str, org_id: str, site_id: str | None, after_seq: int, limit: int
    ) -> list[StoredEvent]:
        self.reads += 1
        return await super().read_events(topic, org_id, site_id, after_seq, limit)


Opener = Callable[..., Awaitable[TailCachedStore]]


@pytest.fixture
async def open_store(tmp_path: Path) -> AsyncIterator[Opener]:
    """Stores on ONE SQLite file: each is a process (the first one usually appends)."""
    opened: list[TailCachedStore] = []

    async def opener(
        read_events: int = 1000, read_bytes: int = 1 << 20, file: str = "shared.db"
    ) -> TailCachedStore:
        store = TailCachedStore(
            CountingSqlite(str(tmp_path / file)),
            max_events=1000,
            max_bytes=1 << 20,
            read_cache_events=read_events,
            read_cache_bytes=read_bytes,
        )
        await store.open()
        opened.append(store)
        return store

    yield opener
    for store in opened:
        await store.close()


def reads(store: TailCachedStore) -> int:
    inner = store.inner
    assert isinstance(inner, CountingSqlite)
    return inner.reads


async def test_a_second_reader_of_the_same_events_gets_them_from_memory(
    open_store: Opener,
) -> None:
    writer, worker = await open_store(), await open_store()
    seqs = await append(writer, *(event(n) for n in range(20)))
    first = await worker.read_events(TOPIC, ORG, SITE, 0, 10)
    assert reads(worker) == 1
    again = await worker.read_events(TOPIC, ORG, SITE, 0, 10)
    assert reads(worker) == 1 and all(a is b for a, b in zip(first, again, strict=True))
    # Inside the range read, from any seq: still from memory.
    inside = await worker.read_events(TOPIC, ORG, SITE, seqs[2], 5)
    assert reads(worker) == 1 and numbers(inside) == [3, 4, 5, 6, 7]
    assert again == await worker.inner.read_events(TOPIC, ORG, SITE, 0, 10)  # the store's


async def test_a_read_inside_the_range_gets_the_rest_from_the_store(
    open_store: Opener,
) -> None:
    """From inside the range: what it holds, and the rest by the read after its end (so a
    stream one event behind another shares that stream's next read). Before the range:
    the store. Nothing is skipped, and nothing appended later is hidden."""
    writer, worker = await open_store(), await open_store()
    seqs = await append(writer, *(event(n) for n in range(10)))
    await worker.read_events(TOPIC, ORG, SITE, seqs[4], 3)  # caches 5, 6, 7
    assert reads(worker) == 1
    assert numbers(await worker.read_events(TOPIC, ORG, SITE, seqs[5], 2)) == [6, 7]
    assert reads(worker) == 1  # all from memory
    assert numbers(await worker.read_events(TOPIC, ORG, SITE, seqs[5], 4)) == [6, 7, 8, 9]
    assert reads(worker) == 2  # the read after 7, which the range now holds too
    assert numbers(await worker.read_events(TOPIC, ORG, SITE, seqs[7], 2)) == [8, 9]
    assert reads(worker) == 2
    assert numbers(await worker.read_events(TOPIC, ORG, SITE, 0, 3)) == [0, 1, 2]
    assert reads(worker) == 3
    later = await append(writer, event(10))
    found = await worker.read_events(TOPIC, ORG, SITE, seqs[-1], 5)
    assert [e.seq for e in found] == later


async def test_every_answer_is_the_stores_answer(open_store: Opener) -> None:
    """Reads from anywhere, of any length, in any order (a small cache, so ranges are
    started apart, merged and dropped too), while events keep coming: each answer equals
    the store's, and the cache stays within its bound."""
    rng = random.Random(7)
    writer = await open_store()
    worker = await open_store(read_events=60)
    seqs = await append(writer, *(event(n) for n in range(100)))
    for step in range(300):
        if step % 50 == 49:
            seqs += await append(writer, *(event(n) for n in range(len(seqs), len(seqs) + 20)))
        after = rng.choice([0, *seqs])
        limit = rng.randint(1, 40)
        site = rng.choice([SITE, None])
        answer = await worker.read_events(TOPIC, ORG, site, after, limit)
        assert answer == await worker.inner.read_events(TOPIC, ORG, site, after, limit)
        assert worker.reads.events <= 60
    assert worker.reads.hits >= 20  # the cache did answer, not only the store


async def test_reads_that_follow_on_make_one_range(open_store: Opener) -> None:
    writer, worker = await open_store(), await open_store()
    seqs = await append(writer, *(event(n) for n in range(12)))
    await worker.read_events(TOPIC, ORG, SITE, 0, 4)
    await worker.read_events(TOPIC, ORG, SITE, seqs[3], 4)
    await worker.read_events(TOPIC, ORG, SITE, seqs[7], 4)
    assert reads(worker) == 3
    # Across the seams of the three reads, from memory.
    assert numbers(await worker.read_events(TOPIC, ORG, SITE, seqs[1], 9)) == list(range(2, 11))
    assert reads(worker) == 3


async def test_streams_far_apart_keep_their_own_ranges_which_merge_when_they_meet(
    open_store: Opener,
) -> None:
    """Two groups of streams of one scope, far apart (as after a worker took some over):
    each group's reads stay in memory for the streams behind it, the one read of the
    other group does not drop them, and once the first catches up the two are one."""
    writer, worker = await open_store(), await open_store()
    seqs = await append(writer, *(event(n) for n in range(60)))
    await worker.read_events(TOPIC, ORG, SITE, 0, 10)  # events 0-9
    await worker.read_events(TOPIC, ORG, SITE, seqs[39], 10)  # 40-49, elsewhere
    await worker.read_events(TOPIC, ORG, SITE, seqs[9], 10)  # 10-19: the first goes on
    assert reads(worker) == 3
    # The streams behind each group read from memory.
    assert numbers(await worker.read_events(TOPIC, ORG, SITE, seqs[4], 15)) == list(range(5, 20))
    assert numbers(await worker.read_events(TOPIC, ORG, SITE, seqs[41], 5)) == list(range(42, 47))
    assert reads(worker) == 3
    await worker.read_events(TOPIC, ORG, SITE, seqs[19], 21)  # 20-40: reaches the second
    assert reads(worker) == 4
    assert numbers(await worker.read_events(TOPIC, ORG, SITE, seqs[2], 47)) == list(range(3, 50))
    assert reads(worker) == 4
    assert worker.reads.events == 50  # the overlap is kept once


async def test_scopes_are_kept_apart(open_store: Opener) -> None:
    """A site's events, its org's events and another topic's are separate ranges."""
    writer, worker = await open_store(), await open_store()
    await append(
        writer,
        event(0),
        event(1, site="site-2"),
        event(2, topic="alarms"),
        event(3),
        event(4, site=None),
    )
    assert numbers(await worker.read_events(TOPIC, ORG, SITE, 0, 10)) == [0, 3]
    assert numbers(await worker.read_events(TOPIC, ORG, None, 0, 10)) == [0, 1, 3, 4]
    assert numbers(await worker.read_events(TOPIC, ORG, "site-2", 0, 10)) == [1]
    assert numbers(await worker.read_events("alarms", ORG, SITE, 0, 10)) == [2]
    assert reads(worker) == 4
    assert numbers(await worker.read_events(TOPIC, ORG, None, 0, 4)) == [0, 1, 3, 4]
    assert reads(worker) == 4


async def test_the_cache_stays_within_its_bounds(open_store: Opener) -> None:
    writer = await open_store()
    worker = await open_store(read_events=25, read_bytes=1 << 20)
    seqs = await append(writer, *(event(n) for n in range(100)))
    for at in range(0, 100, 10):
        await worker.read_events(TOPIC, ORG, SITE, seqs[at] - 1, 10)
        assert worker.reads.events <= 25
    # The newest reads are kept, the oldest dropped; every answer is still the store's.
    before = reads(worker)
    assert numbers(await worker.read_events(TOPIC, ORG, SITE, seqs[79], 10)) == list(range(80, 90))
    assert reads(worker) == before
    assert numbers(await worker.read_events(TOPIC, ORG, SITE, seqs[9], 10)) == list(range(10, 20))
    assert reads(worker) == before + 1
    sized = await open_store(read_events=1000, read_bytes=10 * (1000 + EVENT_OVERHEAD_BYTES))
    big = await append(writer, *(event(n, size=1000) for n in range(100, 130)))
    for at in range(0, 30, 5):
        await sized.read_events(TOPIC, ORG, SITE, big[at] - 1, 5)
        assert sized.reads.bytes <= 10 * (1000 + EVENT_OVERHEAD_BYTES)


async def test_identical_reads_at_once_share_one_store_read(open_store: Opener) -> None:
    """Streams in step ask for the same events at the same moment: one store read; and a
    reader that is cancelled does not cancel it for the others."""
    writer, worker = await open_store(), await open_store()
    await append(writer, *(event(n) for n in range(10)))
    readers = [asyncio.create_task(worker.read_events(TOPIC, ORG, SITE, 0, 10)) for _ in range(5)]
    await asyncio.sleep(0)
    readers[0].cancel()
    answers = await asyncio.gather(*readers[1:])
    assert reads(worker) == 1
    assert all(numbers(a) == list(range(10)) for a in answers)


async def test_a_prune_empties_the_cache(open_store: Opener) -> None:
    writer, worker = await open_store(), await open_store()
    seqs = await append(writer, *(event(n) for n in range(5)))
    await worker.read_events(TOPIC, ORG, SITE, 0, 5)
    await worker.commit([PruneEvents(before=1_700_000_000.0 + 3)])
    assert worker.reads.events == 0
    assert numbers(await worker.read_events(TOPIC, ORG, SITE, 0, 5)) == [3, 4]
    assert [e.seq for e in await worker.read_events(TOPIC, ORG, SITE, 0, 2)] == seqs[3:]


async def test_zero_bounds_turn_the_cache_off(open_store: Opener) -> None:
    writer, worker = await open_store(), await open_store(read_events=0)
    await append(writer, *(event(n) for n in range(5)))
    for _ in range(3):
        assert numbers(await worker.read_events(TOPIC, ORG, SITE, 0, 5)) == list(range(5))
    assert reads(worker) == 3 and worker.reads.events == 0


async def deliver_to_ten_webhooks(open_store: Opener, read_events: int) -> int:
    """Ten batched webhooks on one topic, fed by another process, drained by a worker:
    every event arrives at every webhook in order; the worker's store reads, counted."""
    config = make_config(batch_max_events=100)
    file = f"ten-{read_events}.db"
    publisher = await open_store(file=file)
    worker_store = await open_store(read_events=read_events, file=file)
    async with serving(Receiver()) as rx, sending(config) as sender:
        for i in range(10):
            await add_webhook(publisher, rx.url, headers={"X-Hook": str(i)})
        bus = Bus(publisher)
        worker = Worker(worker_store, sender, config, owner="w")
        for n in range(0, 2000, 500):
            await bus.publish(
                hooks.ORG, hooks.SITE, hooks.TOPIC, [{"n": i} for i in range(n, n + 500)]
            )
        async with running(worker):
            await until(lambda: len(rx.events) >= 20_000, timeout_s=30)
    by_webhook: dict[str, list[int]] = {}
    for body, headers in zip(rx.bodies, rx.requests, strict=True):
        by_webhook.setdefault(headers["X-Hook"], []).extend(
            e["n"] for e in orjson.loads(body)["events"]
        )
    assert len(by_webhook) == 10
    assert all(ns == list(range(2000)) for ns in by_webhook.values())
    return reads(worker_store)


async def test_ten_webhooks_on_a_topic_read_each_event_from_the_store_about_once(
    open_store: Opener,
) -> None:
    """2000 events in reads of 100: 20 store reads serve all ten webhooks with the cache,
    200 without it (plus the empty reads at the end, in both cases)."""
    with_cache = await deliver_to_ten_webhooks(open_store, read_events=10_000)
    assert with_cache < 60
    without = await deliver_to_ten_webhooks(open_store, read_events=0)
    assert without >= 200
