"""End to end: `misthook serve` takes events through the publish API and delivers them,
signed and logged, to real receivers on 127.0.0.1; the log can be searched and resent."""

from __future__ import annotations

import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from misthook.testing.client import ApiClient
from misthook.testing.receiver import Received, Receiver
from misthook.testing.server import ServerProcess, init_database

SECRET = "e2e-secret"


class Served:
    def __init__(self, server: ServerProcess, ids: dict[str, str]) -> None:
        self.server = server
        self.org_id = ids["org_id"]
        self.site_id = ids["site_id"]
        self.api: ApiClient = server.client(ids["token"])


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    """A fresh server whose retries are quick (so parking happens within a test)."""
    database = str(tmp_path / "misthook.db")
    env = {"MISTHOOK_EGRESS_ALLOW": "127.0.0.0/8", "MISTHOOK_RETRY_SCHEDULE_S": "0.05,0.05"}
    ids = init_database(database, env)
    server = ServerProcess(database, tmp_path, env=env).start()
    try:
        yield Served(server, ids)
    finally:
        server.stop()


def create_webhook(s: Served, url: str, **fields: Any) -> dict[str, Any]:
    body = {"name": "e2e", "url": url, "topics": ["device-events"], "secret": SECRET, **fields}
    answer = s.api.post(f"/api/v1/sites/{s.site_id}/webhooks", body)
    assert answer.status == 200, answer.body
    hook: dict[str, Any] = answer.json()
    return hook


def publish(s: Served, events: list[dict[str, Any]], topic: str = "device-events") -> list[str]:
    answer = s.api.post(f"/api/v1/sites/{s.site_id}/events/{topic}", {"events": events})
    assert answer.status == 200, answer.body
    ids: list[str] = answer.json()["ids"]
    return ids


def marks_in(requests: list[Received]) -> list[int]:
    """The ``n`` marks of the device-events events received, in arrival order
    (device-events carry no id field of their own)."""
    messages = [r.json() for r in requests]
    return [e["n"] for m in messages if m["topic"] == "device-events" for e in m["events"]]


def test_published_events_arrive_signed_and_logged(served: Served) -> None:
    """Thousands of published events reach the receiver in order, signed; the log finds them."""
    with Receiver() as rx:
        hook = create_webhook(served, rx.url)
        ids: list[str] = []
        for chunk in range(4):
            ids += publish(
                served, [{"type": "AP_RESTARTED", "n": chunk * 500 + i} for i in range(500)]
            )
        assert rx.wait_for(lambda reqs: len(marks_in(reqs)) >= 2000, timeout_s=30)
        assert marks_in(rx.requests) == list(range(2000))
        assert all(r.signature_ok(SECRET) for r in rx.requests)
        base = f"/api/v1/sites/{served.site_id}/webhooks/{hook['id']}/events"
        deadline = time.monotonic() + 10
        while True:
            search = served.api.get(f"{base}/search?status=success&limit=1000").json()
            delivered = [i for r in search["results"] for i in r["event_ids"]]
            if len(delivered) >= 2000 or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert sorted(delivered) == sorted(ids)
        assert len(rx.requests) < 2000 / 10  # batched, not one POST per event
        record = search["results"][0]
        assert record["req_payload"].startswith('{"topic":"device-events","events":[')
        count = served.api.get(f"{base}/count?distinct=status").json()
        assert count["results"] == [{"status": "success", "count": search["total"]}]


def test_search_pages_with_search_after(served: Served) -> None:
    """`next` is a host-relative path that walks every record exactly once."""
    with Receiver() as rx:
        hook = create_webhook(served, rx.url, single_event_per_message=True)
        ids = publish(served, [{"n": i} for i in range(25)])
        assert rx.wait_for(lambda reqs: len(reqs) >= 25, timeout_s=20)
        time.sleep(0.3)  # the log is written in bulk, a few ms behind
        path = f"/api/v1/sites/{served.site_id}/webhooks/{hook['id']}/events/search?limit=10"
        seen: list[str] = []
        pages = 0
        while path and pages < 10:
            page = served.api.get(path).json()
            assert page["total"] == 25
            seen += [i for r in page["results"] for i in r["event_ids"]]
            path = page.get("next")
            assert path is None or path.startswith("/api/v1/")
            pages += 1
        assert pages == 3
        assert sorted(seen) == sorted(ids)


