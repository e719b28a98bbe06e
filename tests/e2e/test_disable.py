"""End to end: `misthook serve` disables a webhook whose receiver fails for too long, or
answers 410 Gone; the webhook, its status and the org's audit log say so."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from misthook.testing.receiver import Receiver
from misthook.testing.server import ServerProcess, init_database
from tests.e2e.conftest import Served

DISABLE_AFTER_S = 1.5


@pytest.fixture
def served_quick(tmp_path: Path) -> Iterator[Served]:
    """A server that retries every 0.1 s (due streams are looked for every 0.1 s too) and
    disables after 1.5 s of failures only."""
    database = str(tmp_path / "misthook.db")
    env = {
        "MISTHOOK_EGRESS_ALLOW": "127.0.0.0/8",
        "MISTHOOK_RETRY_SCHEDULE_S": ",".join(["0.1"] * 200),
        "MISTHOOK_DISABLE_AFTER_FAILING_S": str(DISABLE_AFTER_S),
        "MISTHOOK_POLL_INTERVAL_S": "0.1",
    }
    ids = init_database(database, env)
    server = ServerProcess(database, tmp_path, env=env).start()
    try:
        yield Served(server, ids["org_id"], ids["site_id"], ids["token"])
    finally:
        server.stop()


def _create(served: Served, url: str) -> dict[str, Any]:
    body = {"name": "doomed", "url": url, "topics": ["device-events"], "secret": "s"}
    answer = served.api.post(f"/api/v1/sites/{served.site_id}/webhooks", body)
    assert answer.status == 200, answer.body
    webhook: dict[str, Any] = answer.json()
    return webhook


def _publish(served: Served, n: int) -> None:
    answer = served.api.post(
        f"/api/v1/sites/{served.site_id}/events/device-events",
        {"events": [{"type": "AP_RESTARTED", "n": n}]},
    )
    assert answer.status == 200, answer.body


def _poll(read: Callable[[], Any], done: Callable[[Any], bool], timeout_s: float = 20) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        value = read()
        if done(value) or time.monotonic() > deadline:
            return value
        time.sleep(0.1)


def _disabled(served: Served, webhook_id: str) -> dict[str, Any]:
    path = f"/api/v1/sites/{served.site_id}/webhooks/{webhook_id}"
    webhook: dict[str, Any] = _poll(
        lambda: served.api.get(path).json(), lambda w: w.get("enabled") is False
    )
    assert webhook["enabled"] is False, webhook
    return webhook


def _audit_messages(served: Served) -> list[str]:
    answer = served.api.get(f"/api/v1/orgs/{served.org_id}/logs")
    assert answer.status == 200, answer.body
    return [str(r["message"]) for r in answer.json()["results"]]


def test_a_receiver_failing_for_too_long_gets_its_webhook_disabled(served_quick: Served) -> None:
    """Only 500s for disable_after_failing_s: the webhook is disabled with a reason, an
    audit entry 'Disable Webhook ...' is written, and deliveries stop."""
    served = served_quick
    with Receiver(lambda n: (500, {})) as rx:
        webhook = _create(served, rx.url)
        _publish(served, 1)
        started = time.monotonic()
        disabled = _disabled(served, webhook["id"])
        assert time.monotonic() - started >= DISABLE_AFTER_S - 0.2
        assert disabled["disabled_reason"] == "every delivery failed for 1.5 seconds"
        assert len(rx.requests) >= 5  # retried all along
        messages = _audit_messages(served)
        assert 'Disable Webhook "doomed": every delivery failed for 1.5 seconds' in messages, (
            messages
        )

        status = served.api.get(
            f"/api/v1/sites/{served.site_id}/webhooks/{webhook['id']}/status"
        ).json()
        assert status["enabled"] is False and status["streams"] == []
        assert status["disabled_reason"] == disabled["disabled_reason"]
        settled = len(rx.requests)
        _publish(served, 2)
        time.sleep(1.0)
        assert len(rx.requests) == settled  # nothing more goes to a disabled webhook


def test_410_gone_disables_at_once_and_the_audit_log_shows_it(served_quick: Served) -> None:
    """One 410 answer disables the webhook (no retry); re-enabling it delivers new events
    again and clears disabled_reason."""
    served = served_quick
    gone = {"on": True}
    with Receiver(lambda n: (410 if gone["on"] else 200, {})) as rx:
        webhook = _create(served, rx.url)
        _publish(served, 1)
        disabled = _disabled(served, webhook["id"])
        assert disabled["disabled_reason"] == "the receiver answered 410 Gone"
        time.sleep(0.5)
        assert len(rx.requests) == 1
        assert 'Disable Webhook "doomed": the receiver answered 410 Gone' in _audit_messages(served)

        gone["on"] = False
        path = f"/api/v1/sites/{served.site_id}/webhooks/{webhook['id']}"
        enabled = served.api.put(path, {"enabled": True})
        assert enabled.status == 200, enabled.body
        assert enabled.json().get("disabled_reason") is None
        _publish(served, 2)
        assert rx.wait_for(lambda reqs: len(reqs) >= 2, timeout_s=10)
        assert [e["n"] for e in rx.requests[-1].json()["events"]] == [2]
