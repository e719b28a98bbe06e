"""``misthook simulate``: a virtual network driving a running misthook through its public
API only (the REST API with a token, and the device agent endpoints with each device's
secret), so that every event source is live.

N APs are claimed, assigned and connected; they heartbeat, some go down (their heartbeats
stop past the server's disconnect threshold) and come back, and users configure, restart
and upgrade them; they report rogue APs and radio changes. M Wi-Fi clients and a few SDK
clients walk across a map with two zones, join and leave; BLE assets beacon (positions and
raw RSSI). With ``seed`` the sequence of actions is the same on every run (the timing of a
live server still varies).
"""

from __future__ import annotations

import dataclasses
import json
import math
import random
import ssl
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter
from collections.abc import Callable
from typing import Any

MAP_NAME = "misthook-sim"
MAP_W_M, MAP_H_M, PPM = 40.0, 30.0, 10.0
ZONES = (
    ("Sim Zone A", (50, 50, 150, 150), 3),
    ("Sim Zone B", (200, 100, 350, 250), 5),
)


class SimulationError(RuntimeError):
    """The server refused something the simulation cannot go on without."""


@dataclasses.dataclass(frozen=True)
class Options:
    url: str
    token: str
    site_id: str
    aps: int = 5
    clients: int = 10
    assets: int = 3
    duration_s: float = 120.0
    seed: int | None = None
    tick_s: float = 1.0
    action_rate: float = 6.0  # user actions and device reports per minute
    down_rate: float = 1.0  # AP outages per minute
    insecure: bool = False  # accept a self-signed HTTPS certificate


class Http:
    """A small JSON client (stdlib), counting calls and errors."""

    def __init__(self, base_url: str, token: str | None, insecure: bool) -> None:
        self.base = base_url.rstrip("/")
        self.token = token
        self.calls: Counter[str] = Counter()
        self.errors: list[str] = []
        self._ctx: ssl.SSLContext | None = None
        if insecure:
            self._ctx = ssl.create_default_context()
            self._ctx.check_hostname = False
            self._ctx.verify_mode = ssl.CERT_NONE

    def call(self, method: str, path: str, body: Any = None, *, auth: bool = True) -> Any:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base + path, data=data, method=method)
        req.add_header("Content-Type", "application/json")
        if auth and self.token:
            req.add_header("Authorization", f"Token {self.token}")
        self.calls[f"{method} {path.split('?')[0].rsplit('/', 1)[-1]}"] += 1
        try:
            with urllib.request.urlopen(req, timeout=30, context=self._ctx) as resp:
                raw = resp.read()
        except urllib.error.HTTPError as err:
            detail = err.read()[:300].decode(errors="replace")
            self.errors.append(f"{method} {path}: {err.code} {detail}")
            raise SimulationError(f"{method} {path}: HTTP {err.code} {detail}") from None
        return json.loads(raw) if raw else None


@dataclasses.dataclass
class Ap:
    mac: str
    name: str
    secret: str = ""
    boot_at: float = 0.0
    down_until: float = 0.0
    next_beat: float = 0.0
    connected: bool = False
    version: str = "0.14.1"


@dataclasses.dataclass
class Client:
    kind: str  # wifi, sdk, asset
    key: str  # mac, or the SDK client's id
    x: float
    y: float
    heading: float
    joined: bool = False


