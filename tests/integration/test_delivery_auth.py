"""Authentication of deliveries, with the real worker and sender against real servers on
127.0.0.1: OAuth2 tokens (client_credentials and password grants) from a token endpoint,
Splunk HEC tokens, and Basic credentials from the URL; the delivery log never shows them."""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import urllib.parse
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest
from aiohttp import web

from misthook.bus import Bus
from misthook.delivery.worker import Worker
from misthook.store import MEMORY_URL, open_store
from misthook.store.base import Store
from tests.integration.test_worker import (
    TOPIC,
    add_webhook,
    deliveries,
    make_config,
    publish,
    running,
    sending,
    until,
)

CLIENT_ID, CLIENT_SECRET = "client-1", "client-secret-1"
USERNAME, PASSWORD = "svc-user", "svc-password"


@pytest.fixture
async def mem_store() -> AsyncIterator[Store]:
    """The in-memory store: authentication does not depend on the backend."""
    store = open_store(MEMORY_URL)
    await store.open()
    try:
        yield store
    finally:
        await store.close()


@dataclasses.dataclass
class AuthServers:
    """A token endpoint (``/token``) and a receiver (``/hook``, ``/services/collector``)
    on one aiohttp server. The receiver answers 401 to a token in ``rejected``."""

    token_status: int = 200
    token_forms: list[dict[str, str]] = dataclasses.field(default_factory=list)
    rejected: set[str] = dataclasses.field(default_factory=set)
    received: list[tuple[str, str, bytes]] = dataclasses.field(default_factory=list)
    base: str = ""

    async def token(self, request: web.Request) -> web.Response:
        form = {k: str(v) for k, v in (await request.post()).items()}
        self.token_forms.append(form)
        if self.token_status != 200:
            return web.json_response({"error": "invalid_client"}, status=self.token_status)
        access = f"tok-{len(self.token_forms)}"
        return web.json_response({"access_token": access, "expires_in": 3600})

    async def hook(self, request: web.Request) -> web.Response:
        authorization = request.headers.get("Authorization", "")
        self.received.append((request.path, authorization, await request.read()))
        token = authorization.removeprefix("Bearer ")
        return web.Response(status=401 if token in self.rejected else 200, text="ok")

    @property
    def authorizations(self) -> list[str]:
        return [auth for _, auth, _ in self.received]


@contextlib.asynccontextmanager
async def auth_servers() -> AsyncIterator[AuthServers]:
    servers = AuthServers()
    app = web.Application()
    app.router.add_post("/token", servers.token)
    app.router.add_post("/hook", servers.hook)
    app.router.add_post("/services/collector", servers.hook)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    servers.base = f"http://127.0.0.1:{runner.addresses[0][1]}"
    try:
        yield servers
    finally:
        await runner.cleanup()


def _oauth2(servers: AuthServers, grant: str) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "type": "oauth2",
        "oauth2_grant_type": grant,
        "oauth2_token_url": servers.base + "/token",
        "oauth2_scopes": ["events.write", "events.read"],
    }
    if grant == "password":
        fields.update(oauth2_username=USERNAME, oauth2_password=PASSWORD)
    else:
        fields.update(oauth2_client_id=CLIENT_ID, oauth2_client_secret=CLIENT_SECRET)
    return fields


@contextlib.asynccontextmanager
async def delivering(store: Store) -> AsyncIterator[Bus]:
    """A running worker woken by every publish on the returned bus."""
    config = make_config()
    bus = Bus(store)
    async with sending(config) as sender:
        worker = Worker(store, sender, config)
        bus.on_publish(worker.wake)
        async with running(worker):
            yield bus


async def _logged(store: Store, webhook_id: str, n: int) -> list[dict[str, Any]]:
    await until(lambda: _has(store, webhook_id, n))
    return await deliveries(store, webhook_id)


async def _has(store: Store, webhook_id: str, n: int) -> bool:
    return len(await deliveries(store, webhook_id)) >= n


def _header(record: dict[str, Any], name: str) -> list[str]:
    headers: dict[str, list[str]] = orjson.loads(record["req_headers"])
    return headers.get(name, [])


async def test_oauth2_client_credentials_token_is_fetched_once_and_cached(
    mem_store: Store,
) -> None:
    """The receiver gets ``Authorization: Bearer <token>`` on every message; the token
    endpoint is asked once, with the client's credentials and scopes; the log redacts."""
    async with auth_servers() as servers, delivering(mem_store) as bus:
        hook = await add_webhook(
            mem_store,
            servers.base + "/hook",
            single_event_per_message=True,
            **_oauth2(servers, "client_credentials"),
        )
        for n in range(5):  # one at a time: five messages, five lookups of the token
            await publish(bus, 1, start=n)
            await until(lambda: len(servers.received) > n)  # noqa: B023 (awaited here)
        records = await _logged(mem_store, hook["id"], 5)
    assert servers.authorizations == ["Bearer tok-1"] * 5
    assert servers.token_forms == [
        {
            "grant_type": "client_credentials",
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "scope": "events.write events.read",
        }
    ]
    assert all(r["status"] == "success" for r in records)
    assert all(_header(r, "Authorization") == ["Bearer [redacted]"] for r in records)
    assert not any("tok-1" in orjson.dumps(r).decode() for r in records)


