"""The org inventory and the devices of a site: claim, assign, release, configure,
restart and upgrade (topic ``device-events``; every user action is also audited and its
device event carries the ``audit_id``).

A device's state changes under ``Devices.lock`` (the device agent and the monitor take it
too), so a heartbeat and a user action never overwrite each other's change.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import secrets
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from misthook.bus import Bus
from misthook.domain.privileges import Actor
from misthook.errors import BadRequestError, NotFoundError
from misthook.services.access import org_for, site_for
from misthook.services.audit import AuditLog
from misthook.services.device_events import DEVICE_TYPES, DeviceEvents
from misthook.services.search import list_page
from misthook.store.base import Delete, Doc, Filter, Op, Put, Query, Store

_MAC = re.compile(r"^[0-9a-f]{12}$")
# Fields a user may not set through PUT .../devices/{id}: identity and agent state.
_PROTECTED = frozenset(
    {
        "id",
        "org_id",
        "site_id",
        "mac",
        "serial",
        "model",
        "type",
        "secret_hash",
        "connection",
        "last_seen",
        "uptime",
        "version",
        "pending",
        "upgrade_at",
        "upgrade_version",
        "updown_due",
        "updown_down_sent",
        "long_sent",
        "connected_time",
        "disconnected_time",
        "created_time",
        "modified_time",
        "claim_code",
    }
)
# Internal fields kept out of API answers.
_PRIVATE = ("secret_hash", "pending", "updown_due", "updown_down_sent", "long_sent")


def device_id_of(mac: str) -> str:
    """Mist's device id for a MAC: ``00000000-0000-0000-1000-<mac>``."""
    return f"00000000-0000-0000-1000-{mac}"


def normalize_mac(raw: Any) -> str:
    mac = re.sub(r"[^0-9a-f]", "", str(raw).lower()) if isinstance(raw, str) else ""
    if not _MAC.match(mac):
        raise BadRequestError(f"invalid mac: {raw}", reason="12 hex digits, e.g. 5c5b35000001")
    return mac


def kind_of_model(model: str) -> str:
    """``ap``, ``switch`` or ``gateway`` from a model name (AP43, EX4100-48P, SRX320 ...)."""
    upper = model.upper()
    if upper.startswith(("EX", "QFX")):
        return "switch"
    if upper.startswith(("SRX", "SSR")):
        return "gateway"
    return "ap"


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def public(device: Mapping[str, Any]) -> Doc:
    """A device as the API shows it."""
    return {k: v for k, v in device.items() if k not in _PRIVATE}


def _claim_entry(raw: Any) -> dict[str, Any]:
    """One claim: a claim code string, or ``{mac, serial?, model?, type?, name?}``."""
    if isinstance(raw, str):
        code = raw.strip().upper()
        if not re.fullmatch(r"[0-9A-Z-]{6,32}", code):
            raise BadRequestError(f"invalid claim code: {raw}")
        digest = hashlib.sha256(code.encode()).hexdigest()
        return {
            "claim_code": code,
            "mac": "5c5b35" + digest[:6],
            "serial": digest[6:18].upper(),
            "model": "AP43",
            "type": "ap",
        }
    if not isinstance(raw, Mapping):
        raise BadRequestError("invalid claim", reason="a claim code or {mac, model, serial}")
    mac = normalize_mac(raw.get("mac"))
    model = str(raw.get("model") or "AP43")
    kind = raw.get("type") or kind_of_model(model)
    if kind not in DEVICE_TYPES:
        raise BadRequestError(f"invalid type: {kind}", reason="ap, switch or gateway")
    entry = {
        "mac": mac,
        "serial": str(raw.get("serial") or mac.upper()),
        "model": model,
        "type": kind,
    }
    if isinstance(raw.get("name"), str) and raw["name"].strip():
        entry["name"] = raw["name"].strip()
    return entry


