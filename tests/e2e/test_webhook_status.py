"""End to end: ``GET .../webhooks/{id}/status`` (a misthook extra) of `misthook serve`, and
the line the web UI's webhook list shows from it."""

from __future__ import annotations

import http.cookiejar
import time
import urllib.parse
import urllib.request
from collections.abc import Callable
from typing import Any

from misthook.testing.client import ApiClient
from misthook.testing.receiver import Receiver
from tests.e2e.conftest import Served

HOOK = {"name": "status", "topics": ["device-events"], "secret": "s"}


def _status_path(served: Served, webhook_id: str, kind: str = "site") -> str:
    scope = f"sites/{served.site_id}" if kind == "site" else f"orgs/{served.org_id}"
    return f"/api/v1/{scope}/webhooks/{webhook_id}/status"


def _create(served: Served, url: str, kind: str = "site") -> str:
    scope = f"sites/{served.site_id}" if kind == "site" else f"orgs/{served.org_id}"
    topics = HOOK["topics"] if kind == "site" else ["audits"]
    answer = served.api.post(f"/api/v1/{scope}/webhooks", {**HOOK, "topics": topics, "url": url})
    assert answer.status == 200, answer.body
    webhook_id: str = answer.json()["id"]
    return webhook_id


def _poll(read: Callable[[], Any], done: Callable[[Any], bool], timeout_s: float = 15) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        value = read()
        if done(value) or time.monotonic() > deadline:
            return value
        time.sleep(0.1)


def _stream(status: dict[str, Any], topic: str) -> dict[str, Any]:
    streams: list[dict[str, Any]] = [s for s in status["streams"] if s["topic"] == topic]
    assert len(streams) == 1, status
    return streams[0]


def _web_page(served: Served, path: str) -> str:
    """GET a web UI page after signing in with the API token (cookie session)."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    form = urllib.parse.urlencode({"token": served.token, "next": "/"}).encode()
    opener.open(served.server.base_url + "/signin", data=form, timeout=30).read()
    with opener.open(served.server.base_url + path, timeout=30) as resp:
        page: str = resp.read().decode()
    return page


def test_status_of_a_failing_webhook_shows_its_retry_state(served: Served) -> None:
    """Per topic: the cursor, the events waiting, the attempt and when the next one is due;
    the web list shows the lag of the retrying webhook."""
    with Receiver(lambda n: (500, {})) as rx:
        webhook_id = _create(served, rx.url)
        idle = served.api.get(_status_path(served, webhook_id))
        assert idle.status == 200, idle.body
        body = idle.json()
        assert (body["webhook_id"], body["enabled"], body["disabled_reason"]) == (
            webhook_id,
            True,
            None,
        )
        assert sorted(s["topic"] for s in body["streams"]) == ["device-events", "ping"]
        fresh = _stream(body, "device-events")
        assert (fresh["lag"], fresh["attempt"], fresh["failing_since"]) == (0, 0, None)
        assert fresh["behind_retention"] is False

        answer = served.api.post(
            f"/api/v1/sites/{served.site_id}/events/device-events",
            {"events": [{"type": "AP_RESTARTED", "n": 1}, {"type": "AP_RESTARTED", "n": 2}]},
        )
        assert answer.status == 200, answer.body
        assert rx.wait_for(lambda reqs: len(reqs) >= 1, timeout_s=15)
        status = _poll(
            lambda: served.api.get(_status_path(served, webhook_id)).json(),
            lambda s: _stream(s, "device-events")["attempt"] >= 1,
        )
        failing = _stream(status, "device-events")
        assert failing["attempt"] == 1
        assert failing["lag"] == 2 and failing["lag_capped"] is False
        assert failing["cursor"] == fresh["cursor"]  # nothing acknowledged
        # the first retry waits 5 s (+-20%) after the failure
        assert 3.5 < failing["next_attempt_at"] - failing["failing_since"] < 6.5
        assert failing["behind_retention"] is False

        page = _web_page(served, f"/sites/{served.site_id}/webhooks")
        assert "lag 2, retrying" in page
        assert "behind retention" not in page


def test_status_needs_a_role_and_the_right_scope(served: Served) -> None:
    """Any role on the scope may read it; another org's token, the wrong scope or an
    unknown id get 404, no token 401."""
    api = served.api
    site_hook = _create(served, "http://127.0.0.1:9/hook")
    org_hook = _create(served, "http://127.0.0.1:9/hook", kind="org")
    reader = api.with_token(_org_token(api, served.org_id, [{"scope": "org", "role": "read"}]))
    other_org = api.post("/api/v1/orgs", {"name": "Other"}).json()["id"]
    outsider = api.with_token(_org_token(api, other_org, [{"scope": "org", "role": "admin"}]))

    assert reader.get(_status_path(served, site_hook)).status == 200
    org_status = reader.get(_status_path(served, org_hook, kind="org"))
    assert org_status.status == 200
    assert sorted(s["topic"] for s in org_status.json()["streams"]) == ["audits", "ping"]
    assert api.with_token(None).get(_status_path(served, site_hook)).status == 401
    assert outsider.get(_status_path(served, site_hook)).status == 404
    assert outsider.get(_status_path(served, org_hook, kind="org")).status == 404
    # a site webhook is not found under its org, nor an org webhook under a site
    assert api.get(_status_path(served, site_hook, kind="org")).status == 404
    assert api.get(_status_path(served, org_hook)).status == 404
    assert api.get(_status_path(served, "00000000-0000-0000-0000-000000000001")).status == 404


def test_a_disabled_webhook_has_no_streams(served: Served) -> None:
    """Turning a webhook off closes its streams; the status says enabled false."""
    webhook_id = _create(served, "http://127.0.0.1:9/hook")
    path = f"/api/v1/sites/{served.site_id}/webhooks/{webhook_id}"
    assert served.api.put(path, {"enabled": False}).status == 200
    status = served.api.get(_status_path(served, webhook_id)).json()
    assert (status["enabled"], status["streams"]) == (False, [])


def _org_token(api: ApiClient, org_id: str, privileges: list[dict[str, Any]]) -> str:
    answer = api.post(f"/api/v1/orgs/{org_id}/apitokens", {"name": "t", "privileges": privileges})
    assert answer.status == 200, answer.body
    key: str = answer.json()["key"]
    return key
