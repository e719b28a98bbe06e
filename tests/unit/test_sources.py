"""Event sources over the memory store: inventory, device lifecycle, connectivity and the
monitor, alarms, location; what they publish is read back from the event log."""

from __future__ import annotations

import dataclasses
from typing import Any

import orjson
import pytest

from misthook.app import App
from misthook.config import load_config
from misthook.domain.privileges import Actor
from misthook.errors import BadRequestError, UnauthorizedError
from misthook.services.bootstrap import initialize
from misthook.services.location import GEOMETRY_TTL_S, Location
from misthook.store.base import Query
from tests.schema import WEBHOOK_OF_TOPIC, assert_valid


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


@dataclasses.dataclass
class World:
    app: App
    clock: Clock
    root: Actor
    org_id: str
    site_id: str
    secrets: dict[str, str]

    async def events(self, topic: str) -> list[dict[str, Any]]:
        rows = await self.app.store.read_events(topic, self.org_id, None, 0, 10_000)
        return [orjson.loads(r.body) for r in rows]

    async def types(self, mac: str | None = None) -> list[str]:
        return [
            e["type"]
            for e in await self.events("device-events")
            if mac is None or e.get("mac") == mac
        ]

    def agent(self, mac: str, **fields: Any) -> dict[str, Any]:
        return {"mac": mac, "secret": self.secrets[mac], **fields}

    async def claim(self, *devices: dict[str, Any], assign: bool = True) -> None:
        answer = await self.app.devices.claim(self.root, self.org_id, list(devices))
        for added in answer["inventory_added"]:
            self.secrets[added["mac"]] = added["agent_secret"]
        if assign:
            macs = [d["mac"] for d in devices]
            await self.app.devices.update_inventory(
                self.root, self.org_id, {"op": "assign", "site_id": self.site_id, "macs": macs}
            )


@pytest.fixture
async def world() -> World:
    clock = Clock()
    config = load_config(
        {},
        database="memory://",
        disconnect_after_s=30.0,
        disconnect_long_after_s=300.0,
        updown_minute_s=10.0,
        alarm_window_s=120.0,
    )
    app = App(config, clock)
    await app.store.open()
    result = await initialize(
        app.store, app.identity, app.orgs, admin_email="a@b.c", admin_password="pw"
    )
    root = await app.identity.authenticate(result.token)
    return World(app, clock, root, result.org_id, result.site_id, {})


AP1 = {"mac": "5c5b35000001", "model": "AP43", "serial": "A1", "name": "Lobby-1"}
AP2 = {"mac": "5c5b35000002", "model": "AP43", "serial": "A2", "name": "Lobby-2"}
AP3 = {"mac": "5c5b35000003", "model": "AP43", "serial": "A3", "name": "Lobby-3"}
SW1 = {"mac": "2c21311c37b0", "model": "EX4100-48P", "serial": "S1", "name": "sw-1"}


async def test_claim_and_assign_publish_events_carrying_their_audit_ids(world: World) -> None:
    """Claim -> AP_CLAIMED (org level), assign -> AP_ASSIGNED with site; both audited."""
    await world.claim(AP1)
    events = await world.events("device-events")
    assert [e["type"] for e in events] == ["AP_CLAIMED", "AP_ASSIGNED"]
    assert "site_id" not in events[0] and events[1]["site_id"] == world.site_id
    audits = {e["id"]: e for e in await world.events("audits")}
    assert all(e["audit_id"] in audits for e in events)
    assert events[1]["site_name"] == "Default Site" or events[1]["site_name"]
    stored = await world.app.store.query("device_events", Query())
    assert {d["type"] for d in stored} == {"AP_CLAIMED", "AP_ASSIGNED"}


async def test_claim_twice_is_duplicated_and_release_unclaims(world: World) -> None:
    """A second claim of the same MAC is reported duplicated; release -> AP_UNCLAIMED."""
    await world.claim(AP1)
    again = await world.app.devices.claim(world.root, world.org_id, [AP1])
    assert again["duplicated"] == [AP1["mac"]] and not again["inventory_added"]
    await world.app.devices.release(world.root, world.org_id, [AP1["mac"]])
    assert (await world.types())[-1] == "AP_UNCLAIMED"
    rows, total, _, _ = await world.app.devices.list_inventory(world.root, world.org_id, {})
    assert total == 0 and rows == []


