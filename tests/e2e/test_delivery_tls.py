"""End to end: `misthook serve` delivering to an HTTPS receiver with a self-signed
certificate (trustme), and Basic credentials from the webhook URL."""

from __future__ import annotations

import base64
import http.server
import ssl
import threading
import time
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
import trustme

from misthook.testing.receiver import Receiver
from tests.e2e.conftest import Served


class TlsReceiver:
    """An HTTPS server on 127.0.0.1 with a certificate of a CA nobody trusts; records the
    path of every POST it gets (a refused handshake never gets that far)."""

    def __init__(self) -> None:
        self.paths: list[str] = []
        ca = trustme.CA()
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ca.issue_cert("127.0.0.1").configure_cert(context)
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                outer.paths.append(self.path)
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        self.base = f"https://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> TlsReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def tls_receiver() -> Iterator[TlsReceiver]:
    with TlsReceiver() as rx:
        yield rx


def _create(served: Served, url: str, **fields: Any) -> str:
    body = {"name": "tls", "url": url, "topics": ["device-events"], "secret": "s", **fields}
    answer = served.api.post(f"/api/v1/sites/{served.site_id}/webhooks", body)
    assert answer.status == 200, answer.body
    webhook_id: str = answer.json()["id"]
    return webhook_id


def _publish(served: Served) -> None:
    answer = served.api.post(
        f"/api/v1/sites/{served.site_id}/events/device-events",
        {"events": [{"type": "AP_RESTARTED", "n": 1}]},
    )
    assert answer.status == 200, answer.body


def _records(served: Served, webhook_id: str, timeout_s: float = 15) -> list[dict[str, Any]]:
    path = f"/api/v1/sites/{served.site_id}/webhooks/{webhook_id}/events/search"
    deadline = time.monotonic() + timeout_s
    while True:
        results: list[dict[str, Any]] = served.api.get(path).json()["results"]
        if results or time.monotonic() > deadline:
            return results
        time.sleep(0.1)


def test_a_self_signed_receiver_gets_deliveries_only_without_verification(
    served: Served, tls_receiver: TlsReceiver
) -> None:
    """verify_cert false: delivered. verify_cert true (the default): not delivered, and the
    delivery log says the certificate is not trusted."""
    insecure = _create(served, tls_receiver.base + "/insecure", verify_cert=False)
    strict = _create(served, tls_receiver.base + "/strict")
    _publish(served)

    [delivered] = _records(served, insecure)
    assert (delivered["status"], delivered["status_code"]) == ("success", 200)
    [refused, *_] = _records(served, strict)
    assert refused["status"] == "failure" and refused["status_code"] == 0
    assert "certificate" in refused["error"].lower(), refused["error"]
    assert tls_receiver.paths == ["/insecure"]


def test_basic_credentials_in_the_url_arrive_and_are_redacted_in_the_log(
    served: Served,
) -> None:
    """``user:password@`` in the URL: the receiver gets ``Authorization: Basic``; the log
    shows the URL without them and the header redacted."""
    with Receiver() as rx:
        url = rx.url.replace("http://", "http://hook-user:p%40ss-w0rd@")
        webhook_id = _create(served, url)
        _publish(served)
        assert rx.wait_for(lambda reqs: len(reqs) >= 1, timeout_s=15)
        [record] = _records(served, webhook_id)
    expected = "Basic " + base64.b64encode(b"hook-user:p@ss-w0rd").decode()
    assert rx.requests[0].headers["Authorization"] == expected
    assert record["req_url"] == rx.url
    assert orjson.loads(record["req_headers"])["Authorization"] == ["Basic [redacted]"]
    text = orjson.dumps(record).decode()
    assert "p%40ss-w0rd" not in text and "p@ss-w0rd" not in text
    assert expected.split()[1] not in text
