"""Request bins over the memory store, Mist signature verdicts, and which URLs count as
this server's own bins for the egress guard."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from misthook.domain.egress import EgressPolicy
from misthook.domain.privileges import Actor, Privilege
from misthook.errors import ForbiddenError, NotFoundError
from misthook.services.bins import Bins, OwnBinUrls, request_body, signature_verdicts
from misthook.store import MEMORY_URL, open_store

ADMIN = Actor(kind="admin", id="a1", name="A", privileges=(Privilege("org", "write", "o1"),))
OTHER = Actor(kind="admin", id="a2", name="B", privileges=(Privilege("org", "admin", "o2"),))
READER = Actor(kind="admin", id="a3", name="C", privileges=(Privilege("org", "read", "o1"),))


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


async def _bins(max_requests: int = 3, ttl_s: float = 60.0) -> tuple[Bins, Clock]:
    store = open_store(MEMORY_URL)
    await store.open()
    clock = Clock()
    return Bins(store, max_requests=max_requests, ttl_s=ttl_s, clock=clock), clock


async def _catch(bins: Bins, bin_id: str, body: bytes, path: str = "/x") -> None:
    await bins.capture(
        bin_id,
        method="POST",
        path=path,
        query="a=1",
        headers=[("Content-Type", "application/json")],
        body=body,
        size=len(body),
        src_ip="127.0.0.1",
    )


async def test_bin_keeps_newest_requests_within_its_bound() -> None:
    """Beyond max_requests the oldest are dropped; the list is newest first."""
    bins, _ = await _bins(max_requests=3)
    doc = await bins.create(ADMIN, "mine")
    for n in range(5):
        await _catch(bins, doc["id"], f'{{"n": {n}}}'.encode())
    caught = await bins.requests(doc["id"])
    assert [request_body(r) for r in caught] == [b'{"n": 4}', b'{"n": 3}', b'{"n": 2}']
    assert caught[0]["method"] == "POST"
    assert caught[0]["query"] == "a=1"
    assert caught[0]["size"] == 8


async def test_binary_bodies_round_trip() -> None:
    """A body that is not UTF-8 is stored base64 and read back as the same bytes."""
    bins, _ = await _bins()
    doc = await bins.create(ADMIN)
    await _catch(bins, doc["id"], b"\xff\x00\xfe")
    (caught,) = await bins.requests(doc["id"])
    assert caught["body_encoding"] == "base64"
    assert request_body(caught) == b"\xff\x00\xfe"


async def test_bin_expires_and_is_swept() -> None:
    """After its lifetime a bin is gone for capture and reads; a sweep removes it."""
    bins, clock = await _bins(ttl_s=60)
    doc = await bins.create(ADMIN)
    await _catch(bins, doc["id"], b"{}")
    clock.now += 61
    with pytest.raises(NotFoundError):
        await _catch(bins, doc["id"], b"{}")
    with pytest.raises(NotFoundError):
        await bins.requests(doc["id"])
    second = await bins.create(ADMIN)
    clock.now += 61
    assert await bins.sweep() == 1
    with pytest.raises(NotFoundError):
        await bins.get(second["id"])


async def test_clear_and_delete() -> None:
    """Clear empties a bin; delete removes it; lists show only the caller's bins."""
    bins, _ = await _bins()
    mine = await bins.create(ADMIN)
    await bins.create(OTHER)
    await _catch(bins, mine["id"], b"{}")
    await bins.clear(mine["id"])
    assert await bins.requests(mine["id"]) == []
    assert [b["id"] for b in await bins.list_for(ADMIN)] == [mine["id"]]
    await bins.delete(mine["id"])
    with pytest.raises(NotFoundError):
        await bins.get(mine["id"])
    with pytest.raises(NotFoundError):
        await bins.get("../../etc")


async def test_read_only_roles_cannot_create_bins() -> None:
    """Making a bin needs a write role somewhere, as the UI shows read-only admins no button."""
    bins, _ = await _bins()
    with pytest.raises(ForbiddenError):
        await bins.create(READER)


def test_signature_verdicts() -> None:
    """Both headers valid with the right secret, invalid with another, missing if absent."""
    body = b'{"topic":"ping"}'
    headers = {
        "X-Mist-Signature-v2": hmac.new(b"s3", body, hashlib.sha256).hexdigest(),
        "X-Mist-Signature": hmac.new(b"s3", body, hashlib.sha1).hexdigest(),
    }
    assert signature_verdicts(body, headers, "s3") == {
        "x-mist-signature-v2": "valid",
        "x-mist-signature": "valid",
    }
    assert set(signature_verdicts(body, headers, "nope").values()) == {"invalid"}
    assert set(signature_verdicts(body, {}, "s3").values()) == {"missing"}


@pytest.mark.parametrize(
    ("url", "own"),
    [
        ("http://127.0.0.1:8000/bins/abcdefgh12345678", True),
        ("http://127.0.0.1:8000/bins/abcdefgh12345678/sub/path?x=1", True),
        ("http://127.0.0.1:8001/bins/abcdefgh12345678", False),  # another port
        ("https://127.0.0.1:8000/bins/abcdefgh12345678", False),  # another scheme
        ("http://127.0.0.1:8000/api/v1/self", False),  # not a bin
        ("http://127.0.0.1:8000/bins/abcdefgh12345678/../../api/v1/self", False),
        ("http://127.0.0.1:8000/bins/abcdefgh12345678/%2e%2e/api", False),
        ("http://127.1:8000/bins/abcdefgh12345678", False),  # non-canonical spelling
        ("http://localhost:8000/bins/abcdefgh12345678", False),  # names are not exempt
        ("http://u:p@127.0.0.1:8000/bins/abcdefgh12345678", False),
        ("http://10.0.0.1:8000/bins/abcdefgh12345678", False),
    ],
)
def test_own_bin_urls(url: str, own: bool) -> None:
    """Only this server's literal address, port, scheme and a plain bin path are its bins."""
    assert OwnBinUrls("127.0.0.1", 8000)(url) is own


def test_own_bin_urls_on_a_wildcard_listen_address() -> None:
    """Listening on 0.0.0.0, the server reaches its bins over 127.0.0.1; TLS says https."""
    own = OwnBinUrls("0.0.0.0", 8443, tls=True)
    assert own("https://127.0.0.1:8443/bins/abcdefgh12345678")
    assert not own("http://127.0.0.1:8443/bins/abcdefgh12345678")
    assert own.base_url() == "https://127.0.0.1:8443"


def test_loopback_stays_refused_in_general() -> None:
    """The exemption does not open loopback in the egress policy itself."""
    assert EgressPolicy().check_ip("127.0.0.1") is not None
