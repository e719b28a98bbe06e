"""End to end, from the public API to a real receiver: inventory and device lifecycle,
heartbeats and the monitor, aggregated alarms, zones; every delivered message is checked
against the spec's webhook schema (tests/schema.py)."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from misthook.testing.client import ApiClient
from misthook.testing.receiver import Receiver
from misthook.testing.server import ServerProcess, init_database
from tests.schema import assert_valid

# Small thresholds so the monitor acts within a test.
ENV = {
    "MISTHOOK_EGRESS_ALLOW": "127.0.0.0/8",
    "MISTHOOK_DISCONNECT_AFTER_S": "1.5",
    "MISTHOOK_MONITOR_INTERVAL_S": "0.2",
    "MISTHOOK_ALARM_WINDOW_S": "60",
    "MISTHOOK_HEARTBEAT_INTERVAL_S": "0.5",
}
ORG_TOPICS = ["audits", "device-events", "alarms"]
SITE_TOPICS = ["location", "zone", "asset-raw"]


@dataclasses.dataclass
class Net:
    server: ServerProcess
    api: ApiClient
    agent: ApiClient
    org_id: str
    site_id: str
    rx: Receiver
    secrets: dict[str, str] = dataclasses.field(default_factory=dict)

    def ok(self, answer: Any) -> Any:
        assert answer.status == 200, (answer.status, answer.body)
        return answer.json()

    def claim_and_assign(self, *devices: dict[str, Any]) -> None:
        added = self.ok(self.api.post(f"/api/v1/orgs/{self.org_id}/inventory", list(devices)))
        for device in added["inventory_added"]:
            self.secrets[device["mac"]] = device["agent_secret"]
        self.ok(
            self.api.put(
                f"/api/v1/orgs/{self.org_id}/inventory",
                {"op": "assign", "site_id": self.site_id, "macs": [d["mac"] for d in devices]},
            )
        )

    def beat(self, mac: str, uptime: float, path: str = "heartbeat") -> Any:
        body = {"mac": mac, "secret": self.secrets[mac], "uptime": uptime, "version": "0.14"}
        return self.ok(self.agent.post(f"/api/v1/agent/{path}", body))

    def ack(self, mac: str, command: dict[str, Any], ok: bool = True) -> None:
        self.ok(
            self.agent.post(
                "/api/v1/agent/ack",
                {"mac": mac, "secret": self.secrets[mac], "command_id": command["id"], "ok": ok},
            )
        )

    def device_events(self, mac: str | None = None) -> list[dict[str, Any]]:
        return [
            e
            for m in self.rx.messages("device-events")
            for e in m["events"]
            if mac is None or e.get("mac") == mac
        ]

    def wait(self, condition: Callable[[], bool], timeout_s: float = 10.0) -> bool:
        """Poll ``condition`` (which may read the receiver) until true or timed out."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if condition():
                return True
            time.sleep(0.05)
        return False

    def wait_types(self, mac: str, *types: str, timeout_s: float = 10.0) -> list[str]:
        def seen() -> list[str]:
            return [e["type"] for e in self.device_events(mac)]

        self.wait(lambda: all(t in seen() for t in types), timeout_s)
        return seen()

    def assert_all_valid(self) -> None:
        for message in self.rx.messages():
            assert_valid(message)


@pytest.fixture
def net(tmp_path: Path) -> Iterator[Net]:
    """A served misthook with an org webhook and a site webhook posting to one receiver."""
    database = str(tmp_path / "misthook.db")
    ids = init_database(database, ENV)
    server = ServerProcess(database, tmp_path, env=ENV).start()
    try:
        with Receiver() as rx:
            api = server.client(ids["token"])
            net = Net(server, api, server.client(), ids["org_id"], ids["site_id"], rx)
            net.ok(
                api.post(
                    f"/api/v1/orgs/{net.org_id}/webhooks",
                    {"name": "org", "url": rx.url, "topics": ORG_TOPICS},
                )
            )
            net.ok(
                api.post(
                    f"/api/v1/sites/{net.site_id}/webhooks",
                    {"name": "site", "url": rx.url, "topics": SITE_TOPICS},
                )
            )
            yield net
            log = server.log()
            assert " ERROR " not in log and "Traceback" not in log, log[-3000:]
    finally:
        server.stop()


