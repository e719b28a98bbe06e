"""End-to-end fixtures: `misthook serve` as a real subprocess on a fresh SQLite file."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest

from misthook.testing.client import ApiClient
from misthook.testing.server import ServerProcess, init_database


@dataclasses.dataclass
class Served:
    server: ServerProcess
    org_id: str
    site_id: str
    token: str

    @property
    def api(self) -> ApiClient:
        return self.server.client(self.token)


def serve_fresh(tmp: Path, *extra: str, env: dict[str, str] | None = None) -> Iterator[Served]:
    """Init a fresh SQLite file in ``tmp`` and serve it until the generator is closed."""
    database = str(tmp / "misthook.db")
    env = {"MISTHOOK_EGRESS_ALLOW": "127.0.0.0/8", **(env or {})}
    ids = init_database(database, env)
    server = ServerProcess(database, tmp, extra_args=extra, env=env).start()
    try:
        yield Served(server, ids["org_id"], ids["site_id"], ids["token"])
    finally:
        server.stop()


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    """A fresh server over HTTP with its first org, site and superuser token."""
    yield from serve_fresh(tmp_path)


@pytest.fixture(scope="module")
def served_module(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """One server shared by a module's read-mostly tests."""
    yield from serve_fresh(tmp_path_factory.mktemp("served"))


@pytest.fixture(scope="module")
def served_https(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """A server over HTTPS with a self-signed certificate."""
    yield from serve_fresh(tmp_path_factory.mktemp("https"), "--tls-self-signed")