async def test_config_restart_upgrade_then_device_outcomes(world: World) -> None:
    """User actions publish BY_USER events; the agent's acks and uptime give the outcome."""
    await world.claim(AP1)
    mac = AP1["mac"]
    device_id = f"00000000-0000-0000-1000-{mac}"
    await world.app.connectivity.heartbeat(world.agent(mac, uptime=10, version="0.1"), connect=True)
    await world.app.devices.update(world.root, world.site_id, device_id, {"name": "Hall"})
    answer = await world.app.connectivity.heartbeat(world.agent(mac, uptime=20))
    (command,) = answer["commands"]
    assert command["kind"] == "config" and command["config"]["name"] == "Hall"
    await world.app.connectivity.ack(world.agent(mac, command_id=command["id"], ok=True))
    await world.app.devices.restart(world.root, world.site_id, device_id)
    answer = await world.app.connectivity.heartbeat(world.agent(mac, uptime=30))
    restart = answer["commands"][0]
    await world.app.connectivity.ack(world.agent(mac, command_id=restart["id"]))
    await world.app.connectivity.heartbeat(world.agent(mac, uptime=1))
    await world.app.devices.upgrade(world.root, world.site_id, device_id, {"version": "0.2"})
    answer = await world.app.connectivity.heartbeat(world.agent(mac, uptime=5))
    upgrade = answer["commands"][0]
    await world.app.connectivity.ack(
        world.agent(mac, command_id=upgrade["id"], ok=False, reason="bad image")
    )
    assert await world.types(mac) == [
        "AP_CLAIMED",
        "AP_ASSIGNED",
        "AP_CONNECTED",
        "AP_CONFIG_CHANGED_BY_USER",
        "AP_CONFIGURED",
        "AP_RESTART_BY_USER",
        "AP_RESTARTED",
        "AP_UPGRADE_BY_USER",
        "AP_UPGRADE_FAILED",
    ]
    by_user = [e for e in await world.events("device-events") if "BY_USER" in e["type"]]
    assert all(e.get("audit_id") for e in by_user)
    (alarm,) = await world.events("alarms")
    assert alarm["type"] == "device_restarted" and alarm["aps"] == [mac]


async def test_scheduled_upgrade_starts_when_due(world: World) -> None:
    """An upgrade with a later start_time waits for the monitor -> AP_UPGRADE_BY_SCHEDULE."""
    await world.claim(AP1)
    mac = AP1["mac"]
    await world.app.connectivity.heartbeat(world.agent(mac, uptime=1), connect=True)
    device_id = f"00000000-0000-0000-1000-{mac}"
    start = world.clock.now + 20
    answer = await world.app.devices.upgrade(
        world.root, world.site_id, device_id, {"version": "0.9", "start_time": start}
    )
    assert answer["status"] == "scheduled"
    await world.app.connectivity.tick()
    assert "AP_UPGRADE_BY_SCHEDULE" not in await world.types(mac)
    world.clock.now = start + 1
    await world.app.connectivity.heartbeat(world.agent(mac, uptime=22))
    await world.app.connectivity.tick()
    answer = await world.app.connectivity.heartbeat(world.agent(mac, uptime=23))
    (command,) = answer["commands"]
    await world.app.connectivity.ack(world.agent(mac, command_id=command["id"], ok=True))
    assert (await world.types(mac))[-2:] == ["AP_UPGRADE_BY_SCHEDULE", "AP_UPGRADED"]
    device = await world.app.devices.get(world.root, world.site_id, device_id)
    assert device["version"] == "0.9"