class Devices:
    def __init__(
        self,
        store: Store,
        bus: Bus,
        audit: AuditLog,
        events: DeviceEvents,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._bus = bus
        self._audit = audit
        self._events = events
        self._clock = clock
        self.lock = asyncio.Lock()

    # --- helpers ----------------------------------------------------------------------

    def _audited(
        self,
        actor: Actor,
        device: Mapping[str, Any],
        site: Mapping[str, Any] | None,
        message: str,
        before: Mapping[str, Any] | None = None,
        after: Mapping[str, Any] | None = None,
    ) -> tuple[list[Op], str]:
        """The audit ops of a user action on a device, and the entry's id."""
        ops = self._audit.record(
            actor,
            org_id=device["org_id"],
            site_id=site["id"] if site else None,
            site_name=site["name"] if site else None,
            message=message,
            before=public(before) if before else None,
            after=public(after) if after else None,
            extra={"device_id": device["id"]},
        )
        audit_id = next(op.doc["id"] for op in ops if isinstance(op, Put))
        return ops, audit_id

    async def _site_of(self, device: Mapping[str, Any]) -> Doc | None:
        site_id = device.get("site_id")
        return await self._store.get("sites", site_id) if site_id else None

    async def _in_org(self, org_id: str, macs: Sequence[str]) -> dict[str, Doc]:
        rows = await self._store.query(
            "devices", Query((Filter("org_id", "eq", org_id), Filter("mac", "in", list(macs))))
        )
        return {d["mac"]: d for d in rows}

    # --- inventory --------------------------------------------------------------------

    async def claim(self, actor: Actor, org_id: str, body: Any) -> dict[str, Any]:
        """``POST /orgs/{id}/inventory``: claim codes or device descriptions.

        Each new device gets an agent secret, shown only in this answer."""
        await org_for(self._store, actor, org_id, write=True)
        if not isinstance(body, list) or not body:
            raise BadRequestError("expected a list of claim codes or devices")
        entries = [_claim_entry(raw) for raw in body]
        now = self._clock()
        answer: dict[str, Any] = {
            "added": [],
            "duplicated": [],
            "error": [],
            "inventory_added": [],
            "inventory_duplicated": [],
        }
        async with self.lock:
            existing = {
                d["mac"]: d
                for d in await self._store.query(
                    "devices", Query((Filter("mac", "in", [e["mac"] for e in entries]),))
                )
            }
            ops: list[Op] = []
            for entry in entries:
                label = entry.get("claim_code") or entry["mac"]
                other = existing.get(entry["mac"])
                if other is not None:
                    key = "duplicated" if other["org_id"] == org_id else "error"
                    answer[key].append(label)
                    if key == "duplicated":
                        answer["inventory_duplicated"].append(_brief(other))
                    continue
                secret = secrets.token_urlsafe(24)
                device: Doc = {
                    "id": device_id_of(entry["mac"]),
                    "org_id": org_id,
                    "site_id": None,
                    **entry,
                    "name": entry.get("name") or entry["mac"],
                    "config": {},
                    "version": None,
                    "connection": "never",
                    "last_seen": None,
                    "uptime": None,
                    "pending": [],
                    "secret_hash": hash_secret(secret),
                    "created_time": now,
                    "modified_time": now,
                }
                existing[entry["mac"]] = device
                audit_ops, audit_id = self._audited(
                    actor, device, None, f'Claim {device["type"]} "{device["mac"]}"'
                )
                ops += [Put("devices", device), *audit_ops]
                ops += self._events.ops(device, None, "claimed", audit_id=audit_id)
                answer["added"].append(label)
                answer["inventory_added"].append({**_brief(device), "agent_secret": secret})
            if ops:
                await self._bus.commit(ops)
        return answer

    async def list_inventory(
        self, actor: Actor, org_id: str, params: Mapping[str, str | None]
    ) -> tuple[list[Doc], int, int, int]:
        await org_for(self._store, actor, org_id)
        filters: list[Filter] = [Filter("org_id", "eq", org_id)]
        for name in ("type", "serial", "model", "site_id"):
            if params.get(name):
                filters.append(Filter(name, "eq", params[name]))
        if params.get("mac"):
            filters.append(Filter("mac", "eq", normalize_mac(params["mac"])))
        if (params.get("unassigned") or "").lower() == "true":
            filters.append(Filter("site_id", "is_null", True))
        rows, total, limit, page = await list_page(
            self._store, "devices", tuple(filters), params.get("limit"), params.get("page")
        )
        return [_inventory_view(d) for d in rows], total, limit, page

    async def update_inventory(self, actor: Actor, org_id: str, body: Any) -> dict[str, Any]:
        """``PUT /orgs/{id}/inventory``: ``op`` assign (with ``site_id``), unassign, delete."""
        await org_for(self._store, actor, org_id, write=True)
        if not isinstance(body, Mapping):
            raise BadRequestError("JSON object expected")
        op = body.get("op")
        if op not in ("assign", "unassign", "delete"):
            raise BadRequestError(f"invalid op: {op}", reason="assign, unassign or delete")
        macs = _macs(body)
        if op == "delete":
            return await self.release(actor, org_id, macs)
        site: Doc | None = None
        if op == "assign":
            site_id = body.get("site_id")
            site = await self._store.get("sites", site_id) if isinstance(site_id, str) else None
            if site is None or site["org_id"] != org_id:
                raise BadRequestError("invalid field: site_id", reason="a site of this org")
        no_reassign = bool(body.get("no_reassign"))
        answer: dict[str, Any] = {"op": op, "success": [], "error": [], "reason": []}
        async with self.lock:
            devices = await self._in_org(org_id, macs)
            ops: list[Op] = []
            for mac in macs:
                device = devices.get(mac)
                if device is None:
                    answer["error"].append(mac)
                    answer["reason"].append("not in the inventory of this org")
                    continue
                old_site = await self._site_of(device)
                if op == "assign" and site is not None:
                    if device.get("site_id") == site["id"]:
                        answer["success"].append(mac)
                        continue
                    if device.get("site_id") and no_reassign:
                        answer["error"].append(mac)
                        answer["reason"].append("already assigned to a site")
                        continue
                    if old_site is not None:
                        ops += self._move(actor, device, old_site, None)
                        device = {**device, "site_id": None}
                    ops += self._move(actor, device, None, site)
                elif old_site is not None:
                    ops += self._move(actor, device, old_site, None)
                answer["success"].append(mac)
            if ops:
                await self._bus.commit(ops)
        return answer

    def _move(
        self,
        actor: Actor,
        device: Doc,
        old: Mapping[str, Any] | None,
        new: Mapping[str, Any] | None,
    ) -> list[Op]:
        """Ops of unassigning ``device`` from ``old`` or assigning it to ``new``."""
        updated = {**device, "site_id": new["id"] if new else None, "modified_time": self._clock()}
        site = new or old
        verb = (
            f'Assign {device["type"]} "{device["mac"]}" to site'
            if new
            else (f'Unassign {device["type"]} "{device["mac"]}"')
        )
        audit_ops, audit_id = self._audited(actor, device, site, verb, device, updated)
        action = "assigned" if new else "unassigned"
        return [
            Put("devices", updated),
            *audit_ops,
            *self._events.ops(updated, site, action, audit_id=audit_id),
        ]

    async def release(self, actor: Actor, org_id: str, macs: Sequence[str]) -> dict[str, Any]:
        """Release devices from the org (``AP_UNCLAIMED``); they may be claimed again."""
        await org_for(self._store, actor, org_id, write=True)
        answer: dict[str, Any] = {"op": "delete", "success": [], "error": [], "reason": []}
        async with self.lock:
            devices = await self._in_org(org_id, macs)
            ops: list[Op] = []
            for mac in macs:
                device = devices.get(mac)
                if device is None:
                    answer["error"].append(mac)
                    answer["reason"].append("not in the inventory of this org")
                    continue
                site = await self._site_of(device)
                audit_ops, audit_id = self._audited(
                    actor, device, site, f'Release {device["type"]} "{mac}"'
                )
                ops += [Delete("devices", device["id"]), *audit_ops]
                ops += self._events.ops(device, site, "unclaimed", audit_id=audit_id)
                answer["success"].append(mac)
            if ops:
                await self._bus.commit(ops)
        return answer

    # --- devices of a site ------------------------------------------------------------

    async def list_site(
        self, actor: Actor, site_id: str, params: Mapping[str, str | None]
    ) -> tuple[list[Doc], int, int, int]:
        await site_for(self._store, actor, site_id)
        filters: list[Filter] = [Filter("site_id", "eq", site_id)]
        kind = params.get("type") or "ap"  # Mist lists APs unless asked otherwise
        if kind != "all":
            filters.append(Filter("type", "eq", kind))
        if params.get("name"):
            filters.append(Filter("name", "contains", params["name"]))
        rows, total, limit, page = await list_page(
            self._store, "devices", tuple(filters), params.get("limit"), params.get("page")
        )
        return [public(d) for d in rows], total, limit, page

    async def _device(self, site_id: str, device_id: str) -> Doc:
        device = await self._store.get("devices", device_id)
        if device is None or device.get("site_id") != site_id:
            raise NotFoundError()
        return device

    async def get(self, actor: Actor, site_id: str, device_id: str) -> Doc:
        await site_for(self._store, actor, site_id)
        return public(await self._device(site_id, device_id))

    def queue(self, device: Doc, kind: str, **fields: Any) -> Doc:
        """``device`` with a command queued for its agent (a newer one of a kind wins)."""
        command = {"id": str(uuid.uuid4()), "kind": kind, **fields}
        pending = [c for c in device.get("pending") or [] if c["kind"] != kind]
        return {**device, "pending": [*pending, command], "modified_time": self._clock()}

    async def update(self, actor: Actor, site_id: str, device_id: str, body: Any) -> Doc:
        """``PUT .../devices/{id}``: name and config -> ``*_CONFIG_CHANGED_BY_USER``; the
        agent is sent the config and answers ``*_CONFIGURED`` or ``*_CONFIG_FAILED``."""
        site = await site_for(self._store, actor, site_id, write=True)
        if not isinstance(body, Mapping):
            raise BadRequestError("JSON object expected")
        bad = sorted(k for k in body if k in _PROTECTED)
        if bad:
            raise BadRequestError(f"invalid field: {bad[0]}", reason="read-only")
        if "name" in body and (not isinstance(body["name"], str) or not body["name"].strip()):
            raise BadRequestError("invalid field: name", reason="a non-empty string")
        async with self.lock:
            device = await self._device(site_id, device_id)
            updated = {**device, **body}
            updated = self.queue(updated, "config", config=_config_of(updated))
            audit_ops, audit_id = self._audited(
                actor,
                device,
                site,
                f'Update {device["type"]} "{device.get("name")}"',
                device,
                updated,
            )
            await self._bus.commit(
                [
                    Put("devices", updated),
                    *audit_ops,
                    *self._events.ops(updated, site, "config_by_user", audit_id=audit_id),
                ]
            )
        return public(updated)

    async def restart(self, actor: Actor, site_id: str, device_id: str) -> Doc:
        """``POST .../restart`` -> ``*_RESTART_BY_USER``; the restart itself is seen when
        the device's uptime goes back to zero (``*_RESTARTED``)."""
        site = await site_for(self._store, actor, site_id, write=True)
        async with self.lock:
            device = await self._device(site_id, device_id)
            updated = self.queue(device, "restart")
            audit_ops, audit_id = self._audited(
                actor, device, site, f'Restart {device["type"]} "{device.get("name")}"'
            )
            await self._bus.commit(
                [
                    Put("devices", updated),
                    *audit_ops,
                    *self._events.ops(updated, site, "restart_by_user", audit_id=audit_id),
                ]
            )
        return {"id": device_id, "status": "requested"}

    async def upgrade(self, actor: Actor, site_id: str, device_id: str, body: Any) -> Doc:
        """``POST .../upgrade`` ``{version, start_time?}``: now -> ``*_UPGRADE_BY_USER``; at
        a later ``start_time`` the monitor starts it (``AP_UPGRADE_BY_SCHEDULE``). The
        agent answers ``*_UPGRADED`` or ``*_UPGRADE_FAILED``."""
        site = await site_for(self._store, actor, site_id, write=True)
        if not isinstance(body, Mapping):
            raise BadRequestError("JSON object expected")
        version = body.get("version")
        if not isinstance(version, str) or not version.strip():
            raise BadRequestError("invalid field: version", reason="a firmware version")
        start_time = body.get("start_time")
        if start_time is not None and (
            isinstance(start_time, bool) or not isinstance(start_time, int | float)
        ):
            raise BadRequestError("invalid field: start_time", reason="epoch seconds")
        now = self._clock()
        async with self.lock:
            device = await self._device(site_id, device_id)
            audit_ops, audit_id = self._audited(
                actor,
                device,
                site,
                f'Upgrade {device["type"]} "{device.get("name")}" to {version}',
            )
            if start_time is not None and start_time > now:
                updated = {
                    **device,
                    "upgrade_at": float(start_time),
                    "upgrade_version": version,
                    "modified_time": now,
                }
                await self._bus.commit([Put("devices", updated), *audit_ops])
                return {"id": device_id, "status": "scheduled", "start_time": start_time}
            updated = self.queue(device, "upgrade", version=version)
            await self._bus.commit(
                [
                    Put("devices", updated),
                    *audit_ops,
                    *self._events.ops(
                        updated,
                        site,
                        "upgrade_by_user",
                        audit_id=audit_id,
                        text=f"upgrade to {version}",
                    ),
                ]
            )
        return {"id": device_id, "status": "inprogress", "target_version": version}


def _config_of(device: Mapping[str, Any]) -> dict[str, Any]:
    """What the agent is sent: every user-settable field."""
    return {k: v for k, v in device.items() if k not in _PROTECTED}


def _brief(device: Mapping[str, Any]) -> dict[str, Any]:
    return {k: device[k] for k in ("id", "mac", "serial", "model", "type") if k in device}


def _inventory_view(device: Mapping[str, Any]) -> Doc:
    view = _brief(device)
    view.update(
        org_id=device["org_id"],
        site_id=device.get("site_id"),
        name=device.get("name"),
        connected=device.get("connection") == "connected",
        created_time=device.get("created_time"),
        modified_time=device.get("modified_time"),
    )
    return view


def _macs(body: Mapping[str, Any]) -> list[str]:
    raw = body.get("macs")
    if not isinstance(raw, list) or not raw:
        raise BadRequestError("invalid field: macs", reason="a list of device MACs")
    return list(dict.fromkeys(normalize_mac(m) for m in raw))
