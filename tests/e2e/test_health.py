"""``/healthz`` answers 200 while the server reaches its database and 503 once it cannot."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from misthook.store.sql import load_migrations
from misthook.testing.pg_server import PostgresServer
from misthook.testing.server import ServerProcess, init_database
from tests.e2e.conftest import Served


def test_a_serving_server_is_healthy_without_a_token(served: Served) -> None:
    answer = served.server.client().get("/healthz")
    assert answer.status == 200
    assert answer.json()["status"] == "ok"
    assert answer.json()["schema_version"] == max(v for v, _ in load_migrations("sqlite"))


@pytest.mark.postgres
def test_a_server_whose_database_stops_answers_503_and_logs_it_once(tmp_path: Path) -> None:
    pg = PostgresServer().start()  # its own: this test stops it
    running = True
    try:
        database = pg.new_database("health")
        env = {"MISTHOOK_EGRESS_ALLOW": "127.0.0.0/8"}
        init_database(database, env)
        server = ServerProcess(database, tmp_path, extra_args=("--no-workers",), env=env).start()
        try:
            client = server.client()
            assert client.get("/healthz").status == 200
            pg.stop()
            running = False
            deadline = time.monotonic() + 15
            answer = client.get("/healthz")
            while answer.status != 503 and time.monotonic() < deadline:
                time.sleep(0.2)
                answer = client.get("/healthz")
            assert answer.status == 503
            assert answer.json() == {
                "status": "unavailable",
                "detail": "the database does not answer: see the log",
            }
            for _ in range(3):
                assert client.get("/healthz").status == 503
        finally:
            server.stop()
        assert server.log_path is not None
        log = server.log_path.read_text()
        assert log.count("the health check's database query failed") == 1
    finally:
        if running:
            pg.stop()