async def test_two_aps_down_together_make_one_device_down_alarm(world: World) -> None:
    """Heartbeats stop -> AP_DISCONNECTED each, one device_down alarm with count 2; a third
    within the window updates it (same id, update: true); after it, a new alarm."""
    await world.claim(AP1, AP2, AP3)
    for ap in (AP1, AP2, AP3):
        await world.app.connectivity.heartbeat(world.agent(ap["mac"], uptime=1), connect=True)
    world.clock.now += 10
    await world.app.connectivity.heartbeat(world.agent(AP3["mac"], uptime=11))
    world.clock.now += 25
    assert await world.app.connectivity.tick() == 2
    (first,) = await world.events("alarms")
    assert first["type"] == "device_down" and first["count"] == 2
    assert sorted(first["aps"]) == [AP1["mac"], AP2["mac"]]
    assert sorted(first["hostnames"]) == ["Lobby-1", "Lobby-2"]
    assert first["group"] == "infrastructure" and first["severity"] == "warn"
    assert first["site_name"] and "update" not in first
    world.clock.now += 10
    await world.app.connectivity.tick()
    update = (await world.events("alarms"))[-1]
    assert update["id"] == first["id"] and update["update"] is True and update["count"] == 3
    assert update["timestamp"] == first["timestamp"] and update["last_seen"] > first["last_seen"]
    await world.app.connectivity.heartbeat(world.agent(AP1["mac"], uptime=50))
    types = await world.types(AP1["mac"])
    assert types[-2:] == ["AP_DISCONNECTED", "AP_CONNECTED"]
    reconnected = (await world.events("alarms"))[-1]
    assert reconnected["type"] == "device_reconnected"
    world.clock.now += 200
    await world.app.connectivity.tick()  # AP1 down again, after the window: a new alarm
    latest = (await world.events("alarms"))[-1]
    assert latest["type"] == "device_down" and latest["id"] != first["id"]
    assert latest["count"] == 1 and "update" not in latest


async def test_long_disconnect_and_switch_kinds(world: World) -> None:
    """A switch uses SW_ types and switch_down; an AP gone long gets AP_DISCONNECTED_LONG."""
    await world.claim(AP1, SW1)
    for dev in (AP1, SW1):
        await world.app.connectivity.heartbeat(world.agent(dev["mac"], uptime=1), connect=True)
    world.clock.now += 31
    await world.app.connectivity.tick()
    world.clock.now += 301
    await world.app.connectivity.tick()
    assert (await world.types(AP1["mac"]))[-2:] == ["AP_DISCONNECTED", "AP_DISCONNECTED_LONG"]
    assert await world.types(SW1["mac"]) == [
        "SW_CLAIMED",
        "SW_ASSIGNED",
        "SW_CONNECTED",
        "SW_DISCONNECTED",
    ]
    alarms = {a["type"]: a for a in await world.events("alarms")}
    assert alarms["switch_down"]["switches"] == [SW1["mac"]]


async def test_updowns_follow_the_site_threshold(world: World) -> None:
    """Threshold 0: down and up at once. Threshold 1 (10 s here): a device back within it
    sends neither; one still down after it sends the down, then the up."""
    await world.claim(AP1)
    mac = AP1["mac"]
    await world.app.connectivity.heartbeat(world.agent(mac, uptime=1), connect=True)
    world.clock.now += 31
    await world.app.connectivity.tick()
    assert [e["type"] for e in await world.events("device-updowns")] == [
        "AP_CONNECTED",
        "AP_DISCONNECTED",
    ]
    await world.app.connectivity.heartbeat(world.agent(mac, uptime=40))
    await world.app.orgs.update_site(world.root, world.site_id, {"device_updown_threshold": 1})
    world.clock.now += 31
    await world.app.connectivity.tick()
    world.clock.now += 5
    await world.app.connectivity.heartbeat(world.agent(mac, uptime=80))
    assert len(await world.events("device-updowns")) == 3  # the up of the first flap only
    world.clock.now += 31
    await world.app.connectivity.tick()
    assert len(await world.events("device-updowns")) == 3
    world.clock.now += 11
    await world.app.connectivity.tick()
    updowns = await world.events("device-updowns")
    assert updowns[-1]["type"] == "AP_DISCONNECTED" and updowns[-1]["ap_name"] == "Lobby-1"
    await world.app.connectivity.heartbeat(world.agent(mac, uptime=200))
    assert (await world.events("device-updowns"))[-1]["type"] == "AP_CONNECTED"


async def test_agent_needs_the_device_secret(world: World) -> None:
    """A wrong secret or an unknown MAC is 401; a bad report kind is 400."""
    await world.claim(AP1)
    with pytest.raises(UnauthorizedError):
        await world.app.connectivity.heartbeat({"mac": AP1["mac"], "secret": "nope"})
    with pytest.raises(UnauthorizedError):
        await world.app.connectivity.heartbeat({"mac": "001122334455", "secret": "x"})
    with pytest.raises(BadRequestError):
        await world.app.connectivity.report(world.agent(AP1["mac"], kind="weather"))


