"""Crash tests: kill -9 during delivery, restart, and every acknowledged event still arrives
(at least once), on SQLite and on PostgreSQL, with `misthook serve` and `misthook worker`s."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from misthook.testing.client import ApiClient
from misthook.testing.receiver import Received, Receiver
from misthook.testing.server import ServerProcess, init_database, misthook_cmd

EVENTS = 3000
# Short leases so that a restarted process takes over the dead one's streams quickly.
ENV = {"MISTHOOK_EGRESS_ALLOW": "127.0.0.0/8", "MISTHOOK_LEASE_S": "2"}


def slow_ok(n: int) -> tuple[int, dict[str, str]]:
    time.sleep(0.002)  # delivery must still be running when the kill comes
    return 200, {}


def marks(requests: list[Received]) -> set[int]:
    return {e["n"] for r in requests for e in r.json()["events"]}


def setup_hook(api: ApiClient, site_id: str, url: str, label: str = "crash") -> None:
    body = {
        "name": label,
        "url": url,
        "topics": ["device-events"],
        "single_event_per_message": True,
        "headers": {"X-Hook": label},
    }
    answer = api.post(f"/api/v1/sites/{site_id}/webhooks", body)
    assert answer.status == 200, answer.body


def publish_backlog(api: ApiClient, site_id: str) -> None:
    for start in range(0, EVENTS, 1000):
        events = [{"type": "AP_RESTARTED", "n": n} for n in range(start, start + 1000)]
        answer = api.post(f"/api/v1/sites/{site_id}/events/device-events", {"events": events})
        assert answer.status == 200, answer.body


@contextlib.contextmanager
def worker_process(database: str, workdir: Path, name: str) -> Iterator[subprocess.Popen[bytes]]:
    """A `misthook worker` child; killed by its pid on the way out if still alive."""
    log = (workdir / f"{name}.log").open("ab")
    proc = subprocess.Popen(
        misthook_cmd("worker", "--database", database),
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, **ENV},
    )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)


def kill_serve_mid_delivery_then_restart(database: str, workdir: Path) -> None:
    ids = init_database(database, ENV)
    with Receiver(slow_ok) as rx:
        first = ServerProcess(database, workdir, env=ENV).start()
        try:
            api = first.client(ids["token"])
            setup_hook(api, ids["site_id"], rx.url)
            publish_backlog(api, ids["site_id"])
            assert rx.wait_for(lambda reqs: len(reqs) >= 200, timeout_s=30)
            first.kill()
        finally:
            first.stop()
        got_before = len(marks(rx.requests))
        assert got_before < EVENTS, "delivery finished before the kill; nothing was tested"
        second = ServerProcess(database, workdir, env=ENV).start()
        try:
            assert rx.wait_for(lambda reqs: len(marks(reqs)) >= EVENTS, timeout_s=90)
        finally:
            second.stop()
        assert marks(rx.requests) == set(range(EVENTS))


def test_kill_9_during_delivery_loses_nothing_on_sqlite(tmp_path: Path) -> None:
    """SQLite: serve is killed mid-backlog; after a restart every event has arrived."""
    kill_serve_mid_delivery_then_restart(str(tmp_path / "misthook.db"), tmp_path)


@pytest.mark.postgres
def test_kill_9_during_delivery_loses_nothing_on_postgres(
    tmp_path: Path, fresh_postgres_url: str
) -> None:
    """PostgreSQL: the same crash and restart, nothing lost."""
    kill_serve_mid_delivery_then_restart(fresh_postgres_url, tmp_path)


@pytest.mark.postgres
def test_worker_processes_share_postgres_and_survive_a_kill(
    tmp_path: Path, fresh_postgres_url: str
) -> None:
    """Two `misthook worker`s on one PostgreSQL; one is killed -9, the other finishes."""
    ids = init_database(fresh_postgres_url, ENV)
    server = ServerProcess(fresh_postgres_url, tmp_path, extra_args=("--no-workers",), env=ENV)
    server.start()
    try:
        api = server.client(ids["token"])
        with Receiver(slow_ok) as rx:
            hooks = 4
            for n in range(hooks):
                setup_hook(api, ids["site_id"], rx.url, f"hook-{n}")
            with (
                worker_process(fresh_postgres_url, tmp_path, "w1") as w1,
                worker_process(fresh_postgres_url, tmp_path, "w2"),
            ):
                publish_backlog(api, ids["site_id"])
                assert rx.wait_for(lambda reqs: len(reqs) >= 300, timeout_s=60)
                os.kill(w1.pid, signal.SIGKILL)
                w1.wait(timeout=10)
                total = hooks * EVENTS
                assert rx.wait_for(lambda reqs: len(reqs) >= total, timeout_s=120)
                time.sleep(0.5)
            by_hook: dict[str, list[Received]] = {}
            for r in rx.requests:
                by_hook.setdefault(r.headers.get("X-Hook", ""), []).append(r)
            assert sorted(by_hook) == [f"hook-{n}" for n in range(hooks)]
            for requests in by_hook.values():
                assert marks(requests) == set(range(EVENTS))
    finally:
        server.stop()
