"""OAuth2 access tokens for ``type: oauth2`` webhooks (client_credentials and password grants).

Tokens are fetched through the same ``Sender`` as deliveries, so the token URL passes
the same egress guard. They are cached per (token URL, client id or username, scopes)
until ``expires_in`` minus a margin; a 401 from the receiver should ``invalidate`` the
entry. Concurrent callers for one key share one token request.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from typing import Any

import orjson

from misthook.delivery.sender import Sender

EXPIRY_MARGIN_S = 30.0
DEFAULT_LIFETIME_S = 300.0  # when the server does not say (expires_in is only RECOMMENDED)

_CacheKey = tuple[str, str, str]


class OAuth2Tokens:
    def __init__(self, sender: Sender, *, clock: Any = time.monotonic) -> None:
        self._sender = sender
        self._clock = clock
        self._tokens: dict[_CacheKey, tuple[str, float]] = {}  # key -> (token, expires at)
        self._locks: dict[_CacheKey, asyncio.Lock] = {}
        self.last_error = ""  # why the last fetch failed, for the caller's delivery log

    async def token(self, webhook: Mapping[str, Any]) -> str | None:
        """A valid access token for ``webhook``, or None (see ``last_error``)."""
        form = _token_form(webhook)
        if form is None:
            self.last_error = "oauth2 webhook lacks its token URL or grant credentials"
            return None
        key = _cache_key(webhook)
        cached = self._tokens.get(key)
        if cached is not None and cached[1] > self._clock():
            return cached[0]
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            cached = self._tokens.get(key)
            if cached is not None and cached[1] > self._clock():
                return cached[0]
            return await self._fetch(key, str(webhook["oauth2_token_url"]), form, webhook)

    def invalidate(self, webhook: Mapping[str, Any], rejected: str | None = None) -> None:
        """Forget the cached token (the receiver answered 401 with it). With ``rejected``,
        only if that is still the cached one: of many messages refused with one token,
        the first gets a new token and the others use it."""
        key = _cache_key(webhook)
        cached = self._tokens.get(key)
        if cached is not None and (rejected is None or cached[0] == rejected):
            del self._tokens[key]

    async def _fetch(
        self, key: _CacheKey, url: str, form: dict[str, str], webhook: Mapping[str, Any]
    ) -> str | None:
        verify_cert = webhook.get("verify_cert") is not False
        outcome = await self._sender.post_form(url, form, verify_cert)
        if not outcome.ok:
            self.last_error = f"OAuth2 token request failed: {outcome.error}"
            return None
        try:
            answer = orjson.loads(outcome.resp_body)
        except orjson.JSONDecodeError:
            self.last_error = "OAuth2 token answer is not JSON"
            return None
        access_token = answer.get("access_token") if isinstance(answer, dict) else None
        if not isinstance(access_token, str) or not access_token:
            self.last_error = "OAuth2 token answer has no access_token"
            return None
        lifetime = answer.get("expires_in")
        if not isinstance(lifetime, int | float) or isinstance(lifetime, bool):
            lifetime = DEFAULT_LIFETIME_S
        margin = min(EXPIRY_MARGIN_S, float(lifetime) / 10)
        self._tokens[key] = (access_token, self._clock() + float(lifetime) - margin)
        self.last_error = ""
        return access_token


def _cache_key(webhook: Mapping[str, Any]) -> _CacheKey:
    who = webhook.get("oauth2_client_id") or webhook.get("oauth2_username") or ""
    return (str(webhook.get("oauth2_token_url") or ""), str(who), _scope(webhook))


def _scope(webhook: Mapping[str, Any]) -> str:
    scopes = webhook.get("oauth2_scopes") or ()
    return " ".join(str(scope) for scope in scopes)


def _token_form(webhook: Mapping[str, Any]) -> dict[str, str] | None:
    """The token request's form fields, or None when the webhook lacks some."""
    if not webhook.get("oauth2_token_url"):
        return None
    grant = webhook.get("oauth2_grant_type") or "client_credentials"
    if grant == "password":
        username, password = webhook.get("oauth2_username"), webhook.get("oauth2_password")
        if not username or password is None:
            return None
        form = {"grant_type": "password", "username": str(username), "password": str(password)}
        # some servers also want the client for a password grant
        if webhook.get("oauth2_client_id"):
            form["client_id"] = str(webhook["oauth2_client_id"])
            if webhook.get("oauth2_client_secret"):
                form["client_secret"] = str(webhook["oauth2_client_secret"])
    elif grant == "client_credentials":
        client_id, secret = webhook.get("oauth2_client_id"), webhook.get("oauth2_client_secret")
        if not client_id or secret is None:
            return None
        form = {
            "grant_type": "client_credentials",
            "client_id": str(client_id),
            "client_secret": str(secret),
        }
    else:
        return None
    scope = _scope(webhook)
    if scope:
        form["scope"] = scope
    return form
