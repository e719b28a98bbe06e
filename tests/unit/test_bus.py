"""The bus fills in the envelope fields each topic's Mist schema has, and no others."""

from __future__ import annotations

import orjson

from misthook.bus import Bus
from misthook.domain.topics import envelope_fields, wire_topic
from misthook.store.memory import InMemoryStore


def _bus() -> Bus:
    return Bus(InMemoryStore(), clock=lambda: 1234.5)


def test_fills_what_the_schema_has() -> None:
    """An alarm gets id, org_id, site_id and timestamp; each log entry a stable id."""
    op = _bus().prepare("org", "site", "alarms", [{"type": "device_down"}])
    event = orjson.loads(op.events[0].body)
    assert event == {
        "type": "device_down",
        "id": op.events[0].id,
        "org_id": "org",
        "site_id": "site",
        "timestamp": 1234.5,
    }


def test_adds_nothing_the_schema_forbids() -> None:
    """A location event has no org_id in Mist's schema; a device event has no id."""
    loc = orjson.loads(_bus().prepare("org", "site", "location", [{"mac": "m"}]).events[0].body)
    assert "org_id" not in loc
    assert loc["site_id"] == "site"
    op = _bus().prepare("org", "site", "device-events", [{"type": "AP_CONNECTED"}])
    assert "id" not in orjson.loads(op.events[0].body)
    assert op.events[0].id  # the log still has a stable id for it


def test_keeps_what_the_producer_gave() -> None:
    """Given id and timestamp are kept; the log uses the given id, and its own time."""
    op = _bus().prepare("org", None, "audits", [{"id": "given", "timestamp": 7}])
    assert op.events[0].id == "given"
    assert orjson.loads(op.events[0].body)["timestamp"] == 7
    assert op.events[0].timestamp == 1234.5  # retention prunes by the log's time
    assert "site_id" not in orjson.loads(op.events[0].body)


def test_ping_streams_deliver_as_ping() -> None:
    """A webhook's private ping stream carries topic `ping` with ping's fields."""
    assert wire_topic("ping:abc") == "ping"
    assert envelope_fields("ping:abc") == frozenset({"id", "site_id", "timestamp"})
    assert wire_topic("alarms") == "alarms"
