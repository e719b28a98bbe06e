"""A real HTTP receiver on 127.0.0.1 that records what it gets (for tests)."""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import http.server
import json
import threading
import time
from collections.abc import Callable
from typing import Any


@dataclasses.dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float

    def json(self) -> Any:
        return json.loads(self.body)

    def signature_ok(self, secret: str) -> bool:
        """Both Mist signatures match the exact body bytes."""
        v2 = hmac.new(secret.encode(), self.body, hashlib.sha256).hexdigest()
        v1 = hmac.new(secret.encode(), self.body, hashlib.sha1).hexdigest()
        h = {k.lower(): v for k, v in self.headers.items()}
        return h.get("x-mist-signature-v2") == v2 and h.get("x-mist-signature") == v1


# Given the request number (0-based), the status code to answer and extra headers.
Responder = Callable[[int], tuple[int, dict[str, str]]]


class Receiver:
    """Answers POSTs with ``responder`` (default 200) and keeps every request."""

    def __init__(self, responder: Responder | None = None) -> None:
        self.requests: list[Received] = []
        self._responder = responder or (lambda n: (200, {}))
        self._lock = threading.RLock()  # wait_for predicates may call messages()
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                with outer._lock:
                    n = len(outer.requests)
                    outer.requests.append(
                        Received(self.path, dict(self.headers.items()), body, time.time())
                    )
                status, headers = outer._responder(n)
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def __enter__(self) -> Receiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def wait_for(
        self, predicate: Callable[[list[Received]], bool], timeout_s: float = 10.0
    ) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with self._lock:
                if predicate(list(self.requests)):
                    return True
            time.sleep(0.02)
        return False

    def messages(self, topic: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            items = [r.json() for r in self.requests]
        return [m for m in items if topic is None or m.get("topic") == topic]
