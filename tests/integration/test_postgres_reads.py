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
from misthook.store.postgres import (
    _READ_ORG_BY_LENGTH,
    _READ_ORG_EVENTS,
    _READ_SITE_BY_LENGTH,
    _READ_SITE_EVENTS,
    PostgresStore,
)

pytestmark = pytest.mark.postgres

ORG = "org-1"
SITE = "site-1"
TOPIC = "device-events"


async def analyze(url: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute("ANALYZE events")
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
                (_READ_SITE_EVENTS, (TOPIC, SITE, ORG, 100, 1000)),
                (_READ_ORG_EVENTS, (TOPIC, ORG, 100, 1000)),
                (_READ_SITE_BY_LENGTH, (TOPIC, SITE, ORG, 100, 1000)),
                (_READ_ORG_BY_LENGTH, (TOPIC, ORG, 100, 1000)),
            ):
                rows = await conn.fetch(f"EXPLAIN (COSTS OFF) {statement}", *args)
                plan = "\n".join(r[0] for r in rows)
                assert "Index Scan using events_" in plan, plan
                assert "Sort" not in plan and "Bitmap" not in plan, plan
    finally:
        await store.close()
