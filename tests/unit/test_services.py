"""Services over the in-memory store: access rules, streams, audit, rate limit, init."""

from __future__ import annotations

import dataclasses
from typing import Any

import orjson
import pytest

from misthook.bus import Bus
from misthook.domain.privileges import Actor, Privilege
from misthook.errors import BadRequestError, ForbiddenError, NotFoundError, RateLimitedError
from misthook.services.audit import AuditLog
from misthook.services.bootstrap import initialize
from misthook.services.identity import Identity
from misthook.services.orgs import Orgs
from misthook.services.ratelimit import RateLimiter
from misthook.services.webhooks import Webhooks, ping_topic
from misthook.store.memory import InMemoryStore

HOOK = {"name": "h", "url": "http://192.0.2.10/hook", "topics": ["audits", "alarms"]}


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


@dataclasses.dataclass
class World:
    store: InMemoryStore
    bus: Bus
    identity: Identity
    orgs: Orgs
    webhooks: Webhooks
    root: Actor
    org_id: str
    site_id: str
    clock: Clock
    refused: set[str]


@pytest.fixture
async def world() -> World:
    store = InMemoryStore()
    await store.open()
    clock = Clock()
    bus = Bus(store, clock)
    audit = AuditLog(store, bus, clock)
    identity = Identity(store, bus, audit, clock)
    orgs = Orgs(store, bus, audit, identity, clock)
    refused: set[str] = set()

    async def check(url: str) -> str | None:
        return "refused by test" if url in refused else None

    webhooks = Webhooks(store, bus, audit, check, clock)
    result = await initialize(store, identity, orgs, admin_email="a@b.c", admin_password="pw")
    root = await identity.authenticate(result.token)
    return World(
        store, bus, identity, orgs, webhooks, root, result.org_id, result.site_id, clock, refused
    )


def _actor(org_id: str, *privs: Privilege) -> Actor:
    return Actor(kind="org_token", id="t", name="token", privileges=privs)


async def test_create_opens_one_stream_per_topic_and_ping(world: World) -> None:
    """An enabled webhook has a stream per topic plus its private ping stream."""
    scope = await world.webhooks.site_scope(world.root, world.site_id)
    hook = await world.webhooks.create(world.root, scope, HOOK)
    topics = {s.topic for s in await world.store.list_streams(hook["id"])}
    assert topics == {"audits", "alarms", ping_topic(hook["id"])}


async def test_disable_and_topic_change_close_streams(world: World) -> None:
    """Removing a topic closes its stream; disabling closes all; enabling reopens."""
    scope = await world.webhooks.org_scope(world.root, world.org_id)
    hook = await world.webhooks.create(world.root, scope, HOOK)
    await world.webhooks.update(world.root, scope, hook["id"], {"topics": ["audits"]})
    assert {s.topic for s in await world.store.list_streams(hook["id"])} == {
        "audits",
        ping_topic(hook["id"]),
    }
    await world.webhooks.disable(hook["id"], "410 Gone")
    assert await world.store.list_streams(hook["id"]) == []
    stored = await world.store.get("webhooks", hook["id"])
    assert stored is not None and stored["enabled"] is False
    await world.webhooks.update(world.root, scope, hook["id"], {"enabled": True})
    assert len(await world.store.list_streams(hook["id"])) == 2


async def test_new_stream_starts_at_newest_event(world: World) -> None:
    """A webhook created after events were published does not get them."""
    await world.bus.publish(world.org_id, world.site_id, "alarms", [{"type": "x"}] * 3)
    scope = await world.webhooks.site_scope(world.root, world.site_id)
    hook = await world.webhooks.create(world.root, scope, HOOK)
    streams = {s.topic: s for s in await world.store.list_streams(hook["id"])}
    assert streams["alarms"].cursor == await world.store.max_seq() - 1  # its own audit after


async def test_audit_event_shape(world: World) -> None:
    """The `audits` event carries before/after as JSON strings, site_name, no secret."""
    scope = await world.webhooks.site_scope(world.root, world.site_id)
    hook = await world.webhooks.create(world.root, scope, {**HOOK, "secret": "zz"})
    await world.webhooks.update(world.root, scope, hook["id"], {"name": "h2"})
    events = await world.store.read_events("audits", world.org_id, world.site_id, 0, 100)
    last = orjson.loads(events[-1].body)
    assert last["message"] == 'Update Webhook "h"'
    assert orjson.loads(last["before"]) == {"name": "h"}
    assert orjson.loads(last["after"]) == {"name": "h2"}
    assert last["site_name"] == "Default Site"
    assert "admin_id" not in last
    created = orjson.loads(events[-2].body)
    assert "zz" not in created["after"]