async def test_reports_raise_security_and_marvis_alarms_and_rrm(world: World) -> None:
    """Rogue reports -> rogue_ap with bssids/ssids; a bad cable -> bad_cable; RRM event."""
    await world.claim(AP1, SW1)
    await world.app.connectivity.report(
        world.agent(AP1["mac"], kind="rogue", rogues=[{"bssid": "aabbccddeeff", "ssid": "Free"}])
    )
    await world.app.connectivity.report(
        world.agent(SW1["mac"], kind="bad_cable", port_id="ge-0/0/1")
    )
    await world.app.connectivity.report(
        world.agent(AP1["mac"], kind="rrm", channel=36, pre_channel=40, power=17, pre_power=15)
    )
    alarms = {a["type"]: a for a in await world.events("alarms")}
    assert alarms["rogue_ap"]["group"] == "security" and alarms["rogue_ap"]["ssids"] == ["Free"]
    assert alarms["bad_cable"]["group"] == "marvis" and alarms["bad_cable"]["hostnames"] == ["sw-1"]
    rrm = (await world.events("device-events"))[-1]
    assert rrm["type"] == "AP_CONFIG_CHANGED_BY_RRM" and rrm["channel"] == 36


async def test_alarm_ack_unack_are_audited_and_searchable(world: World) -> None:
    """Ack one alarm, then unack all; search filters on acked; each call is audited."""
    await world.claim(AP1)
    await world.app.connectivity.report(
        world.agent(AP1["mac"], kind="rogue", rogues=[{"bssid": "aabbccddeeff", "ssid": "x"}])
    )
    found = await world.app.alarms.search(("site_id", world.site_id), {}, "/x")
    (alarm,) = found["results"]
    audits_before = len(await world.events("audits"))
    await world.app.alarms.set_acked(
        world.root, "sites", world.site_id, acked=True, alarm_ids=[alarm["id"]], note="seen"
    )
    acked = await world.app.alarms.search(("site_id", world.site_id), {"acked": "true"}, "/x")
    assert acked["total"] == 1 and acked["results"][0]["note"] == "seen"
    assert acked["results"][0]["ack_admin_name"]
    await world.app.alarms.set_acked(
        world.root, "orgs", world.org_id, acked=False, alarm_ids=None, note=None
    )
    counts = await world.app.alarms.count(("org_id", world.org_id), {"distinct": "acked"})
    assert counts["results"] == [{"acked": False, "count": 1}]
    assert len(await world.events("audits")) == audits_before + 2


async def test_device_event_search_and_count(world: World) -> None:
    """Site search filters by type and mac; org search defaults to APs; count by type."""
    await world.claim(AP1, SW1)
    site = await world.app.device_events.search(
        ("site_id", world.site_id), {"type": "AP_ASSIGNED,SW_ASSIGNED"}, "/p", org=False
    )
    assert site["total"] == 2
    org = await world.app.device_events.search(("org_id", world.org_id), {}, "/p", org=True)
    assert {e["device_type"] for e in org["results"]} == {"ap"} and org["total"] == 2
    every = await world.app.device_events.search(
        ("org_id", world.org_id), {"device_type": "all", "limit": "3"}, "/p", org=True
    )
    assert every["total"] == 4 and len(every["results"]) == 3 and "next" in every
    counts = await world.app.device_events.count(
        ("org_id", world.org_id), {"distinct": "type", "device_type": "all"}, org=True
    )
    assert {r["type"]: r["count"] for r in counts["results"]}["SW_CLAIMED"] == 1


