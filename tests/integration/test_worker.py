"""The delivery worker against a real store, the real sender and real receivers on 127.0.0.1."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import hashlib
import hmac
import inspect
import logging
import re
import time
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import orjson
import pytest
from aiohttp import web

from misthook.bus import Bus
from misthook.config import Config
from misthook.delivery import payload_ref
from misthook.delivery import worker as worker_module
from misthook.delivery.sender import Sender
from misthook.delivery.worker import Worker
from misthook.domain.egress import EgressPolicy
from misthook.store.base import OpenStream, Put, Query, Store, where
from misthook.store.postgres import PostgresStore

ORG = str(uuid.uuid4())
SITE = str(uuid.uuid4())
TOPIC = "alarms"  # its Mist schema carries an event id
SECRET = "s3cret"


# --- receivers -------------------------------------------------------------------------


@dataclasses.dataclass
class Receiver:
    """An aiohttp server that records every POST and answers from a script of statuses."""

    statuses: list[int] = dataclasses.field(default_factory=list)  # popped per request
    default_status: int = 200
    headers: dict[str, str] = dataclasses.field(default_factory=dict)
    bodies: list[bytes] = dataclasses.field(default_factory=list)
    requests: list[dict[str, str]] = dataclasses.field(default_factory=list)
    paths: list[str] = dataclasses.field(default_factory=list)
    delay_s: float = 0.0  # before each answer
    url: str = ""
    in_flight: int = 0  # requests received and not yet answered
    most_in_flight: int = 0

    async def handle(self, request: web.Request) -> web.Response:
        self.paths.append(request.path)
        if request.path == "/hook":
            self.bodies.append(await request.read())
            self.requests.append(dict(request.headers))
        status = self.statuses.pop(0) if self.statuses else self.default_status
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            if self.delay_s:
                await asyncio.sleep(self.delay_s)
        finally:
            self.in_flight -= 1
        return web.Response(status=status, text="Ok", headers=self.headers)

    @property
    def events(self) -> list[dict[str, Any]]:
        return [e for body in self.bodies for e in orjson.loads(body)["events"]]


@contextlib.asynccontextmanager
async def serving(receiver: Receiver) -> AsyncIterator[Receiver]:
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", receiver.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    receiver.url = f"http://127.0.0.1:{port}/hook"
    try:
        yield receiver
    finally:
        await runner.cleanup()


@contextlib.asynccontextmanager
async def black_hole() -> AsyncIterator[str]:
    """A TCP server that accepts connections and never answers."""
    held: list[asyncio.StreamWriter] = []

    async def swallow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)
        with contextlib.suppress(Exception):
            while await reader.read(65536):
                pass

    server = await asyncio.start_server(swallow, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}/hook"
    finally:
        for writer in held:
            writer.close()
        server.close()


# --- fixtures --------------------------------------------------------------------------


# ``store`` (root conftest): memory, SQLite and PostgreSQL, a fresh one per test.


def make_config(**overrides: Any) -> Config:
    values: dict[str, Any] = {
        "egress_allow": ("127.0.0.0/8",),
        "poll_interval_s": 0.05,
        "lease_s": 5.0,
        "retry_schedule_s": (0.05, 0.05),
        "total_timeout_s": 5.0,
    }
    values.update(overrides)
    return Config(**values)


@contextlib.asynccontextmanager
async def sending(config: Config) -> AsyncIterator[Sender]:
    sender = Sender(
        EgressPolicy(allow=config.egress_allow),
        connect_timeout_s=config.connect_timeout_s,
        total_timeout_s=config.total_timeout_s,
    )
    await sender.start()
    try:
        yield sender
    finally:
        await sender.close()


@contextlib.asynccontextmanager
async def running(*workers: Worker) -> AsyncIterator[None]:
    stop = asyncio.Event()
    tasks = [asyncio.create_task(w.run(stop)) for w in workers]
    try:
        yield
    finally:
        stop.set()
        await asyncio.wait_for(asyncio.gather(*tasks), 10)


async def add_webhook(store: Store, url: str, **fields: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "id": str(uuid.uuid4()),
        "org_id": ORG,
        "site_id": SITE,
        "name": "test",
        "type": "http-post",
        "url": url,
        "secret": SECRET,
        "topics": [TOPIC],
        "enabled": True,
        "verify_cert": True,
        "single_event_per_message": False,
        "created_time": time.time(),
    }
    doc.update(fields)
    await store.commit([Put("webhooks", doc), OpenStream(doc["id"], TOPIC, ORG, doc["site_id"])])
    return doc


async def until(check: Callable[[], object], timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        result = check()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


async def publish(bus: Bus, count: int, start: int = 0) -> list[str]:
    return await bus.publish(ORG, SITE, TOPIC, [{"n": i} for i in range(start, start + count)])


async def deliveries(store: Store, webhook_id: str) -> list[dict[str, Any]]:
    """The webhook's delivery records as the readers show them (the body rebuilt)."""
    rows = await stored_deliveries(store, webhook_id)
    return [await payload_ref.hydrate(store, row) for row in rows]


