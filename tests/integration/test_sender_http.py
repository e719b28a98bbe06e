"""The sender against real receivers on 127.0.0.1: outcomes, TLS, auth, timeouts, caps."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import socket
import ssl
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import orjson
import pytest
import trustme
from aiohttp import web

from misthook.delivery.message import OutgoingRequest, build_request
from misthook.delivery.oauth2 import OAuth2Tokens
from misthook.delivery.sender import Sender, SendOutcome, parse_retry_after
from misthook.domain.egress import EgressPolicy

LOCAL = EgressPolicy(allow=("127.0.0.0/8",))
EVENTS = [b'{"id":"e1"}', b'{"id":"e2"}']


class Receiver:
    """An aiohttp.web app on a free 127.0.0.1 port that records every request."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, dict[str, str], bytes]] = []
        self.token_requests: list[dict[str, str]] = []
        self.peers: list[object] = []  # client (address, port) of each request
        self.app = web.Application()
        self.app.router.add_route("*", "/{tail:.*}", self._handle)
        self.runner = web.AppRunner(self.app, access_log=None)
        self.port = 0

    async def start(self, ssl_context: ssl.SSLContext | None = None) -> None:
        await self.runner.setup()
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        await web.SockSite(self.runner, sock, ssl_context=ssl_context).start()

    def url(self, path: str, scheme: str = "http") -> str:
        return f"{scheme}://127.0.0.1:{self.port}{path}"

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        self.requests.append((request.path_qs, dict(request.headers), body))
        self.peers.append(
            request.transport.get_extra_info("peername") if request.transport else None
        )
        path = request.path
        if path == "/token":
            form = {k: str(v) for k, v in (await request.post()).items()}
            self.token_requests.append(form)
            answer = {"access_token": f"tok-{len(self.token_requests)}", "expires_in": 3600}
            return web.json_response(answer)
        if path == "/fail":
            return web.Response(status=500, text="boom")
        if path == "/gone":
            return web.Response(status=410)
        if path == "/redirect":
            raise web.HTTPMovedPermanently(location=self.url("/target"))
        if path == "/busy":
            return web.Response(status=503, headers={"Retry-After": "120"})
        if path == "/slow-down":
            when = format_datetime(datetime.now(UTC) + timedelta(seconds=90), usegmt=True)
            return web.Response(status=429, headers={"Retry-After": when})
        if path == "/big":
            return web.Response(body=b"x" * 200_000)
        return web.Response(text="Ok", headers={"X-Receiver": "yes"})

    async def stop(self) -> None:
        await self.runner.cleanup()


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    rec = Receiver()
    await rec.start()
    yield rec
    await rec.stop()


@pytest.fixture
async def sender() -> AsyncIterator[Sender]:
    async with Sender(LOCAL, connect_timeout_s=1.0, total_timeout_s=1.0) as s:
        yield s


def post(url: str, **webhook: object) -> OutgoingRequest:
    return build_request({"url": url, **webhook}, "audits", EVENTS)


async def test_200_is_success_with_headers_and_body(receiver: Receiver, sender: Sender) -> None:
    """A 2xx answer is ok, with the response headers as lists and the body kept."""
    outcome = await sender.send(post(receiver.url("/in?x=1")))
    assert outcome.ok and outcome.status_code == 200 and outcome.error == ""
    assert outcome.resp_body == b"Ok"
    assert outcome.resp_headers["X-Receiver"] == ["yes"]
    assert 0 < outcome.latency_s < 1.0
    assert not outcome.refused
    path, _, body = receiver.requests[0]
    assert path == "/in?x=1"
    assert body == b'{"topic":"audits","events":[{"id":"e1"},{"id":"e2"}]}'


async def test_only_our_headers_go_on_the_wire(receiver: Receiver, sender: Sender) -> None:
    """No Accept or Accept-Encoding from aiohttp: Host, Content-Type, User-Agent, Length."""
    await sender.send(post(receiver.url("/in")))
    _, headers, body = receiver.requests[0]
    assert set(headers) == {"Host", "Content-Type", "User-Agent", "Content-Length"}
    assert headers["User-Agent"] == "Mist-webhook"
    assert headers["Content-Type"] == "application/json"
    assert headers["Content-Length"] == str(len(body))


@pytest.mark.parametrize(("path", "status"), [("/fail", 500), ("/gone", 410)])
async def test_error_statuses_are_failures(
    receiver: Receiver, sender: Sender, path: str, status: int
) -> None:
    """5xx and 410 are failures that keep the status code and the body."""
    outcome = await sender.send(post(receiver.url(path)))
    assert not outcome.ok
    assert outcome.status_code == status
    assert outcome.error.startswith(f"HTTP {status}")


async def test_redirect_is_not_followed(receiver: Receiver, sender: Sender) -> None:
    """A 301 is recorded as a failure and its target never sees a request (S6)."""
    outcome = await sender.send(post(receiver.url("/redirect")))
    assert not outcome.ok
    assert outcome.status_code == 301
    assert outcome.error == "redirect not followed"
    assert [path for path, _, _ in receiver.requests] == ["/redirect"]


