"""`misthook listen`: a webhook receiver in the terminal, like `stripe listen`.

It answers every request 200, checks Mist's signatures when given the secret, and
prints each message as it arrives: topic, event count, and each event on one readable
line (its well-known fields first). Standard library only; one thread per request.
"""

from __future__ import annotations

import datetime
import http.server
import json
import threading
from collections.abc import Callable, Mapping
from typing import Any

from misthook.services.bins import signature_verdicts

# Fields shown first for an event, when present, in this order.
LEAD_FIELDS = ("type", "name", "message", "mac", "device_name", "site_name", "admin_name")
BODY_MAX_BYTES = 16 * 1_048_576


def _value(value: object) -> str:
    text = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
    return text if len(text) <= 80 else text[:77] + "..."


def render_event(event: object) -> str:
    """One line for one event: well-known fields first, then the rest as key=value."""
    if not isinstance(event, dict):
        return _value(event)
    keys = [k for k in LEAD_FIELDS if k in event]
    keys += [k for k in event if k not in keys]
    return " ".join(f"{k}={_value(event[k])}" for k in keys)


def render_message(
    body: bytes, headers: Mapping[str, str], secret: str | None, now: float | None = None
) -> str:
    """What the terminal shows for one received request."""
    when = datetime.datetime.fromtimestamp(
        now if now is not None else datetime.datetime.now().timestamp(), datetime.UTC
    ).strftime("%H:%M:%S")
    if secret is None:
        check = "signature not checked (no --secret)"
    else:
        verdicts = signature_verdicts(body, headers, secret)
        v2 = verdicts["x-mist-signature-v2"]
        check = "signature valid" if v2 == "valid" else f"signature {v2.upper()}"
    try:
        message: Any = json.loads(body)
    except ValueError:
        return f"{when}  (not JSON, {len(body)} bytes)  {check}"
    if not isinstance(message, dict):
        return f"{when}  (JSON {type(message).__name__}, {len(body)} bytes)  {check}"
    events = message.get("events")
    events = events if isinstance(events, list) else []
    lines = [f"{when}  {message.get('topic', '?')}  {len(events)} event(s)  {check}"]
    lines += [f"    {render_event(e)}" for e in events]
    return "\n".join(lines)


class Listener:
    """The receiver: ``start()`` binds, ``serve_forever()`` runs, ``stop()`` ends it."""

    def __init__(
        self,
        host: str,
        port: int,
        secret: str | None,
        out: Callable[[str], None],
    ) -> None:
        self.secret = secret
        lock = threading.Lock()
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(min(length, BODY_MAX_BYTES))
                text = render_message(body, dict(self.headers.items()), outer.secret)
                with lock:
                    out(text)
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            do_POST = do_PUT = do_GET = _answer

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = http.server.ThreadingHTTPServer((host, port), Handler)
        self._server.daemon_threads = True
        self.port = int(self._server.server_address[1])

    def serve_forever(self) -> None:
        self._server.serve_forever()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