AP1 = {"mac": "5c5b35000001", "model": "AP43", "serial": "A1", "name": "AP1"}
AP2 = {"mac": "5c5b35000002", "model": "AP43", "serial": "A2", "name": "AP2"}


def test_claim_and_assign_an_ap(net: Net) -> None:
    """Claim then assign through the inventory API -> AP_CLAIMED and AP_ASSIGNED delivered,
    each with the audit_id of its audit entry; both are searchable."""
    net.claim_and_assign(AP1)
    types = net.wait_types(AP1["mac"], "AP_CLAIMED", "AP_ASSIGNED")
    assert types[:2] == ["AP_CLAIMED", "AP_ASSIGNED"]
    wanted = {e["audit_id"] for e in net.device_events(AP1["mac"])}
    assert len(wanted) == 2

    def audit_ids() -> set[str]:
        return {e["id"] for m in net.rx.messages("audits") for e in m["events"]}

    # Other audits (the site webhook's creation) may come first: wait for these two.
    assert net.wait(lambda: wanted <= audit_ids()), f"{wanted - audit_ids()} never arrived"
    found = net.ok(
        net.api.get(f"/api/v1/sites/{net.site_id}/devices/events/search?mac={AP1['mac']}")
    )
    assert [e["type"] for e in found["results"]] == ["AP_ASSIGNED"]
    counted = net.ok(net.api.get(f"/api/v1/orgs/{net.org_id}/devices/events/count?distinct=type"))
    assert {r["type"] for r in counted["results"]} == {"AP_CLAIMED", "AP_ASSIGNED"}
    net.assert_all_valid()


def test_configure_restart_upgrade_give_user_event_then_outcome(net: Net) -> None:
    """Each user action is followed by the device's outcome, reported through the agent."""
    mac = AP1["mac"]
    net.claim_and_assign(AP1)
    net.beat(mac, 5, "connect")
    device = f"/api/v1/sites/{net.site_id}/devices/00000000-0000-0000-1000-{mac}"
    net.ok(net.api.put(device, {"name": "Hall", "notes": "by the door"}))
    net.ack(mac, net.beat(mac, 6)["commands"][0])
    net.ok(net.api.post(device + "/restart"))
    net.ack(mac, net.beat(mac, 7)["commands"][0])
    net.beat(mac, 0.5)  # uptime back to zero: it restarted
    net.ok(net.api.post(device + "/upgrade", {"version": "0.15.1"}))
    net.ack(mac, net.beat(mac, 2)["commands"][0])
    wanted = [
        "AP_CONNECTED",
        "AP_CONFIG_CHANGED_BY_USER",
        "AP_CONFIGURED",
        "AP_RESTART_BY_USER",
        "AP_RESTARTED",
        "AP_UPGRADE_BY_USER",
        "AP_UPGRADED",
    ]
    types = net.wait_types(mac, *wanted)
    assert [t for t in types if t in wanted] == wanted
    assert net.ok(net.api.get(device))["version"] == "0.15.1"
    net.assert_all_valid()


