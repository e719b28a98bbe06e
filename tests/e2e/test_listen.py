"""`misthook listen` as a real subprocess: it answers 200 and prints each message with its
topic, event count, signature verdict and one line per event."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

from misthook.listen import render_message
from misthook.testing.server import free_port, misthook_cmd


def _post(port: int, body: bytes, headers: dict[str, str]) -> int:
    req = urllib.request.Request(f"http://127.0.0.1:{port}/", data=body, method="POST")
    for k, v in headers.items():
        req.add_header(k, v)
    with urllib.request.urlopen(req, timeout=10) as resp:
        return int(resp.status)


def _signed(body: bytes, secret: str) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "X-Mist-Signature-v2": hmac.new(secret.encode(), body, hashlib.sha256).hexdigest(),
        "X-Mist-Signature": hmac.new(secret.encode(), body, hashlib.sha1).hexdigest(),
    }


def test_listen_prints_messages_and_verdicts(tmp_path: Path) -> None:
    """A signed message prints as valid, a forged one as INVALID; both get 200."""
    port = free_port()
    out_path = tmp_path / "listen.out"
    with out_path.open("wb") as out:
        proc = subprocess.Popen(
            misthook_cmd("listen", "--port", str(port), "--secret", "s3"),
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
    try:
        deadline = time.monotonic() + 20
        body = json.dumps(
            {"topic": "alarms", "events": [{"type": "ap_offline", "mac": "5c5b35000001"}, {"x": 1}]}
        ).encode()
        while True:
            try:
                assert _post(port, body, _signed(body, "s3")) == 200
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        assert _post(port, body, _signed(body, "other")) == 200
        deadline = time.monotonic() + 10
        while out_path.read_text().count("alarms") < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        text = out_path.read_text()
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=10)
    assert "alarms  2 event(s)  signature valid" in text
    assert "alarms  2 event(s)  signature INVALID" in text
    assert "type=ap_offline mac=5c5b35000001" in text


def test_render_without_secret_and_non_json() -> None:
    """Without a secret it says so; a body that is not JSON is reported by size."""
    assert "not checked" in render_message(b'{"topic":"ping","events":[]}', {}, None, now=0)
    assert "(not JSON, 3 bytes)" in render_message(b"abc", {}, "s", now=0)
