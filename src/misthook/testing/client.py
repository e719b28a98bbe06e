"""A small synchronous client of the misthook API for tests (stdlib only)."""

from __future__ import annotations

import dataclasses
import json
import ssl
import urllib.error
import urllib.request
from typing import Any


class Headers(dict[str, str]):
    """Response headers, looked up case-insensitively (servers send them lowercase)."""

    def __init__(self, items: Any) -> None:
        super().__init__((k.lower(), v) for k, v in items)

    def __getitem__(self, key: str) -> str:
        return super().__getitem__(key.lower())

    def get(self, key: str, default: Any = None) -> Any:
        return super().get(key.lower(), default)

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and super().__contains__(key.lower())


@dataclasses.dataclass
class Answer:
    status: int
    headers: Headers
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


class ApiClient:
    def __init__(self, base_url: str, token: str | None = None, *, verify: bool = True) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token
        self._ctx: ssl.SSLContext | None = None
        if base_url.startswith("https") and not verify:
            self._ctx = ssl.create_default_context()
            self._ctx.check_hostname = False
            self._ctx.verify_mode = ssl.CERT_NONE

    def with_token(self, token: str | None) -> ApiClient:
        other = ApiClient(self.base_url, token)
        other._ctx = self._ctx
        return other

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        raw: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> Answer:
        data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
        req = urllib.request.Request(self.base_url + path, data=data, method=method)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        if self.token:
            req.add_header("Authorization", f"Token {self.token}")
        for k, v in (headers or {}).items():
            req.add_header(k, v)
        try:
            with urllib.request.urlopen(req, timeout=30, context=self._ctx) as resp:
                return Answer(resp.status, Headers(resp.headers.items()), resp.read())
        except urllib.error.HTTPError as err:
            return Answer(err.code, Headers(err.headers.items()), err.read())

    def get(self, path: str, **kw: Any) -> Answer:
        return self.request("GET", path, **kw)

    def post(self, path: str, body: Any = None, **kw: Any) -> Answer:
        return self.request("POST", path, body, **kw)

    def put(self, path: str, body: Any = None, **kw: Any) -> Answer:
        return self.request("PUT", path, body, **kw)

    def delete(self, path: str, **kw: Any) -> Answer:
        return self.request("DELETE", path, **kw)
