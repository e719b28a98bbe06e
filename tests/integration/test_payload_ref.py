"""Delivery records keep their body by reference to the event log, and every reader still
sees Mist's ``req_payload`` and ``event_ids`` exactly as sent.

Real stores (memory, SQLite, PostgreSQL, and the first two behind the tail cache), the real
worker and sender, real receivers on 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest

from misthook.bus import Bus
from misthook.config import Config
from misthook.delivery.worker import Worker
from misthook.domain.topics import PING_STREAM_PREFIX
from misthook.errors import BadRequestError
from misthook.services.deliveries import Deliveries
from misthook.store.base import (
    AppendEvents,
    NewEvent,
    OpenStream,
    PruneEvents,
    Put,
    Store,
)
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
    stored_deliveries,
    until,
)


@contextlib.asynccontextmanager
async def delivered(
    store: Store, config: Config, count: int, **webhook: Any
) -> AsyncIterator[tuple[Receiver, dict[str, Any], list[str], Deliveries]]:
    """``count`` events published and delivered to one webhook; yields the receiver, the
    webhook, the event ids and the delivery service (its sender still open for resends)."""
    async with serving(Receiver()) as rx, sending(config) as sender:
        hook = await add_webhook(store, rx.url, **webhook)
        ids = await publish(Bus(store), count)
        async with running(Worker(store, sender, config, prune=False)):
            await until(lambda: sum(map(_events_in, rx.bodies)) >= count)
            await until(lambda: _logged(store, hook["id"], len(rx.bodies)))
        yield rx, hook, ids, Deliveries(store, Bus(store), sender, config)


def _events_in(body: bytes) -> int:
    """Events in a Mist message or in a Splunk body (one HEC event per line)."""
    if body.startswith(b'{"topic"'):
        return len(orjson.loads(body)["events"])
    return body.count(b"\n") + 1


async def _logged(store: Store, webhook_id: str, n: int) -> bool:
    return len(await stored_deliveries(store, webhook_id)) >= n


async def search(service: Deliveries, webhook_id: str) -> list[dict[str, Any]]:
    """Every record of the webhook through the service behind the API and the web UI."""
    answer = await service.search(webhook_id, {"sort": "timestamp", "limit": "1000"}, "/x")
    results: list[dict[str, Any]] = answer["results"]
    return results


async def test_a_worker_record_stores_a_reference_not_the_body(store: Store) -> None:
    """The stored doc of a 300-event batch has no body or id copies, only the reference:
    it is a few hundred bytes whatever the message size."""
    async with delivered(store, make_config(), 300) as (rx, hook, _, _):
        [stored] = await stored_deliveries(store, hook["id"])
    assert len(rx.bodies) == 1
    assert "req_payload" not in stored and "event_ids" not in stored
    ref = stored["payload_ref"]
    assert ref["stream_topic"] == TOPIC and ref["event_count"] == 300
    assert ref["seq_last"] - ref["seq_first"] == 299
    assert ref["format"] == "mist" and ref["bytes"] == len(rx.bodies[0])
    assert len(orjson.dumps(stored)) < 2000 < len(rx.bodies[0])


async def test_search_rebuilds_the_exact_body_and_ids(store: Store) -> None:
    """Search answers the byte-exact body the receiver got and the ids of its events, in
    Mist's field order, without the internal reference."""
    config = make_config(batch_max_events=120)
    async with delivered(store, config, 300) as (rx, hook, ids, service):
        records = await search(service, hook["id"])
    assert [r["req_payload"].encode() for r in records] == rx.bodies
    assert [i for r in records for i in r["event_ids"]] == ids
    assert [len(r["event_ids"]) for r in records] == [120, 120, 60]
    for record in records:
        assert "payload_ref" not in record and "payload_pruned" not in record
        keys = list(record)
        assert keys.index("req_headers") + 1 == keys.index("req_payload")
        assert keys.index("attempt") + 1 == keys.index("event_ids")


