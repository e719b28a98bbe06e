"""Retention: pruning by age, and the stream status that tells a receiver fell behind it.

Runs on memory, SQLite and PostgreSQL (the root ``store`` fixture), with the real worker,
sender and receivers on 127.0.0.1 where deliveries are involved.
"""

from __future__ import annotations

import logging
import time
import uuid
from typing import Any

import orjson
import pytest

from misthook.bus import Bus
from misthook.config import Config
from misthook.delivery.retention import Retention
from misthook.delivery.sender import Sender
from misthook.delivery.worker import Worker
from misthook.domain.egress import EgressPolicy
from misthook.services.deliveries import LAG_COUNT_MAX, Deliveries
from misthook.store.base import AppendEvents, NewEvent, OpenStream, Put, Query, Store, where
from tests.integration.test_worker import (
    ORG,
    SITE,
    TOPIC,
    Receiver,
    add_webhook,
    make_config,
    publish,
    running,
    sending,
    serving,
    until,
)

NOW = 1_000_000.0
RETENTION_S = 100.0


def _event(timestamp: float, n: int) -> NewEvent:
    body = b'{"n":%d}' % n
    return NewEvent(str(uuid.uuid4()), ORG, SITE, TOPIC, timestamp, body)


def _logged(collection: str, timestamp: float) -> Put:
    return Put(collection, {"id": str(uuid.uuid4()), "webhook_id": "w", "timestamp": timestamp})


def _status_service(store: Store, config: Config) -> Deliveries:
    # stream_status reads only the store; the sender is never started
    return Deliveries(store, Bus(store), Sender(EgressPolicy()), config)


async def _status(store: Store, config: Config, webhook_id: str) -> dict[str, Any]:
    [status] = [
        s
        for s in await _status_service(store, config).stream_status(webhook_id)
        if s["topic"] == TOPIC
    ]
    return status


async def test_prune_once_removes_only_what_is_older_than_the_retention(store: Store) -> None:
    """Events, delivery records and parked messages older than the retention go; newer
    ones, the cutoff itself and the streams stay."""
    old, edge, new = NOW - RETENTION_S - 1, NOW - RETENTION_S, NOW - 1
    result = await store.commit(
        [
            AppendEvents([_event(old, 0), _event(old, 1), _event(edge, 2), _event(new, 3)]),
            OpenStream("w", TOPIC, ORG, SITE),
            *(_logged(c, t) for c in ("deliveries", "parked") for t in (old, edge, new)),
        ]
    )
    [stream_before] = await store.list_streams("w")

    cutoff = await Retention(store, RETENTION_S, clock=lambda: NOW).prune_once()

    assert cutoff == NOW - RETENTION_S
    kept = await store.read_events(TOPIC, ORG, SITE, 0, 10)
    assert [e.body for e in kept] == [b'{"n":2}', b'{"n":3}']
    assert await store.oldest_seq() == result.event_seqs[2]
    for collection in ("deliveries", "parked"):
        docs = await store.query(collection, Query(where(webhook_id="w"), sort="timestamp"))
        assert [d["timestamp"] for d in docs] == [edge, new]
    assert await store.list_streams("w") == [stream_before]


async def test_prune_once_of_an_empty_store_is_harmless(store: Store) -> None:
    """Nothing to prune: the pass commits and changes nothing; a second pass neither."""
    retention = Retention(store, RETENTION_S, clock=lambda: NOW)
    assert await retention.prune_once() == NOW - RETENTION_S
    assert await retention.prune_once() == NOW - RETENTION_S
    assert await store.oldest_seq() == 0


async def test_the_worker_prunes_in_the_background(store: Store) -> None:
    """A running worker prunes events older than ``retention_s`` without being asked."""
    config = make_config(retention_s=60.0)
    stale = time.time() - 3600
    await store.commit([AppendEvents([_event(stale, 0), _event(stale, 1)])])
    fresh = await store.commit([AppendEvents([_event(time.time(), 2)])])
    async with sending(config) as sender, running(Worker(store, sender, config)):
        await until(lambda: _oldest_is(store, fresh.event_seqs[0]))
    assert [e.body for e in await store.read_events(TOPIC, ORG, SITE, 0, 10)] == [b'{"n":2}']


