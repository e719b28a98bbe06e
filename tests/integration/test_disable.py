"""Disabling a webhook from the worker through the real webhook service: failing with no
success for ``disable_after_failing_s``, and one success (any topic) restarting that clock."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator

import orjson
from aiohttp import web

from misthook.bus import Bus
from misthook.delivery.worker import Worker
from misthook.services.audit import AuditLog
from misthook.services.webhooks import Webhooks
from misthook.store.base import OpenStream, Query, Store, where
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

HEALTHY_TOPIC = "device-events"


async def _anywhere(url: str) -> str | None:
    return None  # the egress guard is the sender's; these tests send to 127.0.0.1 only


def _webhooks(store: Store, bus: Bus) -> Webhooks:
    return Webhooks(store, bus, AuditLog(store, bus), _anywhere)


async def _enabled(store: Store, webhook_id: str) -> bool:
    webhook = await store.get("webhooks", webhook_id)
    return webhook is not None and webhook.get("enabled") is True


async def test_failing_for_too_long_disables_through_the_service(store: Store) -> None:
    """Only 500s for disable_after_failing_s: the service disables the webhook (reason,
    audit entry by misthook, streams closed) and nothing more is sent."""
    config = make_config(disable_after_failing_s=0.5, retry_schedule_s=(0.05,) * 100)
    async with serving(Receiver(default_status=500)) as rx, sending(config) as sender:
        hook = await add_webhook(store, rx.url)
        bus = Bus(store)
        worker = Worker(store, sender, config, on_disable=_webhooks(store, bus).disable)
        bus.on_publish(worker.wake)
        async with running(worker):
            started = time.monotonic()
            await publish(bus, 1)
            await until(lambda: _disabled(store, hook["id"]))
            elapsed = time.monotonic() - started
            sent = len(rx.bodies)
            await publish(bus, 1, start=1)
            await asyncio.sleep(0.3)
        assert elapsed >= 0.5 and sent >= 3
        assert len(rx.bodies) == sent
    webhook = await store.get("webhooks", hook["id"])
    assert webhook is not None
    assert webhook["disabled_reason"] == "every delivery failed for 0.5 seconds"
    assert await store.list_streams(hook["id"]) == []
    [entry] = await store.query("audit_logs", Query(where(org_id=ORG)))
    assert entry["message"] == 'Disable Webhook "test": every delivery failed for 0.5 seconds'
    assert entry["admin_name"] == "misthook"


async def _disabled(store: Store, webhook_id: str) -> bool:
    return not await _enabled(store, webhook_id)


@contextlib.asynccontextmanager
async def topic_receiver(failing_topic: str) -> AsyncIterator[tuple[str, list[str]]]:
    """Answers 500 to messages of ``failing_topic`` and 200 to the others; yields the URL
    and the topics of the messages received, in order."""
    topics: list[str] = []

    async def handle(request: web.Request) -> web.Response:
        topic = str(orjson.loads(await request.read())["topic"])
        topics.append(topic)
        return web.Response(status=500 if topic == failing_topic else 200)

    app = web.Application()
    app.router.add_post("/hook", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}/hook", topics
    finally:
        await runner.cleanup()


async def test_one_success_on_another_topic_restarts_the_clock(store: Store) -> None:
    """A webhook whose alarms always fail but whose device events succeed is not disabled
    (a single success resets the clock); once the successes stop, it is, no sooner than
    disable_after_failing_s after the last one."""
    config = make_config(disable_after_failing_s=0.6, retry_schedule_s=(0.05,) * 400)
    async with topic_receiver(TOPIC) as (url, topics), sending(config) as sender:
        hook = await add_webhook(store, url, topics=[TOPIC, HEALTHY_TOPIC])
        await store.commit([OpenStream(hook["id"], HEALTHY_TOPIC, ORG, SITE)])
        bus = Bus(store)
        worker = Worker(store, sender, config, on_disable=_webhooks(store, bus).disable)
        bus.on_publish(worker.wake)
        async with running(worker):
            await publish(bus, 1)  # fails from now on
            for n in range(12):  # 2.4 s of successes, four times the disable window
                await bus.publish(ORG, SITE, HEALTHY_TOPIC, [{"type": "AP_RESTARTED", "n": n}])
                await asyncio.sleep(0.2)
                assert await _enabled(store, hook["id"]), f"disabled after {n} successes"
            last_success = time.time()
            await until(lambda: _disabled(store, hook["id"]), timeout_s=5)
            disabled_at = time.time()
        assert topics.count(TOPIC) >= 20 and topics.count(HEALTHY_TOPIC) == 12
        assert disabled_at - last_success >= 0.6 - 0.25  # the last success was logged earlier
        [record] = await store.query(
            "audit_logs", Query(where(org_id=ORG), sort="-timestamp", limit=1)
        )
        assert record["message"].startswith('Disable Webhook "test": every delivery failed')