async def test_a_splunk_record_rebuilds_the_splunk_body(store: Store) -> None:
    """A Splunk webhook's record rebuilds its HEC lines, not a Mist envelope."""
    async with delivered(store, make_config(), 5, type="splunk", splunk_token="t") as (
        rx,
        hook,
        ids,
        service,
    ):
        [record] = await search(service, hook["id"])
    [stored] = await stored_deliveries(store, hook["id"])
    assert stored["payload_ref"]["format"] == "splunk"
    assert record["req_payload"].encode() == rx.bodies[0]
    assert orjson.loads(record["req_payload"].split("\n")[0])["sourcetype"] == f"mist:{TOPIC}"
    assert record["event_ids"] == ids


async def test_a_ping_record_rebuilds_from_the_ping_stream(store: Store) -> None:
    """A ping goes through the webhook's own ping:<id> stream; its record rebuilds the
    ping message (topic "ping") from that stream."""
    config = make_config()
    async with serving(Receiver()) as rx, sending(config) as sender:
        hook = await add_webhook(store, rx.url)
        stream_topic = PING_STREAM_PREFIX + hook["id"]
        await store.commit([OpenStream(hook["id"], stream_topic, ORG, SITE)])
        [ping_id] = await Bus(store).publish(ORG, SITE, stream_topic, [{"name": "ping"}])
        async with running(Worker(store, sender, config, prune=False)):
            await until(lambda: len(rx.bodies) >= 1)
            await until(lambda: _logged(store, hook["id"], 1))
        service = Deliveries(store, Bus(store), sender, config)
        [record] = await search(service, hook["id"])
    [stored] = await stored_deliveries(store, hook["id"])
    assert stored["payload_ref"]["stream_topic"] == stream_topic
    assert record["topic"] == "ping" and orjson.loads(rx.bodies[0])["topic"] == "ping"
    assert record["req_payload"].encode() == rx.bodies[0]
    assert record["event_ids"] == [ping_id]


async def test_resend_of_a_reference_sends_the_same_bytes(store: Store) -> None:
    """Resend rebuilds the message from the log: the same bytes reach the receiver, the
    answer shows them, and the new record is itself a reference."""
    async with delivered(store, make_config(), 40) as (rx, hook, ids, service):
        [first] = await stored_deliveries(store, hook["id"])
        answer = await service.resend(hook, first["id"])
        assert len(rx.bodies) == 2 and rx.bodies[1] == rx.bodies[0]
    assert answer["status"] == "success" and answer["resend_of"] == first["id"]
    assert answer["req_payload"].encode() == rx.bodies[0]
    assert answer["event_ids"] == ids and "payload_ref" not in answer
    stored = {d["id"]: d for d in await stored_deliveries(store, hook["id"])}
    again = stored[answer["id"]]
    assert "req_payload" not in again
    assert again["payload_ref"] == first["payload_ref"] and again["attempt"] == 2


def _event(timestamp: float, n: int) -> NewEvent:
    return NewEvent(str(uuid.uuid4()), ORG, SITE, TOPIC, timestamp, b'{"n":%d}' % n)