def test_stopped_heartbeats_disconnect_and_aggregate_device_down(net: Net) -> None:
    """Two APs stop beating -> AP_DISCONNECTED each and one device_down alarm whose aps,
    hostnames and count hold both; the alarm is searchable and can be acked."""
    net.claim_and_assign(AP1, AP2)
    net.beat(AP1["mac"], 1, "connect")
    net.beat(AP2["mac"], 1, "connect")

    def down_alarm() -> dict[str, Any] | None:
        events = [
            e for m in net.rx.messages("alarms") for e in m["events"] if e["type"] == "device_down"
        ]
        return events[-1] if events else None

    assert net.wait(lambda: (a := down_alarm()) is not None and a["count"] == 2, 15)
    alarm = down_alarm()
    assert alarm is not None
    assert sorted(alarm["aps"]) == [AP1["mac"], AP2["mac"]]
    assert sorted(alarm["hostnames"]) == ["AP1", "AP2"]
    assert alarm["site_name"] and alarm["group"] == "infrastructure"
    for ap in (AP1, AP2):
        assert "AP_DISCONNECTED" in net.wait_types(ap["mac"], "AP_DISCONNECTED")
    found = net.ok(net.api.get(f"/api/v1/sites/{net.site_id}/alarms/search?type=device_down"))
    assert found["total"] == 1 and found["results"][0]["id"] == alarm["id"]
    net.ok(net.api.post(f"/api/v1/sites/{net.site_id}/alarms/{alarm['id']}/ack", {"note": "ok"}))
    acked = net.ok(net.api.get(f"/api/v1/orgs/{net.org_id}/alarms/count?distinct=acked"))
    assert acked["results"] == [{"acked": True, "count": 1}]
    net.beat(AP1["mac"], 30)
    assert "AP_CONNECTED" in net.wait_types(AP1["mac"], "AP_DISCONNECTED", "AP_CONNECTED")
    net.assert_all_valid()


def test_positions_crossing_a_zone_edge_and_every_seed_topic(net: Net) -> None:
    """A client crossing a zone's edge -> zone enter then exit; with an RSSI reading, every
    topic of the seed document is delivered, each message valid against the spec."""
    floor = net.ok(
        net.api.post(f"/api/v1/sites/{net.site_id}/maps", {"name": "Floor 1", "ppm": 10})
    )
    zone = net.ok(
        net.api.post(
            f"/api/v1/sites/{net.site_id}/zones",
            {
                "name": "Lab",
                "map_id": floor["id"],
                "vertices": [
                    {"x": 100, "y": 100},
                    {"x": 300, "y": 100},
                    {"x": 300, "y": 300},
                    {"x": 100, "y": 300},
                ],
            },
        )
    )
    net.claim_and_assign(AP1)
    ingest = f"/api/v1/sites/{net.site_id}/location/ingest"
    for x in (5.0, 9.9, 10.1, 20.0, 30.5):  # meters; the zone spans 10..30
        net.ok(
            net.api.post(
                ingest,
                {
                    "positions": [
                        {
                            "kind": "wifi",
                            "mac": "a1b2c3d4e5f6",
                            "map_id": floor["id"],
                            "x": x,
                            "y": 20.0,
                        }
                    ],
                    "rssi": [
                        {
                            "mac": "7fc2936fd243",
                            "ap": AP1["mac"],
                            "map_id": floor["id"],
                            "rssi": -67,
                            "beam": 3,
                        }
                    ],
                },
            )
        )
    net.wait(lambda: len([e for m in net.rx.messages("zone") for e in m["events"]]) >= 2)
    zone_events = [e for m in net.rx.messages("zone") for e in m["events"]]
    assert [(e["trigger"], e["zone_id"], e["mac"]) for e in zone_events] == [
        ("enter", zone["id"], "a1b2c3d4e5f6"),
        ("exit", zone["id"], "a1b2c3d4e5f6"),
    ]
    net.beat(AP1["mac"], 1, "connect")
    net.ok(
        net.agent.post(
            "/api/v1/agent/report",
            {
                "mac": AP1["mac"],
                "secret": net.secrets[AP1["mac"]],
                "kind": "rogue",
                "rogues": [{"bssid": "aabbccddeeff", "ssid": "FreeWiFi"}],
            },
        )
    )
    seed = {"audits", "device-events", "alarms", "location", "zone", "asset-raw"}
    assert net.wait(lambda: {m["topic"] for m in net.rx.messages()} >= seed, 10)
    located = [e for m in net.rx.messages("location") for e in m["events"]]
    assert len(located) == 5 and all(e["map_id"] == floor["id"] for e in located)
    time.sleep(0.5)  # let trailing deliveries land before checking them all
    net.assert_all_valid()
