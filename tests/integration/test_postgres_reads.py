"""PostgreSQL reads of the event log take the ordered index range scan, whatever the
statistics say.

A table that has just taken a burst of appends (a new deployment, a backlog while a
receiver was down) has statistics that say it is nearly empty; the planner then
bitmap-scanned and sorted every event after the cursor for each read of a thousand.
"""

from __future__ import annotations

import dataclasses
import time

import asyncpg
import pytest

from misthook.store.base import AppendEvents, NewEvent
from misthook.store.postgres import _READ_ORG_SEGMENTS, _READ_SITE_SEGMENTS, PostgresStore

pytestmark = pytest.mark.postgres

ORG = "org-1"
SITE = "site-1"
TOPIC = "device-events"


async def analyze(url: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute("ANALYZE event_segments")
    finally:
        await conn.close()


async def test_reads_after_a_burst_are_ordered_index_scans(fresh_postgres_url: str) -> None:
    store = PostgresStore(fresh_postgres_url)
    await store.open()
    try:
        events = [
            NewEvent(f"ev-{n}", ORG, SITE, TOPIC, time.time(), b'{"n":%d}' % n)
            for n in range(20_000)
        ]
        # The statistics of a table that held a few audits, then a burst of another topic.
        audits = [dataclasses.replace(e, topic="audits") for e in events[:10]]
        await store.commit([AppendEvents(audits)])
        await analyze(fresh_postgres_url)
        for at in range(10, len(events), 5000):
            await store.commit([AppendEvents(events[at : at + 5000])])
        # Through the store: the right events, in order, from anywhere in the burst.
        read = await store.read_events(TOPIC, ORG, SITE, 100, 1000)
        assert [e.seq for e in read] == list(range(101, 1101))
        read = await store.read_events(TOPIC, ORG, None, 19_500, 1000)
        assert [e.seq for e in read] == list(range(19_501, 20_001))
        # The plans on the connections the store reads with.
        async with store._reads.acquire() as conn:
            assert await conn.fetchval("SHOW enable_bitmapscan") == "off"
            assert await conn.fetchval("SHOW enable_sort") == "off"
            for statement, args in (
                (_READ_SITE_SEGMENTS, (TOPIC, SITE, ORG, 100, 3, 1000)),
                (_READ_ORG_SEGMENTS, (TOPIC, ORG, 100, 3, 1000)),
            ):
                rows = await conn.fetch(f"EXPLAIN (COSTS OFF) {statement}", *args)
                plan = "\n".join(r[0] for r in rows)
                assert "Index Scan using event_segments_topic_" in plan, plan
                assert "Sort" not in plan and "Bitmap" not in plan, plan
    finally:
        await store.close()


async def test_events_are_kept_in_segments_and_read_whole(fresh_postgres_url: str) -> None:
    """An append of 5,000 events is ten rows; a read answers its whole limit, from inside
    a segment and across many one-event segments (more than a read asks for at once)."""
    store = PostgresStore(fresh_postgres_url)
    await store.open()
    try:
        burst = [NewEvent(f"ev-{n}", ORG, SITE, TOPIC, 1.0, b'{"n":%d}' % n) for n in range(5000)]
        seqs = (await store.commit([AppendEvents(burst)])).event_seqs
        assert seqs == list(range(1, 5001))
        async with store._reads.acquire() as conn:
            assert await conn.fetchval("SELECT count(*) FROM event_segments") == 10
        read = await store.read_events(TOPIC, ORG, SITE, 250, 1000)
        assert [e.seq for e in read] == list(range(251, 1251))
        assert [e.body for e in read[:2]] == [b'{"n":250}', b'{"n":251}']
        for n in range(300):  # an append each: a segment each
            one = NewEvent(f"one-{n}", ORG, SITE, "audits", 2.0, b'{"one":%d}' % n)
            await store.commit([AppendEvents([one])])
        read = await store.read_events("audits", ORG, None, 0, 280)
        assert [e.id for e in read] == [f"one-{n}" for n in range(280)]
        assert len(await store.read_events("audits", ORG, SITE, 5010, 1000)) == 290
    finally:
        await store.close()
