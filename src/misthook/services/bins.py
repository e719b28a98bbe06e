"""Request bins: misthook's own RequestBin, so nobody needs an outside service to see
what a webhook sends.

A bin has a random, unguessable id and a capture URL ``/bins/{id}`` (any method, any
subpath, no auth). It keeps the last ``bin_max_requests`` requests (older ones are
dropped) and lives ``bin_ttl_s`` seconds from its creation; expired bins are removed
lazily (when touched) and in a bounded sweep whenever a bin is created.

Deliveries to the server's own bins pass the egress guard without allowing loopback in
general: ``OwnBinUrls`` recognises exactly the server's listen address and port with a
``/bins/<id>`` path (see ``App``).
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
import ipaddress
import re
import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

from misthook.domain.privileges import WRITE_ROLES, Actor
from misthook.errors import ForbiddenError, NotFoundError
from misthook.store.base import Delete, DeleteWhere, Doc, Filter, Op, Put, Query, Store, where

# Body bytes kept per captured request (the rest is counted, not stored).
BODY_MAX_BYTES = 2 * 1_048_576
# Expired bins removed per sweep (one sweep per bin created).
SWEEP_MAX = 50
BIN_PATH_PREFIX = "/bins/"
_BIN_ID = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
# A bin path as the sender may dial it: no dot segments, no escapes, nothing to reroute.
_SAFE_BIN_PATH = re.compile(r"^/bins/[A-Za-z0-9_-]{8,64}(/[A-Za-z0-9_~-][A-Za-z0-9._~-]*)*/?$")


def may_create_bins(actor: Actor) -> bool:
    """A bin is for testing webhooks: who may manage some webhook may make one."""
    return actor.superuser or any(p.role in WRITE_ROLES for p in actor.privileges)


def new_bin_id() -> str:
    return secrets.token_urlsafe(16)


def capture_path(bin_id: str) -> str:
    return BIN_PATH_PREFIX + bin_id


def signature_verdicts(body: bytes, headers: Mapping[str, str], secret: str) -> dict[str, str]:
    """Whether Mist's two signature headers match ``body`` under ``secret``.

    Each verdict is ``valid``, ``invalid`` or ``missing`` (header absent).
    """
    lower = {k.lower(): v for k, v in headers.items()}
    expected = {
        "x-mist-signature-v2": hmac.new(secret.encode(), body, hashlib.sha256).hexdigest(),
        "x-mist-signature": hmac.new(secret.encode(), body, hashlib.sha1).hexdigest(),
    }
    verdicts: dict[str, str] = {}
    for name, want in expected.items():
        got = lower.get(name)
        if got is None:
            verdicts[name] = "missing"
        else:
            verdicts[name] = "valid" if hmac.compare_digest(got.strip(), want) else "invalid"
    return verdicts


def request_body(doc: Mapping[str, Any]) -> bytes:
    """The stored body bytes of a captured request."""
    raw = doc.get("body") or ""
    if doc.get("body_encoding") == "base64":
        return base64.b64decode(raw)
    return str(raw).encode()


def _encode_body(body: bytes) -> tuple[str, str]:
    try:
        return body.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        return base64.b64encode(body).decode(), "base64"


@dataclasses.dataclass(frozen=True)
class OwnBinUrls:
    """Recognises delivery URLs that point at this server's own bins.

    Only literal addresses the server listens on (loopback when it listens on a wildcard),
    its port and scheme, and a plain ``/bins/<id>`` path: anything else on loopback stays
    refused, so a webhook cannot reach the API (with custom headers) or another local port.
    """

    host: str
    port: int
    tls: bool = False

    def addresses(self) -> frozenset[str]:
        try:
            ip = ipaddress.ip_address(self.host)
        except ValueError:
            return frozenset({"127.0.0.1"}) if self.host == "localhost" else frozenset()
        if ip.is_unspecified:
            return frozenset({"127.0.0.1", "::1"} if ip.version == 6 else {"127.0.0.1"})
        return frozenset({str(ip)})

    def base_url(self) -> str:
        """Where the server itself reaches its bins (for one-click webhooks)."""
        addresses = self.addresses()
        host = "127.0.0.1" if "127.0.0.1" in addresses or not addresses else min(addresses)
        if ":" in host:
            host = f"[{host}]"
        return f"{'https' if self.tls else 'http'}://{host}:{self.port}"

    def __call__(self, url: str) -> bool:
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError:
            return False
        if parts.scheme != ("https" if self.tls else "http") or port != self.port:
            return False
        if parts.username is not None or parts.password is not None:
            return False
        host = parts.hostname or ""
        try:
            canonical = str(ipaddress.ip_address(host))
        except ValueError:
            return False
        # only the canonical spelling: "127.1" or "0x7f.1" are not recognised here
        if canonical != host or canonical not in self.addresses():
            return False
        return bool(_SAFE_BIN_PATH.match(parts.path))


class Bins:
    def __init__(
        self,
        store: Store,
        *,
        max_requests: int,
        ttl_s: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._max_requests = max(1, max_requests)
        self._ttl_s = ttl_s
        self._clock = clock
        self._last_ts = 0.0

    def _now_unique(self) -> float:
        # newest-first order needs distinct timestamps for requests caught together
        now = max(self._clock(), self._last_ts + 1e-6)
        self._last_ts = now
        return now

    # --- bins ----------------------------------------------------------------------------

    async def create(self, actor: Actor, name: str = "") -> Doc:
        if not may_create_bins(actor):
            raise ForbiddenError("Read-only roles cannot create request bins.")
        await self.sweep()
        now = self._clock()
        doc: Doc = {
            "id": new_bin_id(),
            "name": name.strip()[:64],
            "created_by": actor.token_id if actor.kind == "org_token" else actor.id,
            "created_time": now,
            "expires_at": now + self._ttl_s,
            "max_requests": self._max_requests,
        }
        await self._store.commit([Put("bins", doc)])
        return doc

    async def get(self, bin_id: str) -> Doc:
        """The bin (any signed-in caller who knows the id may use it), or NotFoundError."""
        if not _BIN_ID.match(bin_id):
            raise NotFoundError()
        doc = await self._store.get("bins", bin_id)
        if doc is None:
            raise NotFoundError()
        if doc["expires_at"] <= self._clock():
            await self._store.commit(self._delete_ops(bin_id))
            raise NotFoundError()
        return doc

    async def list_for(self, actor: Actor) -> list[Doc]:
        """The caller's live bins, newest first (every bin for a superuser)."""
        filters: tuple[Filter, ...] = (Filter("expires_at", "gt", self._clock()),)
        if not actor.superuser:
            owner = actor.token_id if actor.kind == "org_token" else actor.id
            filters = (*filters, Filter("created_by", "eq", owner))
        return await self._store.query("bins", Query(filters, sort="-created_time", limit=100))

    def _delete_ops(self, bin_id: str) -> list[Op]:
        return [DeleteWhere("bin_requests", where(bin_id=bin_id)), Delete("bins", bin_id)]

    async def delete(self, bin_id: str) -> None:
        await self.get(bin_id)
        await self._store.commit(self._delete_ops(bin_id))

    async def clear(self, bin_id: str) -> None:
        await self.get(bin_id)
        await self._store.commit([DeleteWhere("bin_requests", where(bin_id=bin_id))])

    async def sweep(self) -> int:
        """Remove up to ``SWEEP_MAX`` expired bins and their requests."""
        expired = await self._store.query(
            "bins", Query((Filter("expires_at", "lte", self._clock()),), limit=SWEEP_MAX)
        )
        ops: list[Op] = []
        for doc in expired:
            ops += self._delete_ops(doc["id"])
        if ops:
            await self._store.commit(ops)
        return len(expired)

    # --- requests ----------------------------------------------------------------------

    async def capture(
        self,
        bin_id: str,
        *,
        method: str,
        path: str,
        query: str,
        headers: Sequence[tuple[str, str]],
        body: bytes,
        size: int,
        src_ip: str,
    ) -> Doc:
        """Keep one request; drops the oldest beyond the bin's bound."""
        await self.get(bin_id)
        text, encoding = _encode_body(body[:BODY_MAX_BYTES])
        doc: Doc = {
            "id": secrets.token_hex(8),
            "bin_id": bin_id,
            "timestamp": self._now_unique(),
            "src_ip": src_ip,
            "method": method,
            "path": path,
            "query": query,
            "headers": [[k, v] for k, v in headers],
            "body": text,
            "body_encoding": encoding,
            "size": size,
            "truncated": size > BODY_MAX_BYTES,
        }
        ops: list[Op] = [Put("bin_requests", doc)]
        surplus = await self._store.query(
            "bin_requests",
            Query(
                where(bin_id=bin_id),
                sort="-timestamp",
                offset=self._max_requests - 1,
                limit=100,
            ),
        )
        ops += [Delete("bin_requests", old["id"]) for old in surplus]
        await self._store.commit(ops)
        return doc

    async def requests(self, bin_id: str, *, after: float = 0.0, limit: int = 0) -> list[Doc]:
        """What the bin caught, newest first; ``after``: only requests newer than that."""
        await self.get(bin_id)
        filters: tuple[Filter, ...] = where(bin_id=bin_id)
        if after:
            filters = (*filters, Filter("timestamp", "gt", after))
        return await self._store.query(
            "bin_requests",
            Query(filters, sort="-timestamp", limit=limit or self._max_requests),
        )

    async def request(self, bin_id: str, request_id: str) -> Doc:
        doc = await self._store.get("bin_requests", request_id)
        if doc is None or doc.get("bin_id") != bin_id:
            raise NotFoundError()
        return doc

    async def verify(self, bin_id: str, request_id: str, secret: str) -> dict[str, str]:
        """Signature verdicts of one captured request under ``secret``."""
        await self.get(bin_id)
        doc = await self.request(bin_id, request_id)
        headers = {str(k): str(v) for k, v in doc.get("headers", [])}
        return signature_verdicts(request_body(doc), headers, secret)