async def stored_deliveries(store: Store, webhook_id: str) -> list[dict[str, Any]]:
    """The webhook's delivery records exactly as stored."""
    return await store.query("deliveries", Query(where(webhook_id=webhook_id), sort="timestamp"))


# --- tests -----------------------------------------------------------------------------


async def test_backlog_goes_out_as_one_signed_batch(store: Store) -> None:
    """Events waiting when the worker starts leave in ONE signed, topic-first message."""
    config = make_config()
    async with serving(Receiver()) as rx, sending(config) as sender:
        hook = await add_webhook(store, rx.url)
        ids = await publish(Bus(store), 500)
        worker = Worker(store, sender, config)
        async with running(worker):
            await until(lambda: len(rx.events) >= 500)
        assert len(rx.bodies) == 1
        body = rx.bodies[0]
        assert body.startswith(b'{"topic":"alarms","events":[')
        assert [e["n"] for e in rx.events] == list(range(500))
        expected = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
        assert rx.requests[0]["X-Mist-Signature-v2"] == expected
        [record] = await deliveries(store, hook["id"])
        assert record["status"] == "success"
        assert record["req_payload"] == body.decode()
        assert record["event_ids"] == ids
        assert "[redacted]" in record["req_headers"]  # the signature is not logged


async def test_batches_respect_the_event_bound_and_keep_order(store: Store) -> None:
    """batch_max_events cuts a backlog into messages; events arrive in publish order."""
    config = make_config(batch_max_events=100)
    async with serving(Receiver()) as rx, sending(config) as sender:
        await add_webhook(store, rx.url)
        bus = Bus(store)
        ids = await publish(bus, 350)
        worker = Worker(store, sender, config)
        bus.on_publish(worker.wake)
        async with running(worker):
            await until(lambda: len(rx.events) >= 350)
            ids += await publish(bus, 50, start=350)
            for n in range(20):  # trickle: whatever is due goes out together
                ids += await publish(bus, 1, start=400 + n)
            await until(lambda: len(rx.events) >= 420)
        assert [len(orjson.loads(b)["events"]) for b in rx.bodies[:4]] == [100, 100, 100, 50]
        assert [e["n"] for e in rx.events] == list(range(420)) and len(ids) == 420