async def test_positions_crossing_a_zone_edge_enter_and_exit_in_one_commit(
    world: World,
) -> None:
    """A client walking through a zone -> zone enter then exit; an over-limit zone raises an
    occupancy alert; one ingest batch is one commit."""
    loc = world.app.location
    floor = await loc.create(world.root, world.site_id, "maps", {"name": "F1", "ppm": 10})
    square = [
        {"x": 100, "y": 100},
        {"x": 200, "y": 100},
        {"x": 200, "y": 200},
        {"x": 100, "y": 200},
    ]
    zone = await loc.create(
        world.root,
        world.site_id,
        "zones",
        {"name": "Lab", "map_id": floor["id"], "vertices": square, "occupancy_limit": 1},
    )
    commits = 0
    real_commit = world.app.bus.commit

    async def counting(ops: Any) -> Any:
        nonlocal commits
        commits += 1
        return await real_commit(ops)

    world.app.bus.commit = counting  # type: ignore[method-assign]
    path = [(5.0, 15.0), (15.0, 15.0), (25.0, 15.0)]  # meters: outside, inside, outside
    for x, y in path:
        await loc.ingest(
            world.root,
            world.site_id,
            {
                "positions": [
                    {"kind": "wifi", "mac": "aabbcc000001", "map_id": floor["id"], "x": x, "y": y},
                    {
                        "kind": "sdk",
                        "id": "de87bf9d-183f-e383-cc68-6ba43947d403",
                        "name": "phone",
                        "map_id": floor["id"],
                        "x": x,
                        "y": y,
                    },
                ]
            },
        )
    assert commits == 3
    zone_events = await world.events("zone")
    assert [(e["type"], e["trigger"]) for e in zone_events] == [
        ("wifi", "enter"),
        ("sdk", "enter"),
        ("wifi", "exit"),
        ("sdk", "exit"),
    ]
    assert all(e["zone_id"] == zone["id"] for e in zone_events)
    (alert,) = await world.events("occupancy-alerts")
    assert alert["alert_events"][0]["current_occupancy"] == 2
    assert len(await world.events("location")) == 6
    assert len(await world.events("location-client")) == 3
    assert len(await world.events("location-sdk")) == 3


async def test_rssi_and_associations(world: World) -> None:
    """RSSI readings -> asset-raw; join then leave -> client-join, client-sessions."""
    await world.claim(AP1)
    loc = world.app.location
    floor = await loc.create(world.root, world.site_id, "maps", {"name": "F1"})
    await loc.ingest(
        world.root,
        world.site_id,
        {
            "rssi": [{"mac": "7fc2936fd243", "ap": AP1["mac"], "map_id": floor["id"], "rssi": -70}],
            "associations": [
                {
                    "event": "join",
                    "mac": "aabbcc000009",
                    "ap": AP1["mac"],
                    "ssid": "Corp",
                    "rssi": -55,
                }
            ],
        },
    )
    world.clock.now += 42
    await loc.ingest(
        world.root,
        world.site_id,
        {"associations": [{"event": "leave", "mac": "aabbcc000009", "termination_reason": 1}]},
    )
    (raw,) = await world.events("asset-raw")
    assert raw["rssi"] == -70 and raw["device_id"].endswith(AP1["mac"])
    (join,) = await world.events("client-join")
    assert join["ap_name"] == "Lobby-1" and join["ssid"] == "Corp"
    (session,) = await world.events("client-sessions")
    assert session["duration"] == 42 and session["termination_reason"] == 1


async def test_bad_batches_publish_nothing(world: World) -> None:
    """A position on an unknown map rejects the whole batch."""
    loc = world.app.location
    floor = await loc.create(world.root, world.site_id, "maps", {"name": "F1"})
    with pytest.raises(BadRequestError):
        await loc.ingest(
            world.root,
            world.site_id,
            {
                "positions": [
                    {"kind": "wifi", "mac": "aa", "map_id": floor["id"], "x": 1, "y": 1},
                    {"kind": "wifi", "mac": "bb", "map_id": "nope", "x": 1, "y": 1},
                ]
            },
        )
    assert await world.events("location") == []


