"""Device events (topic ``device-events``) and device up/downs (``device-updowns``): how
they are built from a device and an action, stored, and searched (mist_api.md §6.2).

Every device event is stored in ``device_events`` (searchable) and published, in the
commit of the change that caused it. ``device-updowns`` events are published only.
"""

from __future__ import annotations

import dataclasses
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from misthook.bus import Bus
from misthook.errors import BadRequestError
from misthook.services.search import (
    Params,
    SearchSpec,
    Window,
    count_by,
    csv_values,
    paged_search,
    window_filters,
)
from misthook.store.base import Doc, Filter, Op, Put, Store

# Lifecycle action -> event type per device kind; None where the catalogue has no type.
EVENT_TYPES: dict[str, dict[str, str | None]] = {
    "claimed": {"ap": "AP_CLAIMED", "switch": "SW_CLAIMED", "gateway": "GW_CLAIMED"},
    "unclaimed": {"ap": "AP_UNCLAIMED", "switch": "SW_UNCLAIMED", "gateway": "GW_UNCLAIMED"},
    "assigned": {"ap": "AP_ASSIGNED", "switch": "SW_ASSIGNED", "gateway": "GW_ASSIGNED"},
    "unassigned": {"ap": "AP_UNASSIGNED", "switch": "SW_UNASSIGNED", "gateway": "GW_UNASSIGNED"},
    "config_by_user": {
        "ap": "AP_CONFIG_CHANGED_BY_USER",
        "switch": "SW_CONFIG_CHANGED_BY_USER",
        "gateway": "GW_CONFIG_CHANGED_BY_USER",
    },
    "config_by_rrm": {"ap": "AP_CONFIG_CHANGED_BY_RRM", "switch": None, "gateway": None},
    "configured": {"ap": "AP_CONFIGURED", "switch": "SW_CONFIGURED", "gateway": "GW_CONFIGURED"},
    "config_failed": {
        "ap": "AP_CONFIG_FAILED",
        "switch": "SW_CONFIG_FAILED",
        "gateway": "GW_CONFIG_FAILED",
    },
    "restart_by_user": {
        "ap": "AP_RESTART_BY_USER",
        "switch": "SW_RESTARTED_BY_USER",
        "gateway": "GW_RESTART_BY_USER",
    },
    "restarted": {"ap": "AP_RESTARTED", "switch": "SW_RESTARTED", "gateway": "GW_RESTARTED"},
    "upgrade_by_user": {
        "ap": "AP_UPGRADE_BY_USER",
        "switch": "SW_UPGRADE_BY_USER",
        "gateway": "GW_UPGRADE_BY_USER",
    },
    # switches and gateways have no BY_SCHEDULE type: a scheduled upgrade is the user's
    "upgrade_by_schedule": {
        "ap": "AP_UPGRADE_BY_SCHEDULE",
        "switch": "SW_UPGRADE_BY_USER",
        "gateway": "GW_UPGRADE_BY_USER",
    },
    "upgraded": {"ap": "AP_UPGRADED", "switch": "SW_UPGRADED", "gateway": "GW_UPGRADED"},
    "upgrade_failed": {
        "ap": "AP_UPGRADE_FAILED",
        "switch": "SW_UPGRADE_FAILED",
        "gateway": "GW_UPGRADE_FAILED",
    },
    "connected": {"ap": "AP_CONNECTED", "switch": "SW_CONNECTED", "gateway": "GW_CONNECTED"},
    "disconnected": {
        "ap": "AP_DISCONNECTED",
        "switch": "SW_DISCONNECTED",
        "gateway": "GW_DISCONNECTED",
    },
    "disconnected_long": {
        "ap": "AP_DISCONNECTED_LONG",
        "switch": None,
        "gateway": "GW_DISCONNECTED_LONG",
    },
}

ORG_SPEC = SearchSpec(
    collection="device_events",
    sortable=("timestamp", "type", "mac", "model"),
    default_sort="timestamp",
    distinct=("mac", "model", "type", "type_code", "site_id", "ap", "apfw", "text"),
    default_distinct="model",
    distinct_fields={"type_code": "type", "apfw": "version"},
)
SITE_SPEC = dataclasses.replace(ORG_SPEC, distinct=("mac", "model", "type", "type_code"))
DEVICE_TYPES = ("ap", "switch", "gateway")


def event_type(action: str, kind: str) -> str | None:
    return EVENT_TYPES[action].get(kind)