async def _oldest_is(store: Store, seq: int) -> bool:
    return await store.oldest_seq() == seq


async def test_stream_status_counts_the_lag_up_to_its_cap(store: Store) -> None:
    """lag counts the events after the cursor, capped at LAG_COUNT_MAX with lag_capped."""
    config = make_config()
    hook = await add_webhook(store, "http://127.0.0.1:9/hook")
    status = await _status(store, config, hook["id"])
    assert (status["lag"], status["lag_capped"], status["attempt"]) == (0, False, 0)
    assert status["failing_since"] is None and status["behind_retention"] is False

    bus = Bus(store)
    await publish(bus, 5)
    assert (await _status(store, config, hook["id"]))["lag"] == 5
    await publish(bus, LAG_COUNT_MAX)
    status = await _status(store, config, hook["id"])
    assert (status["lag"], status["lag_capped"]) == (LAG_COUNT_MAX, True)
    assert status["cursor"] == (await store.list_streams(hook["id"]))[0].cursor


async def test_a_dead_receiver_falls_behind_the_retention_and_says_so(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    """A receiver failing for longer than the retention loses the events pruned meanwhile:
    stream_status says behind_retention, the worker logs it, and once the receiver is back
    it gets the events still kept, and the status clears."""
    caplog.set_level(logging.WARNING, logger="misthook.delivery.worker")
    config = make_config(
        retention_s=1.0, disable_after_failing_s=3600.0, retry_schedule_s=(0.1,) * 200
    )
    async with serving(Receiver(default_status=500)) as rx, sending(config) as sender:
        hook = await add_webhook(store, rx.url)
        bus = Bus(store)
        worker = Worker(store, sender, config, prune=False)
        bus.on_publish(worker.wake)
        async with running(worker):
            await publish(bus, 3)
            await until(lambda: _failing_for(store, hook["id"], 1.3))
            status = await _status(store, config, hook["id"])
            # failing for longer than the retention, but nothing was pruned yet
            assert status["failing_since"] is not None and status["lag"] == 3
            assert status["behind_retention"] is False
            assert "fell behind the retention" not in caplog.text

            await Retention(store, config.retention_s).prune_once()
            await publish(bus, 1, start=3)  # a new event: the stream is tried again
            await until(lambda: "fell behind the retention" in caplog.text)
            status = await _status(store, config, hook["id"])
            assert status["behind_retention"] is True
            assert status["lag"] == 1  # only the event published after the prune is left

            rx.default_status = 200
            await until(lambda: _delivered(rx))
            await until(lambda: _recovered(store, config, hook["id"]))
        # after the prune, every attempt carried only the kept event: the pruned never arrive
        after_prune = [b for b in rx.bodies if any(e["n"] == 3 for e in _events_of(b))]
        assert after_prune and all([e["n"] for e in _events_of(b)] == [3] for b in after_prune)
        [record] = [r for r in caplog.records if "fell behind" in r.getMessage()]
        assert record.levelno == logging.WARNING and hook["id"] in record.getMessage()


async def _failing_for(store: Store, webhook_id: str, seconds: float) -> bool:
    streams = [s for s in await store.list_streams(webhook_id) if s.topic == TOPIC]
    since = streams[0].failing_since if streams else None
    return since is not None and time.time() - since > seconds


def _delivered(rx: Receiver) -> bool:
    return bool(rx.bodies) and [e["n"] for e in _events_of(rx.bodies[-1])] == [3]


def _events_of(body: bytes) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = orjson.loads(body)["events"]
    return events


async def _recovered(store: Store, config: Config, webhook_id: str) -> bool:
    status = await _status(store, config, webhook_id)
    return status["failing_since"] is None and status["behind_retention"] is False