async def test_every_published_event_matches_the_spec_schema(world: World) -> None:
    """Each event of a full run (devices, alarms, location, clients) validates against the
    webhook schema of its topic (tests/schema.py lists the documented spec workarounds)."""
    await world.claim(AP1, AP2, SW1)
    for dev in (AP1, AP2, SW1):
        await world.app.connectivity.heartbeat(world.agent(dev["mac"], uptime=9), connect=True)
    await world.app.connectivity.report(
        world.agent(AP1["mac"], kind="rogue", rogues=[{"bssid": "aabbccddeeff", "ssid": "x"}])
    )
    await world.app.connectivity.report(world.agent(SW1["mac"], kind="bad_cable"))
    await world.app.connectivity.heartbeat(world.agent(AP1["mac"], uptime=1))
    world.clock.now += 40
    await world.app.connectivity.tick()
    loc = world.app.location
    floor = await loc.create(world.root, world.site_id, "maps", {"name": "F1"})
    square = [{"x": 0, "y": 0}, {"x": 10, "y": 0}, {"x": 10, "y": 10}, {"x": 0, "y": 10}]
    await loc.create(
        world.root,
        world.site_id,
        "zones",
        {"name": "Z", "map_id": floor["id"], "vertices": square, "occupancy_limit": 1},
    )
    for x in (5.0, 20.0):
        await loc.ingest(
            world.root,
            world.site_id,
            {
                "positions": [
                    {"kind": kind, "mac": f"aabbcc00000{i}", "map_id": floor["id"], "x": x, "y": 5}
                    for i, kind in enumerate(("wifi", "asset", "unconnected"))
                ]
                + [
                    {
                        "kind": "sdk",
                        "id": "de87bf9d-183f-e383-cc68-6ba43947d403",
                        "map_id": floor["id"],
                        "x": x,
                        "y": 5,
                    }
                ],
                "rssi": [
                    {"mac": "7fc2936fd243", "ap": AP1["mac"], "map_id": floor["id"], "rssi": -70}
                ],
                "associations": [
                    {
                        "event": "join" if x < 10 else "leave",
                        "mac": "aabbcc000001",
                        "ap": AP1["mac"],
                        "ssid": "Corp",
                    }
                ],
            },
        )
    topics = set(WEBHOOK_OF_TOPIC) - {"ping"}
    seen = set()
    for topic in sorted(topics):
        for event in await world.events(topic):
            seen.add(topic)
            assert_valid({"topic": topic, "events": [event]})
    assert seen >= {
        "device-events",
        "device-updowns",
        "alarms",
        "audits",
        "location",
        "zone",
        "asset-raw",
        "occupancy-alerts",
        "client-join",
        "client-sessions",
        "location-client",
        "location-sdk",
        "location-asset",
        "location-unclient",
    }


async def test_device_lists_page_and_filter(world: World) -> None:
    """A site lists its APs by default (all kinds with type=all), a page at a time; the
    inventory filters by model."""
    await world.claim(AP1, AP2, SW1)
    devices = world.app.devices
    rows, total, limit, page = await devices.list_site(
        world.root, world.site_id, {"limit": "1", "page": "2"}
    )
    assert (total, limit, page) == (2, 1, 2)
    assert [r["mac"] for r in rows] == [AP2["mac"]]
    _, every, _, _ = await devices.list_site(world.root, world.site_id, {"type": "all"})
    assert every == 3
    rows, total, _, _ = await devices.list_inventory(
        world.root, world.org_id, {"model": SW1["model"]}
    )
    assert total == 1 and rows[0]["mac"] == SW1["mac"]


async def test_a_zone_made_through_another_process_is_seen_within_the_cache_age(
    world: World,
) -> None:
    """Two API processes on one database: a zone created through one is used by the
    other's ingest once that one's cached geometry is older than GEOMETRY_TTL_S."""
    mine, other = (
        world.app.location,
        Location(world.app.store, world.app.bus, world.app.audit, world.clock),
    )
    floor = await mine.create(world.root, world.site_id, "maps", {"name": "F1", "ppm": 1})
    walker = {
        "positions": [
            {"kind": "wifi", "mac": "aabbcc000002", "map_id": floor["id"], "x": 50, "y": 50}
        ]
    }
    await other.ingest(world.root, world.site_id, walker)  # caches the site: no zones yet
    square = [{"x": 0, "y": 0}, {"x": 100, "y": 0}, {"x": 100, "y": 100}, {"x": 0, "y": 100}]
    hall = await mine.create(
        world.root,
        world.site_id,
        "zones",
        {"name": "Hall", "map_id": floor["id"], "vertices": square},
    )
    world.clock.now += GEOMETRY_TTL_S / 2
    await other.ingest(world.root, world.site_id, walker)
    assert await world.events("zone") == []  # its cache is still young
    world.clock.now += GEOMETRY_TTL_S / 2
    await other.ingest(world.root, world.site_id, walker)
    (entered,) = await world.events("zone")
    assert (entered["type"], entered["trigger"], entered["zone_id"]) == (
        "wifi",
        "enter",
        hall["id"],
    )