async def test_a_batched_stream_sends_the_next_message_only_after_an_answer(
    store: Store,
) -> None:
    """The worker builds a batched stream's next message while one is in flight, but sends
    it only once that one succeeded: one message at a time, and none after a failure
    until the failed one went through."""
    config = make_config(batch_max_events=100)
    async with serving(Receiver(statuses=[500], delay_s=0.05)) as rx, sending(config) as sender:
        hook = await add_webhook(store, rx.url)
        await publish(Bus(store), 300)
        async with running(Worker(store, sender, config)):
            await until(lambda: _count(store, hook["id"], 4))
        firsts = [orjson.loads(b)["events"][0]["n"] for b in rx.bodies]
        assert firsts == [0, 0, 100, 200]  # the retry comes before the next message
        assert rx.most_in_flight == 1
        records = await deliveries(store, hook["id"])
        assert [(r["status"], r["attempt"]) for r in records] == [
            ("failure", 1),
            ("success", 2),
            ("success", 1),
            ("success", 1),
        ]


async def test_single_event_per_message_sends_every_event_alone(store: Store) -> None:
    """single_event_per_message: one POST per event, each event once, cursor at the end."""
    config = make_config()
    async with serving(Receiver()) as rx, sending(config) as sender:
        hook = await add_webhook(store, rx.url, single_event_per_message=True)
        ids = await publish(Bus(store), 300)
        worker = Worker(store, sender, config)
        async with running(worker):
            await until(lambda: len(rx.bodies) >= 300)
            await until(lambda: _count(store, hook["id"], 300))
        assert all(len(orjson.loads(b)["events"]) == 1 for b in rx.bodies)
        assert sorted(e["n"] for e in rx.events) == list(range(300))
        records = await deliveries(store, hook["id"])
        assert sorted(i for r in records for i in r["event_ids"]) == sorted(ids)
        [stream] = await store.list_streams(hook["id"])
        assert stream.cursor == await store.max_seq()


