"""`misthook simulate` against a real `misthook serve`: through the public API only, it
makes every seed topic live, everything it causes is delivered, nothing is logged as an
error, and a seed makes its sequence repeatable."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

from misthook.simulate import Options, Simulator
from misthook.testing.receiver import Receiver
from misthook.testing.server import ServerProcess, init_database, misthook_cmd
from tests.schema import assert_valid

ENV = {
    "MISTHOOK_EGRESS_ALLOW": "127.0.0.0/8",
    "MISTHOOK_DISCONNECT_AFTER_S": "1.5",
    "MISTHOOK_MONITOR_INTERVAL_S": "0.2",
    "MISTHOOK_HEARTBEAT_INTERVAL_S": "0.5",
    "MISTHOOK_ALARM_WINDOW_S": "30",
}
SEED_TOPICS = {"audits", "device-events", "alarms", "location", "zone", "asset-raw"}


def test_same_seed_same_network() -> None:
    """Two simulators with one seed make the same devices and walkers; another seed not."""

    def network(seed: int) -> list[str]:
        sim = Simulator(Options(url="http://127.0.0.1:1", token="t", site_id="s", seed=seed))
        return [sim._mac("5c5b35") for _ in range(3)] + [c.key for c in sim.setup_clients()]

    assert network(7) == network(7)
    assert network(7) != network(8)


def test_simulator_run_is_delivered_whole_without_errors(tmp_path: Path) -> None:
    """A 25 s run: exit 0 with a summary, the seed topics delivered and valid against the
    spec, every stored device event delivered, and no error in the server's log."""
    database = str(tmp_path / "misthook.db")
    ids = init_database(database, ENV)
    server = ServerProcess(database, tmp_path, env=ENV).start()
    try:
        with Receiver() as rx:
            api = server.client(ids["token"])
            org, site = ids["org_id"], ids["site_id"]
            for path, topics in (
                (f"/api/v1/orgs/{org}/webhooks", ["audits", "device-events", "alarms"]),
                (f"/api/v1/sites/{site}/webhooks", ["location", "zone", "asset-raw"]),
            ):
                answer = api.post(path, {"name": "sim", "url": rx.url, "topics": topics})
                assert answer.status == 200, answer.body
            run = subprocess.run(
                misthook_cmd(
                    "simulate",
                    "--url",
                    server.base_url,
                    "--token",
                    ids["token"],
                    "--site",
                    site,
                    "--aps",
                    "4",
                    "--clients",
                    "8",
                    "--assets",
                    "2",
                    "--duration",
                    "25",
                    "--seed",
                    "42",
                    "--tick",
                    "0.5",
                    "--action-rate",
                    "40",
                    "--down-rate",
                    "6",
                ),
                capture_output=True,
                text=True,
                timeout=120,
            )
            assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
            summary = json.loads(run.stdout.split("summary: ", 1)[1])
            assert summary["errors"] == [] and summary["aps"] == 4
            assert summary["actions"]["went down"] >= 1
            assert summary["ingest_events"]["location"] > 0

            def delivered_device_events() -> int:
                return sum(len(m["events"]) for m in rx.messages("device-events"))

            def stored_device_events() -> int:
                answer = api.get(
                    f"/api/v1/orgs/{org}/devices/events/search?device_type=all&limit=1"
                )
                total: int = answer.json()["total"]
                return total

            time.sleep(3)  # the monitor disconnects the APs the simulator left behind
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                if delivered_device_events() == stored_device_events():
                    break
                time.sleep(0.2)
            assert delivered_device_events() == stored_device_events()
            messages = rx.messages()
            assert {m["topic"] for m in messages} >= SEED_TOPICS
            for message in messages:
                assert_valid(message)
            types = {e["type"] for m in rx.messages("device-events") for e in m["events"]}
            assert {"AP_CLAIMED", "AP_ASSIGNED", "AP_CONNECTED", "AP_DISCONNECTED"} <= types
        log = server.log()
        assert " ERROR " not in log and "Traceback" not in log, log[-3000:]
    finally:
        server.stop()