async def test_retry_after_seconds_and_dates_are_parsed(receiver: Receiver, sender: Sender) -> None:
    """Retry-After as delta seconds and as an HTTP date both become seconds."""
    busy = await sender.send(post(receiver.url("/busy")))
    assert busy.status_code == 503 and busy.retry_after_s == 120.0
    slow = await sender.send(post(receiver.url("/slow-down")))
    assert slow.status_code == 429
    assert slow.retry_after_s is not None and 85.0 <= slow.retry_after_s <= 90.0
    ok = await sender.send(post(receiver.url("/in")))
    assert ok.retry_after_s is None


def test_retry_after_parser_edge_cases() -> None:
    """Garbage and zone-less dates give None; past dates give 0."""
    assert parse_retry_after("abc") is None
    assert parse_retry_after("") is None
    assert parse_retry_after("-5") is None
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0
    assert parse_retry_after(" 7 ") == 7.0


async def test_response_body_is_capped(receiver: Receiver) -> None:
    """Only resp_body_max_bytes of a large answer are read and kept (F8)."""
    async with Sender(LOCAL, resp_body_max_bytes=1000) as capped:
        outcome = await capped.send(post(receiver.url("/big")))
        assert outcome.ok
        assert outcome.resp_body == b"x" * 1000
        # the pool still works afterwards
        assert (await capped.send(post(receiver.url("/in")))).ok


async def test_black_hole_times_out_while_a_healthy_receiver_answers(
    receiver: Receiver, sender: Sender
) -> None:
    """A receiver that accepts and never answers costs total_timeout_s; others go on (F18)."""
    held: list[asyncio.StreamWriter] = []

    async def swallow(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)  # keep the connection open, say nothing

    hole = await asyncio.start_server(swallow, "127.0.0.1", 0)
    hole_port = hole.sockets[0].getsockname()[1]

    async def timed(req: OutgoingRequest) -> tuple[SendOutcome, float]:
        started = time.perf_counter()
        outcome = await sender.send(req)
        return outcome, time.perf_counter() - started

    try:
        stuck_task = asyncio.create_task(timed(post(f"http://127.0.0.1:{hole_port}/")))
        await asyncio.sleep(0.05)
        healthy, healthy_s = await timed(post(receiver.url("/in")))
        assert healthy.ok and healthy_s < 0.5
        assert not stuck_task.done()  # the healthy answer did not wait for the black hole
        stuck, stuck_s = await stuck_task
    finally:
        for writer in held:
            writer.close()
        hole.close()
        await hole.wait_closed()
    assert not stuck.ok and stuck.status_code is None
    assert "timed out" in stuck.error
    assert 0.9 <= stuck_s < 2.0


