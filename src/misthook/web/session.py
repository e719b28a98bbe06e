"""Web UI sessions: an HMAC-signed cookie, and a CSRF token derived from it.

The signing key is random, made on first start and stored in the database (a document
of the ``tokens`` collection that no token list shows), so sessions survive restarts and
every ``serve`` process on one database shares it. The cookie names an admin (password
sign-in) or carries the API token key the user signed in with; either way the API's own
authentication decides the privileges on every request, so deleting the admin or the
token ends the session.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import secrets
import time
from typing import Any

import orjson

from misthook.store.base import Put, Store

COOKIE_NAME = "misthook_session"
SESSION_TTL_S = 12 * 3600.0
KEY_DOC_ID = "web-session-key"
KEY_DOC_KIND = "web_session_key"


class SessionKey:
    """The process's copy of the signing key, loaded (or made) once."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._key: bytes | None = None
        self._lock = asyncio.Lock()

    async def get(self) -> bytes:
        if self._key is not None:
            return self._key
        async with self._lock:
            if self._key is None:
                self._key = await self._load_or_create()
        return self._key

    async def _load_or_create(self) -> bytes:
        doc = await self._store.get("tokens", KEY_DOC_ID)
        if doc is None:
            doc = {
                "id": KEY_DOC_ID,
                "kind": KEY_DOC_KIND,
                "key": secrets.token_hex(32),
                "created_time": time.time(),
            }
            await self._store.commit([Put("tokens", doc)])
            # two processes starting together: both use what was stored last
            doc = await self._store.get("tokens", KEY_DOC_ID) or doc
        return bytes.fromhex(doc["key"])


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(key: bytes, payload: str) -> str:
    return hmac.new(key, payload.encode(), hashlib.sha256).hexdigest()


def make_cookie(key: bytes, claims: dict[str, Any], now: float | None = None) -> str:
    """A signed cookie value carrying ``claims`` until ``SESSION_TTL_S`` from now."""
    body = {**claims, "exp": (now or time.time()) + SESSION_TTL_S, "n": secrets.token_hex(8)}
    payload = _b64(orjson.dumps(body))
    return f"{payload}.{_mac(key, payload)}"


def read_cookie(key: bytes, value: str, now: float | None = None) -> dict[str, Any] | None:
    """The claims of a valid, unexpired cookie, else None."""
    payload, _, mac = value.partition(".")
    if not payload or not hmac.compare_digest(mac, _mac(key, payload)):
        return None
    try:
        claims = orjson.loads(_unb64(payload))
    except (ValueError, orjson.JSONDecodeError):
        return None
    if not isinstance(claims, dict) or claims.get("exp", 0) < (now or time.time()):
        return None
    return claims


def csrf_token(key: bytes, cookie: str) -> str:
    """The CSRF token of one session: forms and scripts send it back with every change."""
    return _mac(key, "csrf:" + cookie)[:40]


def csrf_ok(key: bytes, cookie: str, token: str) -> bool:
    return bool(token) and hmac.compare_digest(csrf_token(key, cookie), token)