async def test_refused_destination_is_400_and_stores_nothing(world: World) -> None:
    """The egress check runs before anything is written."""
    world.refused.add(str(HOOK["url"]))
    scope = await world.webhooks.site_scope(world.root, world.site_id)
    before = await world.store.count("audit_logs", ())
    with pytest.raises(BadRequestError) as err:
        await world.webhooks.create(world.root, scope, HOOK)
    assert err.value.reason == "refused by test"
    assert await world.store.count("webhooks", ()) == 0
    assert await world.store.count("audit_logs", ()) == before


async def test_read_role_sees_masked_secret_and_cannot_write(world: World) -> None:
    """A reader gets 403 on writes and masked secrets on reads."""
    scope = await world.webhooks.org_scope(world.root, world.org_id)
    hook = await world.webhooks.create(world.root, scope, {**HOOK, "secret": "zz"})
    reader = _actor(world.org_id, Privilege("org", "read", world.org_id))
    with pytest.raises(ForbiddenError):
        await world.webhooks.org_scope(reader, world.org_id, write=True)
    read_scope = await world.webhooks.org_scope(reader, world.org_id)
    seen: dict[str, Any] = await world.webhooks.get(reader, read_scope, hook["id"])
    assert seen["secret"] != "zz"
    assert (await world.webhooks.get(world.root, scope, hook["id"]))["secret"] == "zz"


async def test_site_privilege_reaches_only_its_site(world: World) -> None:
    """A site token: its site yes, another site 404, the org's webhooks 403."""
    other = await world.orgs.create_site(world.root, world.org_id, {"name": "Other"})
    actor = _actor(world.org_id, Privilege("site", "write", world.org_id, world.site_id))
    await world.webhooks.site_scope(actor, world.site_id, write=True)
    with pytest.raises(NotFoundError):
        await world.webhooks.site_scope(actor, other["id"])
    with pytest.raises(ForbiddenError):
        await world.webhooks.org_scope(actor, world.org_id)
    rows, total, _, _ = await world.orgs.list_sites(actor, world.org_id, None, None)
    assert [s["id"] for s in rows] == [world.site_id]
    assert total == 1


async def test_delete_org_removes_everything(world: World) -> None:
    """Deleting an org removes its sites, webhooks and streams in one commit."""
    org = await world.orgs.create_org(world.root, {"name": "Gone"})
    site = await world.orgs.create_site(world.root, org["id"], {"name": "S"})
    scope = await world.webhooks.site_scope(world.root, site["id"])
    hook = await world.webhooks.create(world.root, scope, HOOK)
    await world.orgs.delete_org(world.root, org["id"])
    assert await world.store.get("sites", site["id"]) is None
    assert await world.store.get("webhooks", hook["id"]) is None
    assert await world.store.list_streams(hook["id"]) == []
    with pytest.raises(NotFoundError):
        await world.orgs.get_org(world.root, org["id"])


async def test_creator_of_org_becomes_its_admin(world: World) -> None:
    """A non-superuser admin who creates an org gets the admin privilege on it."""
    admin = await world.identity.create_admin("x@y.z", password="pw")
    actor = await world.identity.sign_in("x@y.z", "pw")
    org = await world.orgs.create_org(actor, {"name": "Mine"})
    refreshed = await world.identity.actor_for_admin_id(admin["id"])
    assert Privilege("org", "admin", org["id"]) in refreshed.privileges


async def test_init_twice_creates_nothing_twice(world: World) -> None:
    """The second init prints the same ids and a fresh, working token."""
    again = await initialize(
        world.store, world.identity, world.orgs, admin_email="a@b.c", admin_password=""
    )
    assert (again.org_id, again.site_id) == (world.org_id, world.site_id)
    assert await world.store.count("orgs", ()) == 1
    assert await world.store.count("sites", ()) == 1
    actor = await world.identity.authenticate(again.token)
    assert actor.superuser


def test_rate_limit_answers_429_with_retry_after() -> None:
    """Past the budget of the clock hour: RateLimitedError with the seconds left in the
    hour; the next hour starts afresh."""
    clock = Clock()
    clock.now = 1_800_000_000.0 // 3600 * 3600 + 100  # 100 s into an hour
    limiter = RateLimiter(3, clock)
    for _ in range(3):
        limiter.hit("k")
    clock.now += 500
    with pytest.raises(RateLimitedError) as err:
        limiter.hit("k")
    assert err.value.headers() == {"Retry-After": "3000"}
    limiter.hit("other")
    clock.now += 3000
    limiter.hit("k")


async def test_update_to_another_type_drops_old_credentials(world: World) -> None:
    """Switching a splunk webhook to http-post leaves no splunk_token behind."""
    scope = await world.webhooks.site_scope(world.root, world.site_id)
    hook = await world.webhooks.create(
        world.root, scope, {**HOOK, "type": "splunk", "splunk_token": "tok"}
    )
    updated = await world.webhooks.update(world.root, scope, hook["id"], {"type": "http-post"})
    assert "splunk_token" not in updated
    stored = await world.store.get("webhooks", hook["id"])
    assert stored is not None and "splunk_token" not in stored