async def test_refused_connection_is_an_outcome(sender: Sender) -> None:
    """Nobody listening: a failure without status, not an exception."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    outcome = await sender.send(post(f"http://127.0.0.1:{port}/"))
    assert not outcome.ok and outcome.status_code is None and not outcome.refused
    assert "cannot connect" in outcome.error


async def test_unresolvable_name_is_an_outcome(sender: Sender) -> None:
    """A name that does not resolve fails as a value (".invalid" never resolves)."""
    outcome = await sender.send(post("http://no-such-host.invalid/"))
    assert not outcome.ok and outcome.status_code is None and not outcome.refused
    assert outcome.error


@pytest.mark.parametrize(
    "host",
    ["127.0.0.1", "localhost", "2130706433", "0x7f000001", "127.1", "[::ffff:127.0.0.1]"],
)
async def test_egress_refusal_sends_nothing(receiver: Receiver, host: str) -> None:
    """Without loopback allowed, every spelling of the receiver's address is refused
    before connecting, and the receiver sees no request."""
    async with Sender(EgressPolicy()) as guarded:
        outcome = await guarded.send(post(f"http://{host}:{receiver.port}/in"))
    assert outcome.refused and not outcome.ok and outcome.status_code is None
    assert "loopback" in outcome.error
    assert receiver.requests == []


async def test_localhost_is_reachable_when_loopback_is_allowed(receiver: Receiver) -> None:
    """Allowing 127.0.0.0/8 admits localhost (its ::1 answer stays refused, 127.0.0.1 used)."""
    async with Sender(LOCAL) as s:
        outcome = await s.send(post(f"http://localhost:{receiver.port}/in"))
    assert outcome.ok, outcome.error


async def test_basic_auth_from_url_arrives_as_header(receiver: Receiver, sender: Sender) -> None:
    """user:password@ in the URL arrives as Authorization: Basic, not in the request line."""
    req = post(f"http://alice:s%40fe@127.0.0.1:{receiver.port}/in")
    assert "alice" not in req.url
    assert (await sender.send(req)).ok
    path, headers, _ = receiver.requests[0]
    assert path == "/in"
    assert headers["Authorization"] == "Basic " + base64.b64encode(b"alice:s@fe").decode()


async def test_receiver_verifies_signatures(receiver: Receiver, sender: Sender) -> None:
    """The receiver recomputes both HMACs over the raw body it got; both match."""
    await sender.send(post(receiver.url("/in"), secret="topsecret"))
    _, headers, body = receiver.requests[0]
    v2 = hmac.new(b"topsecret", body, hashlib.sha256).hexdigest()
    v1 = hmac.new(b"topsecret", body, hashlib.sha1).hexdigest()
    assert hmac.compare_digest(headers["X-Mist-Signature-v2"], v2)
    assert hmac.compare_digest(headers["X-Mist-Signature"], v1)
    assert all("topsecret" not in value for value in headers.values())


@pytest.fixture
async def tls_receiver() -> AsyncIterator[Receiver]:
    ca = trustme.CA()
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_ctx)
    rec = Receiver()
    await rec.start(ssl_context=server_ctx)
    yield rec
    await rec.stop()


async def test_self_signed_https_needs_verify_cert_false(
    tls_receiver: Receiver, sender: Sender
) -> None:
    """An untrusted certificate fails with verification on and works with it off."""
    url = tls_receiver.url("/in", scheme="https")
    verified = await sender.send(post(url))
    assert not verified.ok and verified.status_code is None
    assert "certificate" in verified.error.lower()
    assert tls_receiver.requests == []
    unverified = await sender.send(post(url, verify_cert=False))
    assert unverified.ok, unverified.error
    # verification stays on for the next request to the same host
    assert not (await sender.send(post(url))).ok


async def test_keep_alive_reuses_connections(receiver: Receiver, sender: Sender) -> None:
    """Sequential sends to one receiver share one TCP connection."""
    for _ in range(5):
        assert (await sender.send(post(receiver.url("/in")))).ok
    assert len(receiver.peers) == 5
    assert len(set(receiver.peers)) == 1


async def test_sender_must_be_started() -> None:
    """Sending before start() is a programming error, not an outcome."""
    with pytest.raises(RuntimeError):
        await Sender(LOCAL).send(post("http://127.0.0.1:1/"))


async def test_post_form_and_oauth2_tokens_are_cached(receiver: Receiver, sender: Sender) -> None:
    """OAuth2 client_credentials: one token request, cached, refreshed after invalidate."""
    webhook = {
        "type": "oauth2",
        "url": receiver.url("/in"),
        "oauth2_grant_type": "client_credentials",
        "oauth2_client_id": "cid",
        "oauth2_client_secret": "csecret",
        "oauth2_token_url": receiver.url("/token"),
        "oauth2_scopes": ["read", "write"],
    }
    tokens = OAuth2Tokens(sender)
    first = await tokens.token(webhook)
    assert first == "tok-1"
    assert await tokens.token(webhook) == "tok-1"
    assert receiver.token_requests == [
        {
            "grant_type": "client_credentials",
            "client_id": "cid",
            "client_secret": "csecret",
            "scope": "read write",
        }
    ]
    _, headers, _ = receiver.requests[0]
    assert headers["Content-Type"] == "application/x-www-form-urlencoded"
    tokens.invalidate(webhook)
    assert await tokens.token(webhook) == "tok-2"
    outcome = await sender.send(build_request(webhook, "audits", EVENTS, bearer_token="tok-2"))
    assert outcome.ok
    assert receiver.requests[-1][1]["Authorization"] == "Bearer tok-2"


async def test_oauth2_password_grant_and_failures(receiver: Receiver, sender: Sender) -> None:
    """The password grant posts username/password; a failing token URL gives None."""
    webhook = {
        "oauth2_grant_type": "password",
        "oauth2_username": "u",
        "oauth2_password": "p",
        "oauth2_token_url": receiver.url("/token"),
    }
    tokens = OAuth2Tokens(sender)
    assert await tokens.token(webhook) == "tok-1"
    assert receiver.token_requests[0] == {
        "grant_type": "password",
        "username": "u",
        "password": "p",
    }
    broken = {**webhook, "oauth2_token_url": receiver.url("/fail")}
    assert await tokens.token(broken) is None
    assert "HTTP 500" in tokens.last_error
    assert await tokens.token({"oauth2_grant_type": "password"}) is None


async def test_oauth2_token_url_passes_the_egress_guard(receiver: Receiver) -> None:
    """The token request is refused like a delivery when its host is not allowed."""
    async with Sender(EgressPolicy()) as guarded:
        tokens = OAuth2Tokens(guarded)
        webhook = {
            "oauth2_client_id": "c",
            "oauth2_client_secret": "s",
            "oauth2_token_url": receiver.url("/token"),
        }
        assert await tokens.token(webhook) is None
    assert "loopback" in tokens.last_error
    assert receiver.requests == []


def test_outcome_json_shape_is_loggable() -> None:
    """SendOutcome's headers are Go-style lists, serializable as they are."""
    outcome = SendOutcome(True, 200, "", {"A": ["1", "2"]}, b"Ok", 0.01, None)
    assert orjson.loads(orjson.dumps(outcome.resp_headers)) == {"A": ["1", "2"]}