async def test_the_worker_logs_what_it_delivered(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    """Every progress interval with attempts logs one line: messages and events taken by
    receivers, and failed attempts."""
    caplog.set_level(logging.INFO, logger=worker_module.__name__)
    config = make_config(batch_max_events=50, progress_interval_s=0.1)
    async with serving(Receiver(statuses=[500])) as rx, sending(config) as sender:
        await add_webhook(store, rx.url)
        await publish(Bus(store), 200)
        worker = Worker(store, sender, config)
        async with running(worker):
            await until(lambda: len(rx.events) >= 250)  # the first 50 twice: 500, then 200

            def logged() -> list[tuple[int, int, int]]:
                found = []
                for record in caplog.records:
                    text = record.getMessage()
                    sent = re.search(r"delivered (\d+) messages \((\d+) events", text)
                    failed = re.search(r"; (\d+) attempts failed", text)
                    if sent:
                        found.append((int(sent[1]), int(sent[2]), int(failed[1] if failed else 0)))
                return found

            await until(lambda: sum(n for n, _, _ in logged()) >= 4)
        messages, events, failed = (sum(column) for column in zip(*logged(), strict=True))
        assert (messages, events, failed) == (4, 200, 1)


@pytest.mark.parametrize("in_flight", [1, 4])
async def test_single_event_messages_in_flight_are_bounded_as_configured(
    store: Store, in_flight: int
) -> None:
    """single_event_in_flight bounds the POSTs of one stream open at once; with 1 each
    waits for the answer to the one before, so events arrive strictly in order."""
    config = make_config(single_event_in_flight=in_flight)
    open_now, most = 0, 0

    class Counting(Receiver):
        async def handle(self, request: web.Request) -> web.Response:
            nonlocal open_now, most
            open_now += 1
            most = max(most, open_now)
            try:
                return await super().handle(request)
            finally:
                open_now -= 1

    async with serving(Counting(delay_s=0.005)) as rx, sending(config) as sender:
        await add_webhook(store, rx.url, single_event_per_message=True)
        await publish(Bus(store), 60)
        async with running(Worker(store, sender, config)):
            await until(lambda: len(rx.bodies) >= 60)
    assert most == in_flight
    if in_flight == 1:
        assert [e["n"] for e in rx.events] == list(range(60))


async def _count(store: Store, webhook_id: str, n: int) -> bool:
    return await store.count("deliveries", where(webhook_id=webhook_id)) >= n


async def test_a_500_is_retried_then_the_message_succeeds(store: Store) -> None:
    """A 500 is logged as a failure and retried per schedule; the 200 moves the cursor."""
    config = make_config()
    async with serving(Receiver(statuses=[500])) as rx, sending(config) as sender:
        hook = await add_webhook(store, rx.url)
        ids = await publish(Bus(store), 3)
        worker = Worker(store, sender, config)
        async with running(worker):
            await until(lambda: _count(store, hook["id"], 2))
        records = await deliveries(store, hook["id"])
        assert [(r["status"], r["status_code"], r["attempt"]) for r in records] == [
            ("failure", 500, 1),
            ("success", 200, 2),
        ]
        assert rx.bodies[0] == rx.bodies[1]  # the retry is the same message
        assert records[1]["event_ids"] == ids
        [stream] = await store.list_streams(hook["id"])
        assert (stream.attempt, stream.failing_since) == (0, None)


async def test_exhausted_message_is_parked_and_the_stream_moves_on(store: Store) -> None:
    """After the whole schedule fails, the exact body is parked and later events flow."""
    config = make_config(retry_schedule_s=(0.02, 0.02))
    async with serving(Receiver(default_status=503)) as rx, sending(config) as sender:
        hook = await add_webhook(store, rx.url)
        bus = Bus(store)
        first = await publish(bus, 2)
        worker = Worker(store, sender, config)
        bus.on_publish(worker.wake)
        async with running(worker):
            await until(lambda: store.count("parked", where(webhook_id=hook["id"])))
            rx.default_status = 200
            later = await publish(bus, 1, start=2)
            await until(lambda: any(e["n"] == 2 for e in rx.events))
        [parked] = await store.query("parked", Query(where(webhook_id=hook["id"])))
        assert parked["event_ids"] == first
        assert parked["body"].encode() == rx.bodies[0]
        assert len(rx.bodies) == 4  # three attempts of the parked message, then the new one
        assert orjson.loads(rx.bodies[-1])["events"][0]["n"] == 2 and len(later) == 1


async def test_410_gone_disables_the_webhook(store: Store) -> None:
    """A 410 answer calls on_disable(webhook_id, reason) and is not retried."""
    config = make_config()
    disabled: list[tuple[str, str]] = []

    async def on_disable(webhook_id: str, reason: str) -> None:
        disabled.append((webhook_id, reason))

    async with serving(Receiver(default_status=410)) as rx, sending(config) as sender:
        hook = await add_webhook(store, rx.url)
        await publish(Bus(store), 1)
        worker = Worker(store, sender, config, on_disable=on_disable)
        async with running(worker):
            await until(lambda: bool(disabled))
            await asyncio.sleep(0.3)
        assert disabled[0][0] == hook["id"]
        assert "410" in disabled[0][1]
        assert len(rx.bodies) == 1


async def test_redirects_are_not_followed(store: Store) -> None:
    """A 302 is a failure recorded as such; the Location target is never visited."""
    config = make_config(retry_schedule_s=(60.0,))
    receiver = Receiver(default_status=302)
    async with serving(receiver) as rx, sending(config) as sender:
        receiver.headers = {"Location": rx.url.replace("/hook", "/elsewhere")}
        hook = await add_webhook(store, rx.url)
        await publish(Bus(store), 1)
        worker = Worker(store, sender, config)
        async with running(worker):
            await until(lambda: _count(store, hook["id"], 1))
            await asyncio.sleep(0.2)
        [record] = await deliveries(store, hook["id"])
        assert (record["status"], record["status_code"]) == ("failure", 302)
        assert "/elsewhere" not in rx.paths


async def test_black_holed_receiver_does_not_slow_a_healthy_one(store: Store) -> None:
    """While one receiver never answers, another gets its events at once."""
    config = make_config(total_timeout_s=30.0)
    async with black_hole() as dead_url, serving(Receiver()) as rx, sending(config) as sender:
        await add_webhook(store, dead_url)
        await add_webhook(store, rx.url, single_event_per_message=True)
        bus = Bus(store)
        worker = Worker(store, sender, config)
        bus.on_publish(worker.wake)
        async with running(worker):
            await publish(bus, 5)
            started = time.monotonic()
            for n in range(100):
                await publish(bus, 1, start=5 + n)
            await until(lambda: len(rx.events) >= 105, timeout_s=10)
            elapsed = time.monotonic() - started
        assert elapsed < 5.0


async def test_two_workers_never_send_one_stream_twice(store: Store) -> None:
    """Two workers on one store share the streams through leases: every event once."""
    config = make_config()
    async with serving(Receiver()) as rx, sending(config) as sender:
        hooks = [await add_webhook(store, rx.url, single_event_per_message=True) for _ in range(4)]
        bus = Bus(store)
        a = Worker(store, sender, config, owner="a")
        b = Worker(store, sender, config, owner="b")
        bus.on_publish(a.wake)
        bus.on_publish(b.wake)
        async with running(a, b):
            ids: list[str] = []
            for n in range(10):
                ids += await publish(bus, 20, start=n * 20)
            await until(lambda: len(rx.bodies) >= 4 * 200)
            await asyncio.sleep(0.3)
        assert len(rx.bodies) == 4 * 200
        for hook in hooks:
            records = await deliveries(store, hook["id"])
            assert sorted(i for r in records for i in r["event_ids"]) == sorted(ids)


async def join_a_backlog(store: Store, config: Config, share_within_s: float) -> None:
    """Worker a holds all ten busy single-event streams; b starts and must hold five within
    ``share_within_s`` (a gives them back at message boundaries); then every event of every
    webhook is delivered and recorded exactly once."""
    async with serving(Receiver(delay_s=0.02)) as rx, sending(config) as sender:
        hooks = [await add_webhook(store, rx.url, single_event_per_message=True) for _ in range(10)]
        bus = Bus(store)
        for n in range(5):
            await publish(bus, 40, start=n * 40)
        a = Worker(store, sender, config, owner="a")
        b = Worker(store, sender, config, owner="b")
        holders = functools.partial(_holders, store, hooks)
        async with running(a):
            await until(lambda: _holds(holders, "a", 10))
            async with running(b):
                await until(lambda: _holds(holders, "b", 5), timeout_s=share_within_s)
                assert (await holders()).get("a", 0) <= 5  # it gave the other five back
                await until(lambda: len(rx.bodies) >= 10 * 200, timeout_s=30.0)
                # ... and the last answers are in (records are written after them).
                await until(lambda: _recorded(store, 10 * 200), timeout_s=5.0)
        assert len(rx.bodies) == 10 * 200  # none twice
        for hook in hooks:
            records = await deliveries(store, hook["id"])
            assert len({i for r in records for i in r["event_ids"]}) == len(records) == 200


async def test_a_worker_that_joins_a_backlog_gets_half_of_the_streams(store: Store) -> None:
    """A worker that starts beside a busy one gets half of its streams, no event twice."""
    await join_a_backlog(store, make_config(lease_s=1.5, max_in_flight_per_host=16), 5.0)


@pytest.mark.postgres
async def test_on_postgres_a_joining_worker_gets_its_share_without_waiting_for_a_heartbeat(
    fresh_postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With heartbeats and polls a minute apart, a worker that joins a backlog still gets
    half of the streams at once: its joining is NOTIFYed (the other sheds now) and so are
    the streams given back (it leases them now)."""
    monkeypatch.setattr(worker_module, "HEARTBEAT_MAX_S", 60.0)
    config = make_config(lease_s=300.0, poll_interval_s=60.0, max_in_flight_per_host=16)
    store = PostgresStore(fresh_postgres_url)
    await store.open()
    try:
        await join_a_backlog(store, config, 10.0)
    finally:
        await store.close()


async def test_a_worker_that_runs_dry_gets_a_share_of_what_another_still_holds(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Worker a holds two long backlogs and b two short ones. b drains its own and runs
    dry: it asks the others to rebalance, so a gives one of its streams back at its next
    message boundary, not at its next heartbeat (a minute here), and b takes it."""
    monkeypatch.setattr(worker_module, "HEARTBEAT_MAX_S", 60.0)
    config = make_config(
        lease_s=300.0, poll_interval_s=60.0, single_event_in_flight=1, max_in_flight_per_host=16
    )
    other_site = str(uuid.uuid4())
    async with (
        serving(Receiver(delay_s=0.05)) as slow,
        serving(Receiver()) as fast,
        sending(config) as sender,
    ):
        long = [await add_webhook(store, slow.url, single_event_per_message=True) for _ in "ab"]
        for _ in "ab":
            await add_webhook(store, fast.url, site_id=other_site, single_event_per_message=True)
        bus = Bus(store)
        await publish(bus, 60)  # 3 s for each long stream, one message at a time
        a = Worker(store, sender, config, owner="a", max_streams=2)
        b = Worker(store, sender, config, owner="b")
        holders = functools.partial(_holders, store, long)
        async with running(a):
            await until(lambda: _holds(holders, "a", 2))
            await bus.publish(ORG, other_site, TOPIC, [{"n": i} for i in range(5)])
            async with running(b):
                await until(lambda: len(fast.bodies) >= 10, timeout_s=3.0)
                await until(lambda: _holds(holders, "b", 1), timeout_s=2.0)
                assert (await holders()).get("a") == 1
                await until(lambda: len(slow.bodies) >= 120, timeout_s=30.0)
                # ... and the last answers are in (a stop before them sends those again).
                await until(lambda: _recorded(store, 120 + 10), timeout_s=5.0)
        assert sorted(orjson.loads(m)["events"][0]["n"] for m in slow.bodies) == sorted(
            [*range(60), *range(60)]
        )


@pytest.mark.parametrize("grace_s", [5.0, 0.0])
async def test_a_stopping_worker_waits_for_the_answers_in_flight_and_sends_nothing_new(
    store: Store, grace_s: float
) -> None:
    """Stopped while a message waits for its answer and the next is built: with a grace,
    the answer comes in and moves the cursor, the next message is not sent, and a worker
    started later sends it; with none, the message in flight is cut off and sent again."""
    config = make_config(stop_grace_s=grace_s, batch_max_events=10)
    async with serving(Receiver(delay_s=0.5)) as rx, sending(config) as sender:
        await add_webhook(store, rx.url)
        await publish(Bus(store), 20)  # two messages: one sent, the next built meanwhile
        stop = asyncio.Event()
        first = asyncio.create_task(Worker(store, sender, config, owner="a").run(stop))
        await until(lambda: len(rx.bodies) >= 1)  # in flight: answered in 0.5 s
        await asyncio.sleep(0.1)
        stop.set()
        await asyncio.wait_for(first, 10)
        assert len(rx.bodies) == 1  # nothing new was sent while stopping
        async with running(Worker(store, sender, config, owner="b")):
            await until(lambda: len(rx.bodies) >= 2)
        again = [e["n"] for e in orjson.loads(rx.bodies[1])["events"]]
        assert again == (list(range(10, 20)) if grace_s else list(range(10)))


async def test_a_stop_waits_for_answers_at_most_half_a_lease(store: Store) -> None:
    """A message to a black hole is cut off after half a lease (here 0.5 s, the grace
    asked for being 5 s): the heartbeat no longer renews the lease while stopping."""
    config = make_config(stop_grace_s=5.0, lease_s=1.0)
    async with black_hole() as dead_url, sending(config) as sender:
        await add_webhook(store, dead_url)
        await publish(Bus(store), 1)
        stop = asyncio.Event()
        worker = Worker(store, sender, config, owner="a")
        task = asyncio.create_task(worker.run(stop))
        await asyncio.sleep(0.5)  # leased and sent: in flight, never to be answered
        began = time.monotonic()
        stop.set()
        await asyncio.wait_for(task, 10)
        took = time.monotonic() - began
    assert 0.4 < took < 2.0, f"the stop took {took:.2f} s"


async def test_a_burst_of_due_streams_is_not_held_back_by_a_stale_share(store: Store) -> None:
    """Two idle workers (a share of one stream each) take a burst of ten due streams at
    once: filling the share makes a worker look at the load again, so the ten slow sends
    run side by side instead of one at a time per worker until the next heartbeat."""
    config = make_config(lease_s=30.0, poll_interval_s=5.0)
    async with serving(Receiver(delay_s=0.3)) as rx, sending(config) as sender:
        for _ in range(10):
            await add_webhook(store, rx.url)
        bus = Bus(store)
        a = Worker(store, sender, config, owner="a")
        b = Worker(store, sender, config, owner="b")
        bus.on_publish(a.wake)
        bus.on_publish(b.wake)
        async with running(a, b):
            await asyncio.sleep(1.2)  # both have beaten: each sees two workers, no load
            started = time.monotonic()
            await publish(bus, 1)
            await until(lambda: len(rx.bodies) >= 10, timeout_s=5.0)
            took = time.monotonic() - started
        assert len(rx.bodies) == 10
        # All ten arrive before the first answer (0.3 s): none waited for another.
        assert took < 0.25, f"the tenth send arrived after {took:.2f} s"


async def _holders(store: Store, hooks: list[dict[str, Any]]) -> dict[str | None, int]:
    """How many of the hooks' streams each worker holds now (None: nobody)."""
    count: dict[str | None, int] = {}
    for hook in hooks:
        for s in await store.list_streams(hook["id"]):
            owner = s.lease_owner if s.lease_until > time.time() else None
            count[owner] = count.get(owner, 0) + 1
    return count


async def _recorded(store: Store, count: int) -> bool:
    return await store.count("deliveries", ()) >= count


async def _holds(holders: Callable[[], Any], owner: str, count: int) -> bool:
    return bool((await holders()).get(owner) == count)


async def test_a_dead_workers_lease_is_taken_over_after_it_expires(store: Store) -> None:
    """A stream leased by a worker that died is delivered by another once the lease ends."""
    config = make_config()
    async with serving(Receiver()) as rx, sending(config) as sender:
        await add_webhook(store, rx.url)
        ids = await publish(Bus(store), 10)
        leased = await store.lease_streams("dead", time.time(), 1.0, 10)
        assert len(leased) == 1
        started = time.monotonic()
        async with running(Worker(store, sender, config, owner="alive")):
            await asyncio.sleep(0.5)
            assert rx.bodies == []  # the lease is still live
            await until(lambda: len(rx.events) >= 10)
        assert time.monotonic() - started >= 0.9
        assert [e["n"] for e in rx.events] == list(range(10)) and len(ids) == 10


async def test_a_trickle_is_never_stuck_behind_a_lease(store: Store) -> None:
    """Events published one at a time each arrive promptly: a stream leased again while
    its previous task was finishing is driven again, not left leased until it expires."""
    config = make_config(lease_s=30.0, poll_interval_s=5.0)
    async with serving(Receiver()) as rx, sending(config) as sender:
        await add_webhook(store, rx.url)
        bus = Bus(store)
        worker = Worker(store, sender, config)
        bus.on_publish(worker.wake)
        async with running(worker):
            for n in range(150):
                await publish(bus, 1, start=n)
                await asyncio.sleep(0.003)
            await until(lambda: len(rx.events) >= 150, timeout_s=4.0)
        assert sorted(e["n"] for e in rx.events) == list(range(150))
