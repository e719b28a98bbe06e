"""Maps, zones, and the location ingest (topics ``location``, ``location-client``,
``location-sdk``, ``location-asset``, ``location-unclient``, ``zone``, ``occupancy-alerts``,
``asset-raw``, ``asset-raw-rssi``, ``client-join``, ``client-sessions``).

A zone is a polygon on a map (``vertices`` in map pixels) with an optional
``occupancy_limit``. Positions arrive in batches, in meters; the map's ``ppm`` (pixels per
meter, default 1) places them on the zones. One batch is one commit: the zones of a site
are cached in memory, and so are the zones each client is in and the open client sessions,
so publishing does no database round trip per position. A change of maps or zones drops
the cache of its process at once, and that of every other process (API processes beside
one another on PostgreSQL) within ``GEOMETRY_TTL_S``, the age at which a cache is read
again. The zones a client is in are per process: after a restart a client inside a zone
enters it again, and a site's positions belong in one process (route them by site).
"""

from __future__ import annotations

import dataclasses
import math
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from misthook.bus import Bus
from misthook.domain import geometry
from misthook.domain.privileges import Actor
from misthook.errors import BadRequestError, NotFoundError
from misthook.services.access import site_for
from misthook.services.audit import AuditLog
from misthook.store.base import Delete, DeleteWhere, Doc, Filter, Op, Put, Query, Store, where

KINDS = ("wifi", "sdk", "asset", "unconnected")
KIND_TOPIC = {
    "wifi": "location-client",
    "sdk": "location-sdk",
    "asset": "location-asset",
    "unconnected": "location-unclient",
}
MAP_FIELDS = ("name", "type", "width", "height", "ppm", "orientation", "url")
ZONE_FIELDS = ("name", "map_id", "vertices", "occupancy_limit")
BATCH_MAX = 10_000
# Seconds a site's cached maps and zones are used before they are read again: how long a
# change made through another process can go unseen by this one.
GEOMETRY_TTL_S = 5.0
_ASSET_EXTRA = (
    "ibeacon_uuid",
    "ibeacon_major",
    "ibeacon_minor",
    "mfg_company_id",
    "mfg_data",
    "battery_voltage",
)
_SESSION_FIELDS = ("client_family", "client_manufacture", "client_model", "client_os")


@dataclasses.dataclass(frozen=True)
class SiteGeometry:
    """What the ingest needs of a site's maps: ppm per map, zones per map."""

    ppm: dict[str, float]
    zones: dict[str, list[tuple[str, geometry.Polygon]]]
    zone_docs: dict[str, Doc]
    read_at: float  # by the service's clock


def _text(body: Mapping[str, Any], name: str, *, required: bool) -> str | None:
    value = body.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip():
        raise BadRequestError(f"invalid field: {name}", reason="a non-empty string")
    return value.strip()


