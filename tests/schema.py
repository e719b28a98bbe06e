"""Validate delivered webhook messages against the Mist OpenAPI spec's ``webhooks:`` schemas.

The spec excerpt is loaded from ``../shared/reference/`` beside the repository (CI lays
``shared`` there too), its ``$ref``s resolved by the ``referencing`` registry with the YAML
as the root resource, and every message checked against the webhook of its topic, formats
(uuid) included.

The spec disagrees with real deliveries in a few places. Each workaround below is explicit,
typed and listed here; nothing else is relaxed:

1. Webhook names use underscores (``device_events``), payload topics are hyphenated
   (``device-events``): ``WEBHOOK_OF_TOPIC`` maps one to the other.
2. ``asset-raw`` (a topic of the seed document and the Terraform list) has no webhook in
   the spec. Its events are the raw asset readings of ``asset_raw_rssi``, so it is checked
   against that schema with its ``topic`` enum set to ``["asset-raw"]``.
3. Fields real deliveries carry that the v2511 event schemas leave out (reference
   mist_api.md §5.1 "Extra real-world event fields", §6.1, and the seed's ``device_down``
   example): ``alarms`` events have ``group``, ``severity``, ``site_name``, ``hostnames``,
   ``switches``, ``gateways``; ``audits`` events have ``site_name``, ``user_agent``,
   ``device_id`` and carry ``before``/``after`` as JSON strings, not objects;
   ``device-updowns`` events have ``device_type``, ``device_name``, ``mac``, ``reason``.
"""

from __future__ import annotations

import copy
import functools
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator, FormatChecker
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

SPEC_PATH = (
    Path(__file__).resolve().parents[1]
    / ".."
    / "shared"
    / "reference"
    / "mist_openapi_webhooks_excerpt.yaml"
)
SPEC_URI = "urn:mist:openapi"

# payload topic -> webhook name in the spec
WEBHOOK_OF_TOPIC = {
    "alarms": "alarms",
    "asset-raw": "asset_raw_rssi",
    "asset-raw-rssi": "asset_raw_rssi",
    "audits": "audits",
    "client-join": "client_join",
    "client-sessions": "client_sessions",
    "device-events": "device_events",
    "device-updowns": "device_updowns",
    "location": "location",
    "location-asset": "location_asset",
    "location-client": "location_client",
    "location-sdk": "location_sdk",
    "location-unclient": "location_unclient",
    "occupancy-alerts": "occupancy_alerts",
    "ping": "ping",
    "zone": "zone",
}

_UUID = {"type": "string", "format": "uuid"}
_STRINGS = {"type": "array", "items": {"type": "string"}}
_STRING = {"type": "string"}
# workaround 3: event schema -> fields real deliveries carry
_REAL_WORLD_FIELDS: dict[str, dict[str, Any]] = {
    "webhook_alarm_event": {
        "group": {"enum": ["infrastructure", "marvis", "security"]},
        "severity": {"enum": ["critical", "warn", "info"]},
        "site_name": _STRING,
        "hostnames": _STRINGS,
        "switches": _STRINGS,
        "gateways": _STRINGS,
    },
    "log_event": {
        "site_name": _STRING,
        "user_agent": _STRING,
        "device_id": _UUID,
        "before": _STRING,
        "after": _STRING,
    },
    "webhook_device_updowns_event": {
        "device_type": {"enum": ["ap", "switch", "gateway"]},
        "device_name": _STRING,
        "mac": _STRING,
        "reason": _STRING,
    },
}


def _event_schema_name(spec: dict[str, Any], webhook: str) -> tuple[str, str]:
    """(envelope schema name, event item schema name) of a webhook."""
    body = spec["webhooks"][webhook]["post"]["requestBody"]["content"]["application/json"]
    envelope = body["schema"]["$ref"].rsplit("/", 1)[1]
    schemas = spec["components"]["schemas"]
    events = schemas[envelope]["properties"]["events"]
    if "$ref" in events:
        events = schemas[events["$ref"].rsplit("/", 1)[1]]
    item = events["items"]["$ref"].rsplit("/", 1)[1]
    return envelope, item


@functools.cache
def _patched_spec() -> dict[str, Any]:
    spec: dict[str, Any] = yaml.safe_load(SPEC_PATH.read_text())
    spec = copy.deepcopy(spec)
    schemas = spec["components"]["schemas"]
    for webhook in set(WEBHOOK_OF_TOPIC.values()):
        _, item = _event_schema_name(spec, webhook)
        props = schemas[item].setdefault("properties", {})
        for name, schema in _REAL_WORLD_FIELDS.get(item, {}).items():
            props[name] = schema
    # workaround 2: asset-raw is the asset_raw_rssi envelope under its own topic name
    envelope, _ = _event_schema_name(spec, "asset_raw_rssi")
    asset_raw = copy.deepcopy(schemas[envelope])
    asset_raw["properties"]["topic"] = {"type": "string", "enum": ["asset-raw"]}
    schemas["misthook_asset_raw"] = asset_raw
    return spec


@functools.cache
def _validator(topic: str) -> Draft202012Validator:
    spec = _patched_spec()
    if topic == "asset-raw":
        envelope = "misthook_asset_raw"
    else:
        envelope, _ = _event_schema_name(spec, WEBHOOK_OF_TOPIC[topic])
    registry: Registry[Any] = Registry().with_resource(
        SPEC_URI, Resource.from_contents(spec, default_specification=DRAFT202012)
    )
    return Draft202012Validator(
        {"$ref": f"{SPEC_URI}#/components/schemas/{envelope}"},
        registry=registry,
        format_checker=FormatChecker(),
    )


def schema_errors(message: dict[str, Any]) -> list[str]:
    """Why ``message`` does not match its topic's webhook schema (empty: it does)."""
    topic = message.get("topic")
    if topic not in WEBHOOK_OF_TOPIC:
        return [f"no schema for topic {topic!r}"]
    return [
        f"{'/'.join(str(p) for p in e.absolute_path)}: {e.message}"
        for e in _validator(str(topic)).iter_errors(message)
    ]


def assert_valid(message: dict[str, Any]) -> None:
    errors = schema_errors(message)
    assert not errors, f"{message.get('topic')} message invalid: {errors[:5]}"