def test_publish_rejects_bad_input_and_stores_nothing(served: Served) -> None:
    """Unknown topic, a topic of the other scope, a malformed body: 400, nothing delivered."""
    with Receiver() as rx:
        create_webhook(served, rx.url)
        site = f"/api/v1/sites/{served.site_id}/events"
        org = f"/api/v1/orgs/{served.org_id}/events"
        assert served.api.post(f"{site}/no-such-topic", {"events": [{}]}).status == 400
        assert served.api.post(f"{org}/location", {"events": [{}]}).status == 400
        assert served.api.post(f"{site}/device-events", {"event": [{}]}).status == 400
        assert served.api.post(f"{site}/device-events", {"events": [1, 2]}).status == 400
        assert served.api.post(f"{site}/device-events", raw=b"{not json").status == 400
        assert served.server.client().post(f"{site}/device-events", {"events": [{}]}).status == 401
        ok = publish(served, [{"n": 1}])
        assert rx.wait_for(lambda reqs: len(reqs) >= 1, timeout_s=10)
        time.sleep(0.3)
        assert marks_in(rx.requests) == [1]
        assert len(ok) == 1


def test_resend_sends_the_same_message_again(served: Served) -> None:
    """Resend POSTs the logged body byte for byte, freshly signed, and logs a new attempt."""
    with Receiver() as rx:
        hook = create_webhook(served, rx.url)
        publish(served, [{"n": 1}, {"n": 2}])
        assert rx.wait_for(lambda reqs: len(reqs) >= 1, timeout_s=10)
        base = f"/api/v1/sites/{served.site_id}/webhooks/{hook['id']}"
        deadline = time.monotonic() + 5
        while not (results := served.api.get(f"{base}/events/search").json()["results"]):
            assert time.monotonic() < deadline
            time.sleep(0.05)
        answer = served.api.post(f"{base}/events/{results[0]['id']}/resend")
        assert answer.status == 200, answer.body
        assert answer.json()["status"] == "success"
        assert len(rx.requests) == 2
        assert rx.requests[1].body == rx.requests[0].body
        assert rx.requests[1].signature_ok(SECRET)
        missing = served.api.post(f"{base}/events/{hook['id']}/resend")
        assert missing.status == 404


def test_parked_messages_are_recovered(served: Served) -> None:
    """A message whose retries ran out is parked; recover sends it once the receiver is back."""
    healthy = {"on": False}
    with Receiver(lambda n: (200 if healthy["on"] else 500, {})) as rx:
        hook = create_webhook(served, rx.url)
        ids = publish(served, [{"n": 1}])
        assert rx.wait_for(lambda reqs: len(reqs) >= 3, timeout_s=10)  # 1 try + 2 retries
        time.sleep(0.5)
        assert len(rx.requests) == 3
        healthy["on"] = True
        base = f"/api/v1/sites/{served.site_id}/webhooks/{hook['id']}"
        answer = served.api.post(f"{base}/recover", {"since": 0})
        assert answer.status == 200, answer.body
        assert answer.json()["resent"] == 1
        assert rx.requests[-1].json()["events"][0]["n"] == 1
        assert answer.json()["parked"] == 1 and len(ids) == 1
        again = served.api.post(f"{base}/recover", {"since": 0}).json()
        assert again["resent"] == 0
        failures = served.api.get(
            f"{base}/events/search?status=failure&" + urllib.parse.urlencode({"start": "-1h"})
        ).json()
        assert failures["total"] == 3


def test_a_sigterm_waits_for_the_answer_in_flight_so_a_restart_sends_nothing_twice(
    tmp_path: Path,
) -> None:
    """`misthook serve` stopped by SIGTERM while its message waits 1 s for an answer
    exits after the answer; started again, it sends only what came after."""
    database = str(tmp_path / "misthook.db")
    env = {"MISTHOOK_EGRESS_ALLOW": "127.0.0.0/8"}
    ids = init_database(database, env)

    def slow(n: int) -> tuple[int, dict[str, str]]:
        time.sleep(1.0)
        return 200, {}

    with Receiver(slow) as rx:
        server = ServerProcess(database, tmp_path, env=env).start()
        try:
            s = Served(server, ids)
            create_webhook(s, rx.url)
            publish(s, [{"n": 0}])
            assert rx.wait_for(lambda r: len(marks_in(r)) >= 1)
        finally:
            server.stop()  # SIGTERM, the answer still 1 s away
        server = ServerProcess(database, tmp_path, env=env).start()
        try:
            publish(Served(server, ids), [{"n": 1}])
            assert rx.wait_for(lambda r: len(marks_in(r)) >= 2)
            time.sleep(0.5)  # room for a second sending of 0, were it coming
        finally:
            server.stop()
        assert marks_in(rx.requests) == [0, 1]
