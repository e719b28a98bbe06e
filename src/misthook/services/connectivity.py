"""Connectivity: the device agent protocol and the monitor.

A device (or the simulator) reports itself through the agent endpoints with its MAC and
the secret it got when claimed: ``connect``, periodic ``heartbeat`` (uptime, firmware),
``ack`` of the commands it was sent (config, restart, upgrade) and ``report`` of what it
sees (rogue APs, a bad cable, a radio-management change).

* First contact, or contact after loss -> ``*_CONNECTED`` (and ``*_reconnected`` alarm
  after a loss); uptime going back -> ``*_RESTARTED`` (and a ``*_restarted`` alarm).
* The monitor (``Connectivity.tick``, run periodically): heartbeats missing for
  ``disconnect_after_s`` -> ``*_DISCONNECTED`` and a ``*_down`` alarm; still gone after
  ``disconnect_long_after_s`` -> ``*_DISCONNECTED_LONG``; due scheduled upgrades start.
* ``device-updowns`` follow the site's ``device_updown_threshold`` (minutes): 0 sends
  each change at once; otherwise a down is sent only when the device is still down after
  the threshold, and a device back within it sends neither the down nor the up.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from misthook import periodic
from misthook.bus import Bus
from misthook.config import Config
from misthook.domain.alarm_rules import Incident
from misthook.errors import BadRequestError, UnauthorizedError
from misthook.services.alarms import Alarms
from misthook.services.device_events import DeviceEvents
from misthook.services.devices import Devices, hash_secret, normalize_mac
from misthook.store.base import Doc, Filter, Op, Put, Query, Store

# Alarm key per device kind and what happened.
_ALARM_KEYS: dict[str, dict[str, str]] = {
    "down": {"ap": "device_down", "switch": "switch_down", "gateway": "gateway_down"},
    "reconnected": {
        "ap": "device_reconnected",
        "switch": "switch_reconnected",
        "gateway": "gateway_reconnected",
    },
    "restarted": {"ap": "device_restarted", "switch": "switch_restarted"},
    "bad_cable": {"ap": "ap_bad_cable", "switch": "bad_cable", "gateway": "gw_bad_cable"},
}
_ENTITY_FIELD = {"ap": "aps", "switch": "switches", "gateway": "gateways"}
REPORT_KINDS = ("rogue", "bad_cable", "rrm")

log = logging.getLogger("misthook.monitor")


def _incident(kind: str, device: Mapping[str, Any], at: float) -> Incident | None:
    key = _ALARM_KEYS[kind].get(device["type"])
    if key is None or not device.get("site_id"):
        return None
    entities = {
        _ENTITY_FIELD[device["type"]]: [device["mac"]],
        "hostnames": [device.get("name") or device["mac"]],
    }
    return Incident(key, device["site_id"], at, entities)


def _number(body: Mapping[str, Any], name: str) -> float | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise BadRequestError(f"invalid field: {name}", reason="a number >= 0")
    return float(value)


class Connectivity:
    def __init__(
        self,
        store: Store,
        bus: Bus,
        devices: Devices,
        events: DeviceEvents,
        alarms: Alarms,
        config: Config,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._bus = bus
        self._devices = devices
        self._events = events
        self._alarms = alarms
        self._config = config
        self._clock = clock

    # --- the agent --------------------------------------------------------------------

    async def _authenticate(self, body: Any) -> Doc:
        if not isinstance(body, Mapping):
            raise BadRequestError("JSON object expected")
        mac = normalize_mac(body.get("mac"))
        secret = body.get("secret")
        device = await self._store.find_one("devices", (Filter("mac", "eq", mac),))
        if (
            device is None
            or not isinstance(secret, str)
            or not hmac.compare_digest(device.get("secret_hash") or "", hash_secret(secret))
        ):
            raise UnauthorizedError()
        return device

    async def _site(self, device: Mapping[str, Any]) -> Doc | None:
        site_id = device.get("site_id")
        return await self._store.get("sites", site_id) if site_id else None

    def _answer(self, device: Mapping[str, Any]) -> dict[str, Any]:
        return {
            "device_id": device["id"],
            "site_id": device.get("site_id"),
            "heartbeat_interval_s": self._config.heartbeat_interval_s,
            "disconnect_after_s": self._config.disconnect_after_s,
            "commands": list(device.get("pending") or []),
        }

    async def heartbeat(self, body: Any, *, connect: bool = False) -> dict[str, Any]:
        """``connect`` and ``heartbeat``: the device is alive; its pending commands.

        Both do the same (a repeated connect is a heartbeat; a heartbeat after a loss is a
        reconnection); ``connect`` only names the endpoint."""
        uptime = _number(body, "uptime") if isinstance(body, Mapping) else None
        version = body.get("version") if isinstance(body, Mapping) else None
        async with self._devices.lock:
            device = await self._authenticate(body)
            now = self._clock()
            site = await self._site(device)
            updated: Doc = {**device, "last_seen": now}
            if uptime is not None:
                updated["uptime"] = uptime
            if isinstance(version, str) and version:
                updated["version"] = version
            ops: list[Op] = []
            incidents: list[Incident | None] = []
            was = device.get("connection")
            if was != "connected":
                updated.update(connection="connected", connected_time=now, long_sent=False)
                ops += self._events.ops(updated, site, "connected")
                ops += self._updown_up(updated, site)
                if was == "disconnected":
                    incidents.append(_incident("reconnected", updated, now))
            elif (
                uptime is not None
                and device.get("uptime") is not None
                and uptime < float(device["uptime"])
            ):
                ops += self._events.ops(updated, site, "restarted", reason="uptime reset")
                incidents.append(_incident("restarted", updated, now))
            ops.insert(0, Put("devices", updated))
            await self._commit(ops, updated, incidents)
        return self._answer(updated)

    async def _commit(
        self, ops: Sequence[Op], device: Mapping[str, Any], incidents: Sequence[Incident | None]
    ) -> None:
        real = [i for i in incidents if i is not None]
        if real:
            await self._alarms.commit(ops, device["org_id"], real)
        else:
            await self._devices_commit(ops)

    async def _devices_commit(self, ops: Sequence[Op]) -> None:
        await self._bus.commit(ops)

    def _updown_up(self, device: Doc, site: Doc | None) -> list[Op]:
        """Updown of a device coming back; ``device`` is updated in place."""
        if site is None:
            return []
        if device.get("updown_due") is not None:  # back within the threshold: no down, no up
            device["updown_due"] = None
            return []
        device["updown_down_sent"] = False
        return self._events.updown_ops(device, site, up=True)

    def _updown_down(self, device: Doc, site: Doc | None, now: float) -> list[Op]:
        if site is None:
            return []
        minutes = site.get("device_updown_threshold") or 0
        if minutes <= 0:
            device["updown_down_sent"] = True
            return self._events.updown_ops(device, site, up=False)
        device["updown_due"] = now + float(minutes) * self._config.updown_minute_s
        return []

    async def ack(self, body: Any) -> dict[str, Any]:
        """A command's outcome: ``{command_id, ok, reason?}``."""
        async with self._devices.lock:
            device = await self._authenticate(body)
            command_id = body.get("command_id")
            pending = list(device.get("pending") or [])
            command = next((c for c in pending if c["id"] == command_id), None)
            if command is None:
                raise BadRequestError("invalid field: command_id", reason="no such pending command")
            ok = body.get("ok", True) is not False
            reason = body.get("reason") if isinstance(body.get("reason"), str) else None
            updated: Doc = {
                **device,
                "pending": [c for c in pending if c["id"] != command_id],
                "last_seen": self._clock(),
            }
            site = await self._site(device)
            ops: list[Op] = []
            if command["kind"] == "config":
                ops += self._events.ops(
                    updated, site, "configured" if ok else "config_failed", reason=reason
                )
            elif command["kind"] == "upgrade":
                if ok:
                    updated["version"] = command["version"]
                ops += self._events.ops(
                    updated,
                    site,
                    "upgraded" if ok else "upgrade_failed",
                    reason=reason,
                    text=f"upgrade to {command['version']}",
                )
            ops.insert(0, Put("devices", updated))
            await self._devices_commit(ops)
        return self._answer(updated)

    async def report(self, body: Any) -> dict[str, Any]:
        """What a device sees: ``kind`` rogue (``rogues: [{bssid, ssid}]``), bad_cable
        (``port_id``) or rrm (``channel``, ``power``, ``bandwidth`` and their ``pre_``)."""
        async with self._devices.lock:
            device = await self._authenticate(body)
            kind = body.get("kind")
            if kind not in REPORT_KINDS:
                raise BadRequestError(f"invalid kind: {kind}", reason=", ".join(REPORT_KINDS))
            now = self._clock()
            site = await self._site(device)
            ops: list[Op] = []
            incidents: list[Incident | None] = []
            if kind == "rogue":
                rogues = body.get("rogues")
                if not isinstance(rogues, list) or not all(isinstance(r, Mapping) for r in rogues):
                    raise BadRequestError("invalid field: rogues", reason="[{bssid, ssid}]")
                if device.get("site_id") and rogues:
                    incidents.append(
                        Incident(
                            "rogue_ap",
                            device["site_id"],
                            now,
                            {
                                "aps": [device["mac"]],
                                "bssids": [str(r.get("bssid", "")) for r in rogues],
                                "ssids": [str(r.get("ssid", "")) for r in rogues],
                            },
                        )
                    )
            elif kind == "bad_cable":
                incidents.append(_incident("bad_cable", device, now))
            else:
                fields = {
                    k: body[k]
                    for k in (
                        "channel",
                        "pre_channel",
                        "power",
                        "pre_power",
                        "bandwidth",
                        "pre_bandwidth",
                    )
                    if isinstance(body.get(k), int) and not isinstance(body.get(k), bool)
                }
                ops += self._events.ops(device, site, "config_by_rrm", **fields)
            await self._commit(ops, device, incidents)
        return {"accepted": True}

    # --- the monitor ------------------------------------------------------------------

    async def tick(self) -> int:
        """One pass: disconnects, long disconnects, delayed updowns, scheduled upgrades.

        Returns how many devices changed."""
        changed = 0
        async with self._devices.lock:
            now = self._clock()
            cutoff = now - self._config.disconnect_after_s
            lost = await self._store.query(
                "devices",
                Query(
                    (Filter("connection", "eq", "connected"), Filter("last_seen", "lt", cutoff)),
                    limit=10_000,
                ),
            )
            long_cutoff = now - self._config.disconnect_long_after_s
            gone_long = await self._store.query(
                "devices",
                Query(
                    (
                        Filter("connection", "eq", "disconnected"),
                        Filter("long_sent", "eq", False),
                        Filter("disconnected_time", "lt", long_cutoff),
                    ),
                    limit=10_000,
                ),
            )
            updowns = await self._store.query(
                "devices", Query((Filter("updown_due", "lte", now),), limit=10_000)
            )
            upgrades = await self._store.query(
                "devices", Query((Filter("upgrade_at", "lte", now),), limit=10_000)
            )
            touched: dict[str, Doc] = {}
            ops_by_org: dict[str, list[Op]] = {}
            incidents_by_org: dict[str, list[Incident]] = {}
            sites: dict[str, Doc | None] = {}

            async def site_of(device: Mapping[str, Any]) -> Doc | None:
                key = device.get("site_id") or ""
                if key not in sites:
                    sites[key] = await self._site(device)
                return sites[key]

            for device in lost:
                d = touched.setdefault(device["id"], dict(device))
                site = await site_of(d)
                d.update(connection="disconnected", disconnected_time=now, long_sent=False)
                ops = ops_by_org.setdefault(d["org_id"], [])
                ops += self._events.ops(d, site, "disconnected", reason="heartbeats missing")
                ops += self._updown_down(d, site, now)
                incident = _incident("down", d, now)
                if incident is not None:
                    incidents_by_org.setdefault(d["org_id"], []).append(incident)
            for device in gone_long:
                d = touched.setdefault(device["id"], dict(device))
                d["long_sent"] = True
                ops_by_org.setdefault(d["org_id"], []).extend(
                    self._events.ops(d, await site_of(d), "disconnected_long")
                )
            for device in updowns:
                d = touched.setdefault(device["id"], dict(device))
                d["updown_due"] = None
                site = await site_of(d)
                if d.get("connection") == "disconnected" and site is not None:
                    d["updown_down_sent"] = True
                    ops_by_org.setdefault(d["org_id"], []).extend(
                        self._events.updown_ops(d, site, up=False)
                    )
            for device in upgrades:
                d = touched.setdefault(device["id"], dict(device))
                version = d.pop("upgrade_version", None)
                d["upgrade_at"] = None
                if version:
                    d = touched[d["id"]] = self._devices.queue(d, "upgrade", version=version)
                    ops_by_org.setdefault(d["org_id"], []).extend(
                        self._events.ops(
                            d, await site_of(d), "upgrade_by_schedule", text=f"upgrade to {version}"
                        )
                    )
            for d in touched.values():
                ops_by_org.setdefault(d["org_id"], []).insert(0, Put("devices", d))
            for org_id, ops in ops_by_org.items():
                incidents = incidents_by_org.get(org_id, [])
                if incidents:
                    await self._alarms.commit(ops, org_id, incidents)
                else:
                    await self._bus.commit(ops)
            changed = len(touched)
        return changed

    async def run(self, stop: asyncio.Event) -> None:
        """The monitor: ``tick`` every ``monitor_interval_s`` until ``stop`` is set.

        A failing pass is logged and the next one tries again."""
        await periodic.every(
            self._config.monitor_interval_s, stop, self.tick, log, "the connectivity monitor's pass"
        )