async def test_a_401_gets_a_new_token_and_one_retry(mem_store: Store) -> None:
    """The receiver refuses the cached token with 401: a new token is fetched and the
    message sent again at once, in the same attempt; later messages use the new token."""
    async with auth_servers() as servers, delivering(mem_store) as bus:
        servers.rejected.add("tok-1")
        hook = await add_webhook(mem_store, servers.base + "/hook", **_oauth2(servers, "password"))
        await publish(bus, 1)
        [first] = await _logged(mem_store, hook["id"], 1)
        await publish(bus, 1, start=1)
        records = await _logged(mem_store, hook["id"], 2)
    assert servers.authorizations == ["Bearer tok-1", "Bearer tok-2", "Bearer tok-2"]
    assert (first["status"], first["status_code"], first["attempt"]) == ("success", 200, 1)
    assert [r["status"] for r in records] == ["success", "success"]
    assert len(servers.token_forms) == 2
    assert servers.token_forms[0] == {
        "grant_type": "password",
        "username": USERNAME,
        "password": PASSWORD,
        "scope": "events.write events.read",
    }


async def test_a_receiver_refusing_every_token_gets_one_retry_per_attempt(
    mem_store: Store,
) -> None:
    """401 with the fresh token too: the attempt fails (logged 401) after exactly two POSTs."""
    async with auth_servers() as servers, delivering(mem_store) as bus:
        servers.rejected.update({"tok-1", "tok-2", "tok-3", "tok-4"})
        hook = await add_webhook(
            mem_store, servers.base + "/hook", **_oauth2(servers, "client_credentials")
        )
        await publish(bus, 1)
        [record, *_] = await _logged(mem_store, hook["id"], 1)
    assert (record["status"], record["status_code"], record["attempt"]) == ("failure", 401, 1)
    assert servers.authorizations[:2] == ["Bearer tok-1", "Bearer tok-2"]


async def test_a_failing_token_endpoint_is_logged_and_nothing_is_sent(mem_store: Store) -> None:
    """No token: the receiver is not called; the log says the token request failed."""
    async with auth_servers() as servers, delivering(mem_store) as bus:
        servers.token_status = 401
        hook = await add_webhook(
            mem_store, servers.base + "/hook", **_oauth2(servers, "client_credentials")
        )
        await publish(bus, 1)
        [record, *_] = await _logged(mem_store, hook["id"], 1)
    assert record["status"] == "failure" and record["status_code"] == 0
    assert record["error"].startswith("not sent: OAuth2 token request failed: HTTP 401")
    assert servers.received == []


async def test_splunk_gets_its_token_and_hec_events(mem_store: Store) -> None:
    """``type: splunk``: ``Authorization: Splunk <token>`` and one HEC event per line."""
    async with auth_servers() as servers, delivering(mem_store) as bus:
        hook = await add_webhook(
            mem_store,
            servers.base + "/services/collector",
            type="splunk",
            splunk_token="hec-token-1",
        )
        await publish(bus, 3)
        [record] = await _logged(mem_store, hook["id"], 1)
    [(path, authorization, body)] = servers.received
    assert (path, authorization) == ("/services/collector", "Splunk hec-token-1")
    lines = [orjson.loads(line) for line in body.split(b"\n")]
    assert [line["event"]["n"] for line in lines] == [0, 1, 2]
    assert all(line["sourcetype"] == f"mist:{TOPIC}" for line in lines)
    assert set(lines[0]) == {"event", "sourcetype"}
    assert _header(record, "Authorization") == ["Splunk [redacted]"]
    assert "hec-token-1" not in orjson.dumps(record).decode()


@pytest.mark.parametrize(
    ("userinfo", "pair"),
    [("alice:s3cr%40t", "alice:s3cr@t"), ("bob:", "bob:")],
)
async def test_basic_credentials_from_the_url_arrive_and_are_redacted(
    mem_store: Store, userinfo: str, pair: str
) -> None:
    """``user:password@`` in the URL becomes ``Authorization: Basic``; the logged URL has
    no userinfo and the logged header no credentials."""
    async with auth_servers() as servers, delivering(mem_store) as bus:
        parts = urllib.parse.urlsplit(servers.base + "/hook")
        url = parts._replace(netloc=f"{userinfo}@{parts.netloc}").geturl()
        hook = await add_webhook(mem_store, url)
        await publish(bus, 1)
        [record] = await _logged(mem_store, hook["id"], 1)
    [(_, authorization, _)] = servers.received
    assert authorization == "Basic " + base64.b64encode(pair.encode()).decode()
    assert record["req_url"] == servers.base + "/hook"
    assert _header(record, "Authorization") == ["Basic [redacted]"]
    logged = orjson.dumps(record).decode()
    assert userinfo not in logged and authorization.split()[1] not in logged


async def test_many_messages_refused_at_once_share_one_new_token(mem_store: Store) -> None:
    """A window of messages in flight all refused with the old token: one new token is
    fetched for all of them (not one per refused message), and every event arrives."""
    async with auth_servers() as servers, delivering(mem_store) as bus:
        servers.rejected.add("tok-1")
        hook = await add_webhook(
            mem_store,
            servers.base + "/hook",
            single_event_per_message=True,
            **_oauth2(servers, "client_credentials"),
        )
        await publish(bus, 12)
        records = await _logged(mem_store, hook["id"], 12)
    assert [r["status"] for r in records] == ["success"] * 12
    assert len(servers.token_forms) == 2
    assert servers.authorizations.count("Bearer tok-2") == 12