@pytest.mark.parametrize("pruned", [10, 4], ids=["all", "some"])
async def test_a_record_whose_events_were_pruned_says_so(store: Store, pruned: int) -> None:
    """Retention pruned all or only the first events of a message whose record is kept
    (a later message's events would fill the read up to its count: the seqs tell): search
    answers an empty body and ``payload_pruned``, resend a 400 saying why."""
    config = make_config()
    now = time.time()
    async with serving(Receiver()) as rx, sending(config) as sender:
        hook = await add_webhook(store, rx.url)
        old = [_event(now - 1000, n) for n in range(pruned)]
        await store.commit([AppendEvents([*old, *(_event(now, n) for n in range(pruned, 10))])])
        async with running(Worker(store, sender, config, prune=False)):
            await until(lambda: len(rx.events) >= 10)
            await store.commit([AppendEvents([_event(now, n) for n in range(10, 20)])])
            await until(lambda: len(rx.events) >= 20)
            await until(lambda: _logged(store, hook["id"], 2))
        assert len(rx.bodies) == 2
        await store.commit([PruneEvents(before=now - 500)])
        service = Deliveries(store, Bus(store), sender, config)
        [record, later] = await search(service, hook["id"])
        assert record["payload_pruned"] is True
        assert (record["req_payload"], record["event_ids"]) == ("", [])
        assert record["status"] == "success" and "payload_ref" not in record
        assert later["req_payload"].encode() == rx.bodies[1] and "payload_pruned" not in later
        with pytest.raises(BadRequestError) as raised:
            await service.resend(hook, record["id"])
    assert raised.value.status_code == 400
    assert "pruned" in raised.value.body()["detail"]
    assert len(rx.bodies) == 2  # nothing was sent again


async def test_a_literal_record_is_shown_and_resent_as_stored(store: Store) -> None:
    """Records written with the body itself (before references, or recovered parked
    messages) are answered as they are and resend posts their body."""
    config = make_config()
    body = '{"topic":"alarms","events":[{"n":7}]}'
    async with serving(Receiver()) as rx, sending(config) as sender:
        hook = await add_webhook(store, rx.url)
        literal = {
            "id": str(uuid.uuid4()),
            "org_id": ORG,
            "site_id": SITE,
            "webhook_id": hook["id"],
            "topic": TOPIC,
            "status": "failure",
            "status_code": 500,
            "req_payload": body,
            "timestamp": time.time(),
            "attempt": 1,
            "event_ids": ["e-7"],
        }
        await store.commit([Put("deliveries", literal)])
        service = Deliveries(store, Bus(store), sender, config)
        [record] = await search(service, hook["id"])
        answer = await service.resend(hook, literal["id"])
    assert record == literal
    assert rx.bodies == [body.encode()]
    assert answer["req_payload"] == body and answer["event_ids"] == ["e-7"]


async def test_a_literal_splunk_record_and_a_parked_splunk_message_are_sent_again(
    store: Store,
) -> None:
    """A Splunk body kept as it was sent (an old record, a parked message) is sent again as
    the same HEC lines, by resend and by recover."""
    config = make_config()
    body = (
        b'{"event":{"n":7},"sourcetype":"mist:alarms"}\n'
        b'{"event":{"n":8,"s":"a\\nb"},"sourcetype":"mist:alarms"}'
    )
    async with serving(Receiver()) as rx, sending(config) as sender:
        hook = await add_webhook(store, rx.url, type="splunk", splunk_token="t")
        common = {"org_id": ORG, "site_id": SITE, "webhook_id": hook["id"], "topic": TOPIC}
        literal = {
            **common,
            "id": str(uuid.uuid4()),
            "status": "failure",
            "status_code": 500,
            "req_payload": body.decode(),
            "timestamp": time.time(),
            "attempt": 1,
            "event_ids": ["e-7", "e-8"],
        }
        parked = {
            **common,
            "id": str(uuid.uuid4()),
            "event_ids": ["e-7", "e-8"],
            "body": body.decode(),
            "attempts": 3,
            "timestamp": time.time(),
        }
        await store.commit([Put("deliveries", literal), Put("parked", parked)])
        service = Deliveries(store, Bus(store), sender, config)
        answer = await service.resend(hook, literal["id"])
        recovered = await service.recover(hook, 0)
    assert rx.bodies == [body, body]
    assert answer["status"] == "success" and answer["event_ids"] == ["e-7", "e-8"]
    assert recovered == {"parked": 1, "resent": 1, "failed": 0, "remaining": 0}
    assert rx.requests[0]["Authorization"] == "Splunk t"