def device_event(
    device: Mapping[str, Any],
    site: Mapping[str, Any] | None,
    event_type: str,
    now: float,
    **fields: Any,
) -> Doc:
    """A ``device_event`` of ``device`` (REST object and webhook event alike)."""
    event: Doc = {
        "id": str(uuid.uuid4()),
        "type": event_type,
        "timestamp": now,
        "org_id": device["org_id"],
        "device_type": device["type"],
        "mac": device["mac"],
        "device_name": device.get("name") or device["mac"],
        "model": device["model"],
    }
    if site is not None:  # unassigned devices have none (and no null: the schema wants a uuid)
        event["site_id"] = site["id"]
        event["site_name"] = site["name"]
    if device["type"] == "ap":  # the deprecated aliases APs still carry
        event["ap"] = device["mac"]
        event["ap_name"] = event["device_name"]
    if device.get("version"):
        event["version"] = device["version"]
    event.update({k: v for k, v in fields.items() if v is not None})
    return event


class DeviceEvents:
    def __init__(self, store: Store, bus: Bus, clock: Callable[[], float] = time.time) -> None:
        self._store = store
        self._bus = bus
        self._clock = clock

    def ops(
        self,
        device: Mapping[str, Any],
        site: Mapping[str, Any] | None,
        action: str,
        **fields: Any,
    ) -> list[Op]:
        """Store and publish the event of ``action`` (nothing if the kind has no type)."""
        kind_type = event_type(action, device["type"])
        if kind_type is None:
            return []
        event = device_event(device, site, kind_type, self._clock(), **fields)
        site_id = site["id"] if site else None
        return [
            Put("device_events", event),
            # the webhook event has no id: the device_event schema has none (the log gives one)
            self._bus.prepare(
                device["org_id"],
                site_id,
                "device-events",
                [{k: v for k, v in event.items() if k != "id"}],
            ),
        ]

    def updown_ops(
        self, device: Mapping[str, Any], site: Mapping[str, Any], up: bool, **fields: Any
    ) -> list[Op]:
        """The ``device-updowns`` event of a device coming up or going down."""
        kind_type = event_type("connected" if up else "disconnected", device["type"])
        name = device.get("name") or device["mac"]
        event: Doc = {
            "type": kind_type,
            "timestamp": self._clock(),
            "org_id": device["org_id"],
            "site_id": site["id"],
            "site_name": site["name"],
            "ap": device["mac"],
            "ap_name": name,
            "device_type": device["type"],
            "device_name": name,
            "mac": device["mac"],
        }
        event.update({k: v for k, v in fields.items() if v is not None})
        return [self._bus.prepare(device["org_id"], site["id"], "device-updowns", [event])]

    # --- search and count ------------------------------------------------------------

    def _filters(
        self,
        scope: tuple[str, str],
        params: Mapping[str, str | None],
        span: Window,
        *,
        org: bool,
    ) -> tuple[Filter, ...]:
        filters = [Filter(scope[0], "eq", scope[1]), *window_filters(span)]
        for name in ("mac", "model", "site_id", "ap", "version"):
            if params.get(name):
                filters.append(Filter(name, "eq", params[name]))
        if params.get("apfw"):
            filters.append(Filter("version", "eq", params["apfw"]))
        if params.get("type"):
            filters.append(Filter("type", "in", csv_values(params["type"])))
        if params.get("text"):
            filters.append(Filter("text", "contains", params["text"]))
        if org:
            device_type = params.get("device_type") or "ap"  # Mist's default
            if device_type != "all":
                if device_type not in DEVICE_TYPES:
                    raise BadRequestError(
                        f"invalid device_type: {device_type}",
                        reason="one of all, ap, switch, gateway",
                    )
                filters.append(Filter("device_type", "eq", device_type))
        elif params.get("device_type"):
            filters.append(Filter("device_type", "eq", params["device_type"]))
        return tuple(filters)

    async def search(
        self, scope: tuple[str, str], params: Params, path: str, *, org: bool
    ) -> dict[str, Any]:
        """``GET .../devices/events/search``: ``{start, end, limit, total, results, next?}``."""
        last_by = params.get("last_by")
        return await paged_search(
            self._store,
            ORG_SPEC if org else SITE_SPEC,
            params,
            path,
            self._clock(),
            lambda span: self._filters(scope, params, span, org=org),
            # the most recent event per value of the field
            reshape=(lambda rows: _last_by(rows, str(last_by))) if last_by else None,
        )

    async def count(self, scope: tuple[str, str], params: Params, *, org: bool) -> dict[str, Any]:
        """``GET .../devices/events/count``: counts by a distinct field (default model)."""
        return await count_by(
            self._store,
            ORG_SPEC if org else SITE_SPEC,
            params,
            self._clock(),
            lambda span: self._filters(scope, params, span, org=org),
        )


def _last_by(rows: list[Doc], field: str) -> list[Doc]:
    latest: dict[Any, Doc] = {}
    for row in rows:
        key = row.get(field)
        if key not in latest or row["timestamp"] > latest[key]["timestamp"]:
            latest[key] = row
    return sorted(latest.values(), key=lambda r: r["timestamp"])
