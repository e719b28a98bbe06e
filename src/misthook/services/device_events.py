"""Device events (topic ``device-events``) and device up/downs (``device-updowns``): how
they are built from a device and an action, stored, and searched (mist_api.md §6.2).

Every device event is stored in ``device_events`` (searchable) and published, in the
commit of the change that caused it. ``device-updowns`` events are published only.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from misthook.bus import Bus
from misthook.domain import paging, timerange
from misthook.errors import BadRequestError
from misthook.store.base import Doc, Filter, Op, Put, Query, Store

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

SORTABLE = ("timestamp", "type", "mac", "model")
SITE_DISTINCT = ("mac", "model", "type", "type_code")
ORG_DISTINCT = ("mac", "model", "type", "type_code", "site_id", "ap", "apfw", "text")
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
        window: tuple[float, float],
        *,
        org: bool,
    ) -> tuple[Filter, ...]:
        filters = [
            Filter(scope[0], "eq", scope[1]),
            Filter("timestamp", "gte", window[0]),
            Filter("timestamp", "lte", window[1]),
        ]
        for name in ("mac", "model", "site_id", "ap", "version"):
            if params.get(name):
                filters.append(Filter(name, "eq", params[name]))
        if params.get("apfw"):
            filters.append(Filter("version", "eq", params["apfw"]))
        if params.get("type"):
            types = [t.strip() for t in str(params["type"]).split(",") if t.strip()]
            filters.append(Filter("type", "in", types))
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
        self,
        scope: tuple[str, str],
        params: Mapping[str, str | None],
        path: str,
        *,
        org: bool,
    ) -> dict[str, Any]:
        """``GET .../devices/events/search``: ``{start, end, limit, total, results, next?}``."""
        start, end = timerange.resolve_window(
            params.get("start"), params.get("end"), params.get("duration"), self._clock()
        )
        limit, page = paging.page_params(params.get("limit"), params.get("page"))
        sort = timerange.parse_sort(params.get("sort"), SORTABLE, "timestamp")
        filters = self._filters(scope, params, (start, end), org=org)
        total = await self._store.count("device_events", filters)
        rows = await self._store.query(
            "device_events", Query(filters, sort=sort, limit=limit, offset=(page - 1) * limit)
        )
        if params.get("last_by"):  # the most recent event per value of the field
            rows = _last_by(rows, str(params["last_by"]))
        body: dict[str, Any] = {
            "start": int(start),
            "end": int(end),
            "limit": limit,
            "total": total,
            "results": rows,
        }
        if page * limit < total:
            nxt = {k: v for k, v in params.items() if v is not None and k != "page"}
            nxt.update(start=str(start), end=str(end), limit=str(limit), page=str(page + 1))
            body["next"] = paging.search_next(path, nxt)
        return body

    async def count(
        self, scope: tuple[str, str], params: Mapping[str, str | None], *, org: bool
    ) -> dict[str, Any]:
        """``GET .../devices/events/count``: counts by a distinct field (default model)."""
        start, end = timerange.resolve_window(
            params.get("start"), params.get("end"), params.get("duration"), self._clock()
        )
        limit, _ = paging.page_params(params.get("limit"), None)
        allowed = ORG_DISTINCT if org else SITE_DISTINCT
        distinct = params.get("distinct") or "model"
        if distinct not in allowed:
            raise BadRequestError(
                "invalid field: distinct", reason=f"distinct must be one of {', '.join(allowed)}"
            )
        field = {"type_code": "type", "apfw": "version"}.get(distinct, distinct)
        filters = self._filters(scope, params, (start, end), org=org)
        counts = await self._store.count_distinct("device_events", filters, field, limit)
        return {
            "distinct": distinct,
            "start": int(start),
            "end": int(end),
            "limit": limit,
            "total": sum(c for _, c in counts),
            "results": [{distinct: v, "count": c} for v, c in counts],
        }


def _last_by(rows: list[Doc], field: str) -> list[Doc]:
    latest: dict[Any, Doc] = {}
    for row in rows:
        key = row.get(field)
        if key not in latest or row["timestamp"] > latest[key]["timestamp"]:
            latest[key] = row
    return sorted(latest.values(), key=lambda r: r["timestamp"])