class Simulator:
    def __init__(self, options: Options, out: Callable[[str], None] = print) -> None:
        self.o = options
        self.out = out
        self.rng = random.Random(options.seed)
        self.http = Http(options.url, options.token, options.insecure)
        self.produced: Counter[str] = Counter()  # events the ingest reported, per topic
        self.actions: Counter[str] = Counter()
        self.org_id = ""
        self.map_id = ""
        self.heartbeat_s = 10.0
        self.disconnect_s = 30.0

    # --- set-up -----------------------------------------------------------------------

    def _mac(self, prefix: str) -> str:
        return prefix + "".join(self.rng.choice("0123456789abcdef") for _ in range(6))

    def setup_site(self) -> None:
        site = self.http.call("GET", f"/api/v1/sites/{self.o.site_id}")
        self.org_id = site["org_id"]
        maps = self.http.call("GET", f"/api/v1/sites/{self.o.site_id}/maps")
        found = next((m for m in maps if m.get("name") == MAP_NAME), None)
        if found is None:
            found = self.http.call(
                "POST",
                f"/api/v1/sites/{self.o.site_id}/maps",
                {"name": MAP_NAME, "width": MAP_W_M * PPM, "height": MAP_H_M * PPM, "ppm": PPM},
            )
        self.map_id = found["id"]
        zones = self.http.call("GET", f"/api/v1/sites/{self.o.site_id}/zones")
        have = {z["name"] for z in zones if z.get("map_id") == self.map_id}
        for name, (x1, y1, x2, y2), limit in ZONES:
            if name not in have:
                vertices = [
                    {"x": x1, "y": y1},
                    {"x": x2, "y": y1},
                    {"x": x2, "y": y2},
                    {"x": x1, "y": y2},
                ]
                self.http.call(
                    "POST",
                    f"/api/v1/sites/{self.o.site_id}/zones",
                    {
                        "name": name,
                        "map_id": self.map_id,
                        "vertices": vertices,
                        "occupancy_limit": limit,
                    },
                )

    def setup_aps(self, now: float) -> list[Ap]:
        aps = [Ap(self._mac("5c5b35"), f"sim-ap-{i + 1:02d}") for i in range(self.o.aps)]
        if not aps:
            return []
        inventory = f"/api/v1/orgs/{self.org_id}/inventory"
        claims = [
            {"mac": a.mac, "model": "AP43", "serial": a.mac.upper(), "name": a.name} for a in aps
        ]
        answer = self.http.call("POST", inventory, claims)
        if answer["duplicated"]:  # left by an earlier run: release, claim again for secrets
            self.http.call("PUT", inventory, {"op": "delete", "macs": answer["duplicated"]})
            again = [c for c in claims if c["mac"] in answer["duplicated"]]
            answer["inventory_added"] += self.http.call("POST", inventory, again)["inventory_added"]
        secrets = {d["mac"]: d["agent_secret"] for d in answer["inventory_added"]}
        missing = [a.mac for a in aps if a.mac not in secrets]
        if missing:
            raise SimulationError(f"could not claim {missing} (claimed by another org?)")
        self.http.call(
            "PUT",
            inventory,
            {"op": "assign", "site_id": self.o.site_id, "macs": [a.mac for a in aps]},
        )
        for ap in aps:
            ap.secret = secrets[ap.mac]
            ap.boot_at = now - self.rng.uniform(100, 10_000)
            reply = self._agent("connect", ap, now)
            self.heartbeat_s = float(reply["heartbeat_interval_s"])
            self.disconnect_s = float(reply["disconnect_after_s"])
            ap.connected = True
            ap.next_beat = now + self.rng.uniform(0, min(self.heartbeat_s, 5.0))
        self.actions["claimed"] += len(aps)
        return aps

    def setup_clients(self) -> list[Client]:
        clients: list[Client] = []
        for i in range(self.o.clients):
            sdk = i % 5 == 4  # every fifth walker runs the SDK app
            key = (
                str(uuid.UUID(int=self.rng.getrandbits(128), version=4))
                if sdk
                else (self._mac("a0b1c2"))
            )
            clients.append(self._walker("sdk" if sdk else "wifi", key))
        clients += [self._walker("asset", self._mac("7fc293")) for _ in range(self.o.assets)]
        return clients

    def _walker(self, kind: str, key: str) -> Client:
        return Client(
            kind,
            key,
            self.rng.uniform(0, MAP_W_M),
            self.rng.uniform(0, MAP_H_M),
            self.rng.uniform(0, 2 * math.pi),
        )

    # --- devices ----------------------------------------------------------------------

    def _agent(self, path: str, ap: Ap, now: float, **fields: Any) -> Any:
        body = {"mac": ap.mac, "secret": ap.secret, **fields}
        if path in ("connect", "heartbeat"):
            body.update(uptime=round(now - ap.boot_at, 1), version=ap.version)
        return self.http.call("POST", f"/api/v1/agent/{path}", body, auth=False)

    def _beat(self, ap: Ap, now: float) -> None:
        reply = self._agent("heartbeat", ap, now)
        self.actions["heartbeats"] += 1
        if not ap.connected:
            ap.connected = True
            self.actions["came back"] += 1
        for command in reply["commands"]:
            ok = self.rng.random() > (0.15 if command["kind"] == "upgrade" else 0.1)
            if command["kind"] == "restart":
                ok, ap.boot_at = True, now  # the uptime starts again from zero
            if command["kind"] == "upgrade" and ok:
                ap.version = command["version"]
            self._agent(
                "ack",
                ap,
                now,
                command_id=command["id"],
                ok=ok,
                reason=None if ok else "simulated failure",
            )
            self.actions[f"{command['kind']} {'ok' if ok else 'failed'}"] += 1

    def _device_action(self, aps: list[Ap], now: float) -> None:
        ap = self.rng.choice(aps)
        device = f"/api/v1/sites/{self.o.site_id}/devices/00000000-0000-0000-1000-{ap.mac}"
        roll = self.rng.random()
        if roll < 0.25:
            self.http.call(
                "PUT",
                device,
                {
                    "notes": f"changed at step {int(now)}",
                    "radio_config": {"band_5": {"channel": self.rng.choice([36, 40, 44, 48])}},
                },
            )
            self.actions["config"] += 1
        elif roll < 0.4:
            self.http.call("POST", device + "/restart")
            self.actions["restart"] += 1
        elif roll < 0.55:
            self.http.call(
                "POST", device + "/upgrade", {"version": f"0.14.{self.rng.randrange(2, 30)}"}
            )
            self.actions["upgrade"] += 1
        elif roll < 0.75:
            rogues = [
                {
                    "bssid": self._mac("de00ad"),
                    "ssid": self.rng.choice(["FreeWiFi", "Guest-Open", "xfinity"]),
                }
                for _ in range(self.rng.randint(1, 3))
            ]
            self._agent("report", ap, now, kind="rogue", rogues=rogues)
            self.actions["rogue report"] += 1
        elif roll < 0.9:
            channel = self.rng.choice([36, 40, 44, 48, 149])
            self._agent(
                "report",
                ap,
                now,
                kind="rrm",
                channel=channel,
                pre_channel=40,
                power=self.rng.randint(8, 20),
                pre_power=14,
            )
            self.actions["rrm report"] += 1
        else:
            self._agent("report", ap, now, kind="bad_cable", port_id="eth0")
            self.actions["bad cable report"] += 1

    # --- clients ----------------------------------------------------------------------

    def _walk(self, c: Client) -> None:
        c.heading += self.rng.uniform(-0.6, 0.6)
        step = self.rng.uniform(0.3, 1.5) * (0.3 if c.kind == "asset" else 1.0)
        c.x = min(max(c.x + step * math.cos(c.heading), 0.0), MAP_W_M)
        c.y = min(max(c.y + step * math.sin(c.heading), 0.0), MAP_H_M)
        if c.x in (0.0, MAP_W_M) or c.y in (0.0, MAP_H_M):
            c.heading += math.pi

    def _ingest(self, clients: list[Client], aps: list[Ap], now: float) -> None:
        positions: list[dict[str, Any]] = []
        rssi: list[dict[str, Any]] = []
        associations: list[dict[str, Any]] = []
        for c in clients:
            self._walk(c)
            entry: dict[str, Any] = {
                "kind": c.kind,
                "map_id": self.map_id,
                "x": round(c.x, 2),
                "y": round(c.y, 2),
            }
            entry["id" if c.kind == "sdk" else "mac"] = c.key
            positions.append(entry)
            if c.kind == "asset" and aps:
                rssi.append(
                    {
                        "mac": c.key,
                        "ap": self.rng.choice(aps).mac,
                        "map_id": self.map_id,
                        "rssi": self.rng.randint(-90, -45),
                        "beam": self.rng.randint(1, 8),
                    }
                )
            if c.kind == "wifi" and aps:
                if not c.joined and self.rng.random() < 0.3:
                    c.joined = True
                    associations.append(
                        {
                            "event": "join",
                            "mac": c.key,
                            "ap": self.rng.choice(aps).mac,
                            "ssid": "Sim-Corp",
                            "band": self.rng.choice(["24", "5"]),
                            "rssi": self.rng.randint(-80, -40),
                        }
                    )
                elif c.joined and self.rng.random() < 0.03:
                    c.joined = False
                    associations.append(
                        {
                            "event": "leave",
                            "mac": c.key,
                            "termination_reason": self.rng.choice([1, 2]),
                        }
                    )
        if not positions and not rssi:
            return
        answer = self.http.call(
            "POST",
            f"/api/v1/sites/{self.o.site_id}/location/ingest",
            {"positions": positions, "rssi": rssi, "associations": associations},
        )
        self.produced.update(answer["events"])

    # --- the run ----------------------------------------------------------------------

    def run(
        self, clock: Callable[[], float] = time.time, sleep: Callable[[float], None] = time.sleep
    ) -> dict[str, Any]:
        start = clock()
        self.setup_site()
        aps = self.setup_aps(start)
        clients = self.setup_clients()
        self.out(
            f"simulating {len(aps)} APs, {self.o.clients} clients, {self.o.assets} assets "
            f"for {self.o.duration_s:.0f}s on site {self.o.site_id}"
            + (f" (seed {self.o.seed})" if self.o.seed is not None else "")
        )
        steps = max(1, int(self.o.duration_s / self.o.tick_s))
        per_step = self.o.tick_s / 60.0
        last_report = start
        for step in range(steps):
            now = clock()
            for ap in aps:
                if ap.down_until > now:
                    continue
                if now >= ap.next_beat:
                    self._beat(ap, now)
                    ap.next_beat = now + self.heartbeat_s
            live = [a for a in aps if a.down_until <= now]
            # an outage must outlast the server's threshold to be seen, and end in the run
            outage = self.disconnect_s * 2 + self.rng.uniform(0, 5)
            if (
                live
                and self.rng.random() < self.o.down_rate * per_step
                and (now + outage < start + self.o.duration_s - self.disconnect_s)
            ):
                victims = self.rng.sample(live, k=min(len(live), self.rng.choice([1, 1, 2])))
                for ap in victims:
                    ap.down_until, ap.connected = now + outage, False
                    ap.next_beat = ap.down_until
                self.actions["went down"] += len(victims)
            if live and self.rng.random() < self.o.action_rate * per_step:
                self._device_action(live, now)
            self._ingest(clients, live, now)
            if now - last_report >= 10 or step == steps - 1:
                last_report = now
                self.out(
                    f"[{now - start:6.1f}s] calls {sum(self.http.calls.values())}, "
                    f"events from ingest {sum(self.produced.values())}, "
                    f"down now {sum(1 for a in aps if a.down_until > now)}, "
                    f"errors {len(self.http.errors)}"
                )
            sleep(max(0.0, start + (step + 1) * self.o.tick_s - clock()))
        summary = {
            "duration_s": round(clock() - start, 1),
            "aps": len(aps),
            "clients": self.o.clients,
            "assets": self.o.assets,
            "actions": dict(sorted(self.actions.items())),
            "ingest_events": dict(sorted(self.produced.items())),
            "api_calls": sum(self.http.calls.values()),
            "errors": list(self.http.errors),
        }
        self.out("summary: " + json.dumps(summary, indent=2))
        return summary


def simulate(options: Options, out: Callable[[str], None] = print) -> dict[str, Any]:
    """Run a simulation; the summary of what it produced."""
    return Simulator(options, out).run()
