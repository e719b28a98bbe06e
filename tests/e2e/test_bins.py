"""Request bins end to end: `misthook serve` WITHOUT loopback allowed for egress, so the
only way a delivery reaches 127.0.0.1 is the exemption for the server's own bins."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from misthook.testing.client import ApiClient
from misthook.testing.receiver import Receiver
from misthook.testing.server import ServerProcess, init_database


@pytest.fixture(scope="module")
def closed_egress(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[ServerProcess, dict[str, str]]]:
    """A server with the default egress policy (loopback refused)."""
    tmp = tmp_path_factory.mktemp("bins")
    database = str(tmp / "misthook.db")
    env = {"MISTHOOK_EGRESS_ALLOW": ""}
    ids = init_database(database, env)
    server = ServerProcess(database, tmp, env=env).start()
    try:
        yield server, ids
    finally:
        server.stop()


def _wait_message(api: ApiClient, bin_id: str, topic: str, timeout_s: float = 15) -> Any:
    """The first request the bin caught whose body is a message of ``topic`` (others may
    come too: a webhook on ``audits`` also gets the audit of its own creation)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        caught: list[Any] = api.get(f"/api/v1/bins/{bin_id}/requests").json()
        for request in caught:
            if json.loads(request["body"]).get("topic") == topic:
                return request
        time.sleep(0.1)
    raise AssertionError(f"bin caught no {topic} message in {timeout_s}s")


def test_bin_captures_any_method_newest_first(
    closed_egress: tuple[ServerProcess, dict[str, str]],
) -> None:
    """The capture URL takes any method and subpath without auth; the API lists it all."""
    server, ids = closed_egress
    api = server.client(ids["token"])
    created = api.post("/api/v1/bins", {"name": "b"})
    assert created.status == 200, created.body
    bin_doc = created.json()
    assert bin_doc["url"].endswith(f"/bins/{bin_doc['id']}")
    anonymous = server.client()
    assert anonymous.post(f"/bins/{bin_doc['id']}/a/b?x=1", {"hello": 1}).status == 200
    assert anonymous.request("PUT", f"/bins/{bin_doc['id']}", raw=b"raw").status == 200
    assert anonymous.get(f"/bins/{bin_doc['id']}").status == 200
    caught = api.get(f"/api/v1/bins/{bin_doc['id']}/requests").json()
    assert [r["method"] for r in caught] == ["GET", "PUT", "POST"]
    first = caught[-1]
    assert first["path"] == f"/bins/{bin_doc['id']}/a/b"
    assert first["query"] == "x=1"
    assert first["src_ip"] == "127.0.0.1"
    assert first["size"] == len(b'{"hello": 1}')
    assert ["Content-Type", "application/json"] in [[k.title(), v] for k, v in first["headers"]]
    assert anonymous.get("/api/v1/bins").status == 401
    assert anonymous.post("/bins/nosuchbin1234567").status == 404
    assert api.delete(f"/api/v1/bins/{bin_doc['id']}/requests").status == 200
    assert api.get(f"/api/v1/bins/{bin_doc['id']}/requests").json() == []
    assert api.delete(f"/api/v1/bins/{bin_doc['id']}").status == 200
    assert anonymous.post(f"/bins/{bin_doc['id']}").status == 404


def test_ping_reaches_own_bin_but_not_other_loopback(
    closed_egress: tuple[ServerProcess, dict[str, str]],
) -> None:
    """A webhook to the server's own bin is accepted and delivered, signed; one to another
    loopback port is refused at create time (loopback stays closed)."""
    server, ids = closed_egress
    api = server.client(ids["token"])
    bin_doc = api.post("/api/v1/bins", {}).json()
    url = f"http://127.0.0.1:{server.port}/bins/{bin_doc['id']}"
    hooks = f"/api/v1/sites/{ids['site_id']}/webhooks"
    hook = api.post(hooks, {"name": "to bin", "url": url, "secret": "s3", "topics": ["audits"]})
    assert hook.status == 200, hook.body
    assert api.post(f"{hooks}/{hook.json()['id']}/ping").status == 200
    ping = _wait_message(api, bin_doc["id"], "ping")
    body = ping["body"].encode()
    headers = {k.lower(): v for k, v in ping["headers"]}
    assert headers["x-mist-signature-v2"] == hmac.new(b"s3", body, hashlib.sha256).hexdigest()
    verdict = api.post(
        f"/api/v1/bins/{bin_doc['id']}/requests/{ping['id']}/verify", {"secret": "s3"}
    ).json()
    assert verdict == {"x-mist-signature-v2": "valid", "x-mist-signature": "valid"}
    wrong = api.post(
        f"/api/v1/bins/{bin_doc['id']}/requests/{ping['id']}/verify", {"secret": "x"}
    ).json()
    assert wrong["x-mist-signature-v2"] == "invalid"

    with Receiver() as receiver:
        refused = api.post(hooks, {"name": "local", "url": receiver.url, "topics": ["audits"]})
        assert refused.status == 400
        assert "loopback" in refused.json()["reason"]
    api_path = f"http://127.0.0.1:{server.port}/api/v1/self"
    assert api.post(hooks, {"name": "api", "url": api_path, "topics": ["audits"]}).status == 400


def test_bin_bound_is_configurable(tmp_path: Path) -> None:
    """MISTHOOK_BIN_MAX_REQUESTS bounds what one bin keeps."""
    database = str(tmp_path / "misthook.db")
    env = {"MISTHOOK_BIN_MAX_REQUESTS": "2"}
    ids = init_database(database, env)
    server = ServerProcess(database, tmp_path, env=env).start()
    try:
        api = server.client(ids["token"])
        bin_id = api.post("/api/v1/bins", {}).json()["id"]
        for n in range(4):
            server.client().post(f"/bins/{bin_id}", {"n": n})
        caught = api.get(f"/api/v1/bins/{bin_id}/requests").json()
        assert [r["body"] for r in caught] == ['{"n": 3}', '{"n": 2}']
    finally:
        server.stop()