def _num(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise BadRequestError(f"invalid field: {what}", reason="a finite number")
    return float(value)


def _bssid(ap_mac: str) -> str:
    return ap_mac[:-1] + "0" if ap_mac else ""


class Location:
    def __init__(
        self, store: Store, bus: Bus, audit: AuditLog, clock: Callable[[], float] = time.time
    ) -> None:
        self._store = store
        self._bus = bus
        self._audit = audit
        self._clock = clock
        self._geometry: dict[str, SiteGeometry] = {}
        # (site_id, kind, client key) -> zone ids the client is in
        self._inside: dict[tuple[str, str, str], frozenset[str]] = {}
        self._occupancy: dict[str, int] = {}
        # (site_id, mac) -> the client-join event of the open session
        self._sessions: dict[tuple[str, str], Doc] = {}

    # --- maps and zones ---------------------------------------------------------------

    def _map_fields(self, body: Mapping[str, Any], *, create: bool) -> dict[str, Any]:
        fields = {k: body[k] for k in MAP_FIELDS if k in body}
        name = _text(body, "name", required=create)
        if name is not None:
            fields["name"] = name
        for k in ("width", "height", "ppm"):
            if k in fields and (_num(fields[k], k) <= 0):
                raise BadRequestError(f"invalid field: {k}", reason="a positive number")
        return fields

    async def _zone_fields(
        self, site_id: str, body: Mapping[str, Any], current: Mapping[str, Any] | None
    ) -> dict[str, Any]:
        fields = {k: body[k] for k in ZONE_FIELDS if k in body}
        name = _text(body, "name", required=current is None)
        if name is not None:
            fields["name"] = name
        map_id = fields.get("map_id", current.get("map_id") if current else None)
        found = await self._store.get("maps", map_id) if isinstance(map_id, str) else None
        if found is None or found["site_id"] != site_id:
            raise BadRequestError("invalid field: map_id", reason="a map of this site")
        if "vertices" in fields or current is None:
            try:
                geometry.parse_vertices(fields.get("vertices"))
            except geometry.GeometryError as exc:
                raise BadRequestError("invalid field: vertices", reason=str(exc)) from exc
        limit = fields.get("occupancy_limit")
        if limit is not None and (
            isinstance(limit, bool) or not isinstance(limit, int) or limit < 0
        ):
            raise BadRequestError("invalid field: occupancy_limit", reason="an integer >= 0")
        return fields

    async def list_docs(self, actor: Actor, site_id: str, collection: str) -> list[Doc]:
        await site_for(self._store, actor, site_id)
        return await self._store.query(collection, Query(where(site_id=site_id)))

    async def get_doc(self, actor: Actor, site_id: str, collection: str, doc_id: str) -> Doc:
        await site_for(self._store, actor, site_id)
        doc = await self._store.get(collection, doc_id)
        if doc is None or doc.get("site_id") != site_id:
            raise NotFoundError()
        return doc

    async def create(self, actor: Actor, site_id: str, collection: str, body: Any) -> Doc:
        site = await site_for(self._store, actor, site_id, write=True)
        if not isinstance(body, Mapping):
            raise BadRequestError("JSON object expected")
        if collection == "maps":
            fields = self._map_fields(body, create=True)
            fields.setdefault("ppm", 1.0)
            fields.setdefault("type", "image")
        else:
            fields = await self._zone_fields(site_id, body, None)
        now = self._clock()
        doc: Doc = {
            "id": str(uuid.uuid4()),
            "org_id": site["org_id"],
            "site_id": site_id,
            **fields,
            "created_time": now,
            "modified_time": now,
        }
        await self._save(actor, site, collection, None, doc)
        return doc

    async def update(
        self, actor: Actor, site_id: str, collection: str, doc_id: str, body: Any
    ) -> Doc:
        site = await site_for(self._store, actor, site_id, write=True)
        current = await self.get_doc(actor, site_id, collection, doc_id)
        if not isinstance(body, Mapping):
            raise BadRequestError("JSON object expected")
        if collection == "maps":
            fields = self._map_fields(body, create=False)
        else:
            fields = await self._zone_fields(site_id, body, current)
        doc = {**current, **fields, "modified_time": self._clock()}
        await self._save(actor, site, collection, current, doc)
        return doc

    async def delete(self, actor: Actor, site_id: str, collection: str, doc_id: str) -> None:
        site = await site_for(self._store, actor, site_id, write=True)
        current = await self.get_doc(actor, site_id, collection, doc_id)
        await self._save(actor, site, collection, current, None)

    async def _save(
        self,
        actor: Actor,
        site: Mapping[str, Any],
        collection: str,
        before: Doc | None,
        after: Doc | None,
    ) -> None:
        noun = "Map" if collection == "maps" else "Zone"
        doc = after or before
        assert doc is not None
        verb = "Add" if before is None else ("Delete" if after is None else "Update")
        ops: list[Op] = [Put(collection, after)] if after else [Delete(collection, doc["id"])]
        if after is None and collection == "maps":  # a map's zones go with it
            ops.append(DeleteWhere("zones", (Filter("map_id", "eq", doc["id"]),)))
        ops += self._audit.record(
            actor,
            org_id=site["org_id"],
            site_id=site["id"],
            site_name=site["name"],
            message=f'{verb} {noun} "{doc.get("name")}"',
            before=before,
            after=after,
        )
        await self._bus.commit(ops)
        self._geometry.pop(site["id"], None)

    async def _site_geometry(self, site_id: str) -> SiteGeometry:
        cached = self._geometry.get(site_id)
        if cached is not None and 0 <= self._clock() - cached.read_at < GEOMETRY_TTL_S:
            return cached
        read_at = self._clock()  # before the reads: a change during them is read next time
        maps = await self._store.query("maps", Query(where(site_id=site_id)))
        zones = await self._store.query("zones", Query(where(site_id=site_id)))
        by_map: dict[str, list[tuple[str, geometry.Polygon]]] = {m["id"]: [] for m in maps}
        for zone in zones:
            if zone["map_id"] in by_map:
                by_map[zone["map_id"]].append(
                    (zone["id"], geometry.parse_vertices(zone["vertices"]))
                )
        built = SiteGeometry(
            ppm={m["id"]: float(m.get("ppm") or 1.0) for m in maps},
            zones=by_map,
            zone_docs={z["id"]: z for z in zones},
            read_at=read_at,
        )
        self._geometry[site_id] = built
        return built

    # --- ingest -----------------------------------------------------------------------

    async def ingest(self, actor: Actor, site_id: str, body: Any) -> dict[str, Any]:
        """One batch of ``positions``, ``rssi`` readings and client ``associations``:
        validated whole (a 400 publishes nothing), then published in one commit."""
        site = await site_for(self._store, actor, site_id, write=True)
        if not isinstance(body, Mapping):
            raise BadRequestError("JSON object expected")
        lists: dict[str, list[Mapping[str, Any]]] = {}
        for name in ("positions", "rssi", "associations"):
            raw = body.get(name, [])
            if not isinstance(raw, list) or not all(isinstance(i, Mapping) for i in raw):
                raise BadRequestError(f"invalid field: {name}", reason="a list of objects")
            lists[name] = raw
        if sum(len(v) for v in lists.values()) > BATCH_MAX:
            raise BadRequestError(f"at most {BATCH_MAX} items per batch")
        geo = await self._site_geometry(site_id)
        now = self._clock()
        out: dict[str, list[Doc]] = {}
        zone_changes: list[tuple[str, str, str, Doc, bool]] = []
        for i, position in enumerate(lists["positions"]):
            self._position(site, geo, i, position, now, out, zone_changes)
        for i, reading in enumerate(lists["rssi"]):
            self._reading(site, geo, i, reading, now, out)
        if lists["associations"]:
            devices = await self._store.query(
                "devices", Query((Filter("site_id", "eq", site_id),), limit=10_000)
            )
            names = {d["mac"]: d.get("name") or d["mac"] for d in devices}
            for i, report in enumerate(lists["associations"]):
                self._association(site, names, i, report, now, out)
        self._apply_zones(site, geo, zone_changes, now, out)
        ops = [
            self._bus.prepare(site["org_id"], site_id, topic, events)
            for topic, events in out.items()
            if events
        ]
        if ops:
            await self._bus.commit(ops)
        return {
            "positions": len(lists["positions"]),
            "rssi": len(lists["rssi"]),
            "associations": len(lists["associations"]),
            "events": {topic: len(events) for topic, events in sorted(out.items())},
        }

    def _position(
        self,
        site: Mapping[str, Any],
        geo: SiteGeometry,
        i: int,
        position: Mapping[str, Any],
        now: float,
        out: dict[str, list[Doc]],
        zone_changes: list[tuple[str, str, str, Doc, bool]],
    ) -> None:
        kind = position.get("kind", "wifi")
        if kind not in KINDS:
            raise BadRequestError(f"invalid field: positions[{i}].kind", reason=", ".join(KINDS))
        map_id = position.get("map_id")
        if map_id not in geo.ppm:
            raise BadRequestError(
                f"invalid field: positions[{i}].map_id", reason="a map of this site"
            )
        x = _num(position.get("x"), f"positions[{i}].x")
        y = _num(position.get("y"), f"positions[{i}].y")
        at = (
            _num(position["timestamp"], f"positions[{i}].timestamp")
            if "timestamp" in position
            else now
        )
        if kind == "sdk":
            client_id = position.get("id")
            try:
                key = str(uuid.UUID(str(client_id)))
            except ValueError:
                raise BadRequestError(
                    f"invalid field: positions[{i}].id", reason="the SDK client's uuid"
                ) from None
            mac = None
        else:
            mac = str(position.get("mac") or "").lower()
            if not mac:
                raise BadRequestError(f"invalid field: positions[{i}].mac", reason="required")
            key = mac
        name = position.get("name") if isinstance(position.get("name"), str) else None
        mist_type = "wifi" if kind == "unconnected" else kind
        base: Doc = {
            "site_id": site["id"],
            "map_id": map_id,
            "x": x,
            "y": y,
            "timestamp": at,
            "type": mist_type,
        }
        # location: every kind; its id is the client's (SDK) or one derived from the MAC
        general = dict(base)
        general["id"] = key if kind == "sdk" else str(uuid.uuid5(uuid.NAMESPACE_URL, f"mac:{mac}"))
        if mac:
            general["mac"] = mac
        if name is not None:
            general["name"] = name
        specific = dict(base)
        if kind == "sdk":
            specific["id"] = key
            if name is not None:
                specific["name"] = name
        else:
            specific["mac"] = mac
        if kind == "asset":
            for k in _ASSET_EXTRA:
                if k in position:
                    general[k] = specific[k] = position[k]
        out.setdefault("location", []).append(general)
        out.setdefault(KIND_TOPIC[kind], []).append(specific)
        if kind == "unconnected":
            return
        point = geometry.to_pixels(x, y, geo.ppm[map_id])
        inside = geometry.zones_at(geo.zones.get(map_id, []), point)
        state_key = (site["id"], kind, key)
        before = self._inside.get(state_key, frozenset())
        entered, exited = geometry.transitions(before, inside)
        self._inside[state_key] = inside
        who: Doc = {"type": kind, "map_id": map_id, "timestamp": at}
        if kind == "sdk":
            who["id"] = key
        else:
            who["mac"] = mac
        if kind == "asset" and isinstance(position.get("asset_id"), str):
            who["asset_id"] = position["asset_id"]
        if name is not None:
            who["name"] = name
        zone_changes += [(z, kind, key, who, True) for z in entered]
        zone_changes += [(z, kind, key, who, False) for z in exited]

    def _apply_zones(
        self,
        site: Mapping[str, Any],
        geo: SiteGeometry,
        changes: Sequence[tuple[str, str, str, Doc, bool]],
        now: float,
        out: dict[str, list[Doc]],
    ) -> None:
        alerts: list[Doc] = []
        for zone_id, _kind, _key, who, entered in changes:
            out.setdefault("zone", []).append(
                {
                    "site_id": site["id"],
                    "zone_id": zone_id,
                    "trigger": "enter" if entered else "exit",
                    **who,
                }
            )
            before = self._occupancy.get(zone_id, 0)
            after = max(0, before + (1 if entered else -1))
            self._occupancy[zone_id] = after
            zone = geo.zone_docs.get(zone_id, {})
            limit = zone.get("occupancy_limit")
            if isinstance(limit, int) and limit > 0 and before <= limit < after:
                alerts.append(
                    {
                        "current_occupancy": after,
                        "map_id": zone.get("map_id"),
                        "occupancy_limit": limit,
                        "org_id": site["org_id"],
                        "timestamp": who["timestamp"],
                        "type": "COMPLIANCE-VIOLATION",
                        "zone_id": zone_id,
                        "zone_name": zone.get("name", ""),
                    }
                )
        if alerts:
            out.setdefault("occupancy-alerts", []).append(
                {
                    "site_id": site["id"],
                    "site_name": site["name"],
                    "alert_events": alerts,
                }
            )

    def _reading(
        self,
        site: Mapping[str, Any],
        geo: SiteGeometry,
        i: int,
        reading: Mapping[str, Any],
        now: float,
        out: dict[str, list[Doc]],
    ) -> None:
        mac = str(reading.get("mac") or "").lower()
        ap = str(reading.get("ap") or "").lower()
        if not mac or not ap:
            raise BadRequestError(f"invalid field: rssi[{i}]", reason="mac and ap are required")
        map_id = reading.get("map_id")
        if map_id not in geo.ppm:
            raise BadRequestError(f"invalid field: rssi[{i}].map_id", reason="a map of this site")
        rssi = reading.get("rssi")
        if isinstance(rssi, bool) or not isinstance(rssi, int):
            raise BadRequestError(f"invalid field: rssi[{i}].rssi", reason="an integer (dBm)")
        event: Doc = {
            "mac": mac,
            "device_id": f"00000000-0000-0000-1000-{ap}",
            "map_id": map_id,
            "site_id": site["id"],
            "org_id": site["org_id"],
            "rssi": rssi,
            "beam": int(reading.get("beam") or 1),
            "is_asset": bool(reading.get("is_asset", True)),
            "timestamp": _num(reading["timestamp"], f"rssi[{i}].timestamp")
            if "timestamp" in reading
            else now,
        }
        for k in ("ibeacon_uuid", "ibeacon_major", "ibeacon_minor", "mfg_company_id", "mfg_data"):
            if k in reading:
                event[k] = reading[k]
        out.setdefault("asset-raw", []).append(event)
        out.setdefault("asset-raw-rssi", []).append(dict(event))

    def _association(
        self,
        site: Mapping[str, Any],
        names: Mapping[str, str],
        i: int,
        report: Mapping[str, Any],
        now: float,
        out: dict[str, list[Doc]],
    ) -> None:
        what = report.get("event")
        mac = str(report.get("mac") or "").lower()
        if what not in ("join", "leave") or not mac:
            raise BadRequestError(
                f"invalid field: associations[{i}]", reason='"event" join or leave, and "mac"'
            )
        key = (site["id"], mac)
        at = (
            _num(report["timestamp"], f"associations[{i}].timestamp")
            if "timestamp" in report
            else now
        )
        if what == "join":
            ap = str(report.get("ap") or "").lower()
            ssid = str(report.get("ssid") or "")
            if not ap or not ssid:
                raise BadRequestError(
                    f"invalid field: associations[{i}]", reason="a join needs ap and ssid"
                )
            join: Doc = {
                "mac": mac,
                "ap": ap,
                "ap_name": names.get(ap, ap),
                "bssid": str(report.get("bssid") or _bssid(ap)),
                "band": str(report.get("band") or "5"),
                "ssid": ssid,
                "wlan_id": str(
                    report.get("wlan_id")
                    or uuid.uuid5(uuid.NAMESPACE_URL, f"ssid:{site['id']}:{ssid}")
                ),
                "rssi": _num(report.get("rssi", -60), f"associations[{i}].rssi"),
                "connect": int(at),
                "connect_float": at,
                "site_id": site["id"],
                "site_name": site["name"],
                "org_id": site["org_id"],
                "timestamp": at,
                "version": 2,
            }
            self._sessions[key] = {**join, **{k: str(report.get(k) or "") for k in _SESSION_FIELDS}}
            out.setdefault("client-join", []).append(join)
            return
        session = self._sessions.pop(key, None)
        if session is None:
            return  # a session misthook never saw start has nothing to report
        reason = report.get("termination_reason", 1)
        if reason not in (1, 2, 3):
            raise BadRequestError(
                f"invalid field: associations[{i}].termination_reason",
                reason="1 disassociate, 2 inactive, 3 roamed",
            )
        out.setdefault("client-sessions", []).append(
            {
                **{k: v for k, v in session.items() if k not in ("timestamp",)},
                "rssi": _num(report.get("rssi", session["rssi"]), f"associations[{i}].rssi"),
                "disconnect": int(at),
                "disconnect_float": at,
                "duration": max(0, int(at - session["connect_float"])),
                "next_ap": str(report.get("next_ap") or ""),
                "termination_reason": reason,
                "timestamp": at,
            }
        )
