"""The management plane end to end: `misthook serve` as a subprocess, driven over HTTP(S)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from misthook.testing.client import ApiClient
from tests.e2e.conftest import Served, serve_fresh

HOOK = {"name": "audits", "url": "http://127.0.0.1:9/hook", "topics": ["audits"]}


def _webhooks_path(served: Served, kind: str) -> str:
    return (
        f"/api/v1/orgs/{served.org_id}/webhooks"
        if kind == "org"
        else f"/api/v1/sites/{served.site_id}/webhooks"
    )


def _org_token(api: ApiClient, org_id: str, privileges: list[dict[str, Any]]) -> str:
    answer = api.post(f"/api/v1/orgs/{org_id}/apitokens", {"name": "t", "privileges": privileges})
    assert answer.status == 200, answer.body
    key: str = answer.json()["key"]
    return key


@pytest.mark.parametrize("kind", ["org", "site"])
def test_webhook_crud_round_trip(served_module: Served, kind: str) -> None:
    """Create (200 + Mist defaults), get, update, list and delete a webhook."""
    api, path = served_module.api, _webhooks_path(served_module, kind)
    created = api.post(path, {**HOOK, "secret": "s3"})
    assert created.status == 200, created.body
    hook = created.json()
    assert hook["type"] == "http-post"
    assert hook["enabled"] is True
    assert hook["verify_cert"] is True
    assert hook["single_event_per_message"] is False
    assert hook["secret"] == "s3"
    assert hook["org_id"] == served_module.org_id
    assert hook["for_site"] is (kind == "site")
    assert isinstance(hook["created_time"], int | float)
    assert api.get(f"{path}/{hook['id']}").json() == hook

    updated = api.put(f"{path}/{hook['id']}", {"name": "renamed", "enabled": False})
    assert updated.status == 200
    assert updated.json()["name"] == "renamed"
    assert updated.json()["enabled"] is False
    assert updated.json()["topics"] == ["audits"]

    assert hook["id"] in [w["id"] for w in api.get(path).json()]
    deleted = api.delete(f"{path}/{hook['id']}")
    assert (deleted.status, deleted.json()) == (200, {})  # Mist's SDK wants JSON here
    assert api.get(f"{path}/{hook['id']}").status == 404


def test_list_paging_headers(served: Served) -> None:
    """limit/page pick the slice and X-Page-* headers tell the total."""
    api, path = served.api, _webhooks_path(served, "site")
    ids = [api.post(path, {**HOOK, "name": f"h{i}"}).json()["id"] for i in range(5)]
    first = api.get(f"{path}?limit=2&page=1")
    assert first.headers["X-Page-Total"] == "5"
    assert first.headers["X-Page-Limit"] == "2"
    assert first.headers["X-Page-Page"] == "1"
    pages = [api.get(f"{path}?limit=2&page={p}").json() for p in (1, 2, 3)]
    assert [w["id"] for page in pages for w in page] == ids
    assert api.get(f"{path}?limit=abc").status == 400


BAD_BODIES: list[tuple[str, Any]] = [
    ("not an object", ["x"]),
    ("missing name", {"url": "http://127.0.0.1:9/", "topics": ["audits"]}),
    ("missing url", {"name": "x", "topics": ["audits"]}),
    ("ftp url", {**HOOK, "url": "ftp://127.0.0.1/"}),
    ("unknown topic", {**HOOK, "topics": ["nope"]}),
    ("org-only rule", {**HOOK, "topics": ["location"]}),
    ("oauth2 missing fields", {**HOOK, "type": "oauth2"}),
    ("splunk without token", {**HOOK, "type": "splunk"}),
    (
        "assetfilter without topic",
        {**HOOK, "assetfilter_ids": ["6f7c4d1e-0000-4000-8000-000000000001"]},
    ),
    ("header not a string", {**HOOK, "headers": {"x-a": 1}}),
    ("headers too big", {**HOOK, "headers": {"x-a": "v" * 1000}}),
    ("CRLF in header", {**HOOK, "headers": {"x-a": "v\r\nx-b: evil"}}),
    ("egress refused", {**HOOK, "url": "http://169.254.169.254/latest"}),
]


@pytest.mark.parametrize(("case", "body"), BAD_BODIES, ids=[c for c, _ in BAD_BODIES])
def test_bad_webhooks_get_400_and_change_nothing(
    served_module: Served, case: str, body: Any
) -> None:
    """Each invalid body: 400 {"detail", ...}, and the store and audit log are unchanged."""
    api = served_module.api
    path = _webhooks_path(served_module, "org")
    before = api.get(path).json()
    logs_before = api.get(f"/api/v1/orgs/{served_module.org_id}/logs?limit=1000").json()["total"]
    answer = api.post(path, body)
    assert answer.status == 400, (case, answer.body)
    assert isinstance(answer.json()["detail"], str)
    assert api.get(path).json() == before
    logs_after = api.get(f"/api/v1/orgs/{served_module.org_id}/logs?limit=1000").json()["total"]
    assert logs_after == logs_before


def test_invalid_json_is_a_400(served_module: Served) -> None:
    """A body that is not JSON gets Mist's 400 shape."""
    answer = served_module.api.post(_webhooks_path(served_module, "site"), raw=b"{nope")
    assert answer.status == 400
    assert "detail" in answer.json()


def test_auth_matrix_across_orgs_and_roles(served: Served) -> None:
    """401 without/with a bad token; 403 for read-only writes and site tokens at org
    level; 404 for another org's objects and unreachable sites."""
    api = served.api
    anon = api.with_token(None)
    assert anon.get("/api/v1/self").status == 401
    assert api.with_token("bogus").get("/api/v1/self").status == 401

    other_org = api.post("/api/v1/orgs", {"name": "Other"}).json()["id"]
    other_site = api.post(f"/api/v1/orgs/{other_org}/sites", {"name": "S2"}).json()["id"]
    second_site = api.post(f"/api/v1/orgs/{served.org_id}/sites", {"name": "S3"}).json()["id"]
    org_hook = api.post(_webhooks_path(served, "org"), HOOK).json()["id"]

    reader = api.with_token(_org_token(api, served.org_id, [{"scope": "org", "role": "read"}]))
    site_admin = api.with_token(
        _org_token(
            api, served.org_id, [{"scope": "site", "role": "admin", "site_id": served.site_id}]
        )
    )
    other_admin = api.with_token(_org_token(api, other_org, [{"scope": "org", "role": "admin"}]))

    # read-only: sees, cannot change
    assert reader.get(_webhooks_path(served, "org")).status == 200
    assert reader.post(_webhooks_path(served, "org"), HOOK).status == 403
    assert reader.put(f"{_webhooks_path(served, 'org')}/{org_hook}", {"name": "x"}).status == 403
    assert reader.delete(f"{_webhooks_path(served, 'org')}/{org_hook}").status == 403
    assert reader.post(_webhooks_path(served, "site"), HOOK).status == 403
    listed = reader.get(f"{_webhooks_path(served, 'org')}/{org_hook}").json()
    assert "secret" not in listed or listed["secret"] in ("", "********")

    # site-scoped: its site only
    assert site_admin.post(_webhooks_path(served, "site"), HOOK).status == 200
    assert site_admin.get(_webhooks_path(served, "org")).status == 403
    assert site_admin.get(f"/api/v1/sites/{second_site}/webhooks").status == 404
    assert site_admin.get(f"/api/v1/sites/{second_site}").status == 404

    # another org: nothing of ours exists for it
    assert other_admin.get(f"/api/v1/orgs/{served.org_id}").status == 404
    assert other_admin.get(_webhooks_path(served, "org")).status == 404
    assert other_admin.get(f"{_webhooks_path(served, 'org')}/{org_hook}").status == 404
    assert other_admin.get(_webhooks_path(served, "site")).status == 404
    assert other_admin.get(f"/api/v1/orgs/{other_org}/webhooks/{org_hook}").status == 404
    assert other_admin.get(f"/api/v1/sites/{other_site}/webhooks").status == 200


def test_self_and_tokens(served: Served) -> None:
    """`/self` shows privileges; a user token's key is shown once and works."""
    api = served.api
    me = api.get("/api/v1/self").json()
    assert me["email"]
    assert any(p["org_id"] == served.org_id and p["scope"] == "org" for p in me["privileges"])
    created = api.post("/api/v1/self/apitokens", {"name": "ci"}).json()
    assert api.with_token(created["key"]).get("/api/v1/self").status == 200
    listed = api.get("/api/v1/self/apitokens").json()
    assert created["id"] in [t["id"] for t in listed]
    assert all("key" not in t and "key_hash" not in t for t in listed)
    assert api.delete(f"/api/v1/self/apitokens/{created['id']}").status == 200
    assert api.with_token(created["key"]).get("/api/v1/self").status == 401

    org_key = _org_token(api, served.org_id, [{"scope": "org", "role": "write"}])
    org_self = api.with_token(org_key).get("/api/v1/self").json()
    assert "email" not in org_self
    assert org_self["privileges"][0]["role"] == "write"


def test_audit_log_shows_each_change(served: Served) -> None:
    """Add, update and delete of a webhook and a site update each leave an entry, with
    before/after and no secret."""
    api = served.api
    path = _webhooks_path(served, "site")
    hook = api.post(path, {**HOOK, "name": "x", "secret": "topsecret"}).json()
    api.put(f"{path}/{hook['id']}", {"name": "y"})
    api.delete(f"{path}/{hook['id']}")
    api.put(f"/api/v1/sites/{served.site_id}", {"name": "New Site"})
    logs = api.get(f"/api/v1/orgs/{served.org_id}/logs").json()
    messages = [r["message"] for r in logs["results"]]
    for expected in (
        'Add Webhook "x"',
        'Update Webhook "x"',
        'Delete Webhook "y"',
        'Update Site "Default Site"',
    ):
        assert expected in messages
    assert "topsecret" not in json.dumps(logs)
    update = next(r for r in logs["results"] if r["message"] == 'Update Webhook "x"')
    assert update["before"] == {"name": "x"}
    assert update["after"] == {"name": "y"}
    assert update["site_id"] == served.site_id
    assert update["admin_name"]
    same = api.get(f"/api/v1/orgs/{served.org_id}/logs/search?message=Webhook").json()
    assert same["total"] == 3
    count = api.get(f"/api/v1/orgs/{served.org_id}/logs/count?distinct=message").json()
    assert {"message": 'Add Webhook "x"', "count": 1} in count["results"]


def test_delete_site_removes_its_webhooks(served: Served) -> None:
    """Deleting a site removes its webhooks too."""
    api = served.api
    site = api.post(f"/api/v1/orgs/{served.org_id}/sites", {"name": "Temp"}).json()["id"]
    hook = api.post(f"/api/v1/sites/{site}/webhooks", HOOK).json()["id"]
    assert api.delete(f"/api/v1/sites/{site}").status == 200
    assert api.get(f"/api/v1/sites/{site}/webhooks/{hook}").status == 404
    assert api.get(f"/api/v1/sites/{site}").status == 404


def test_constants(served_module: Served) -> None:
    """Topic, alarm and device event catalogues are served."""
    api = served_module.api
    topics = {t["key"]: t for t in api.get("/api/v1/const/webhook_topics").json()}
    assert topics["audits"]["for_org"] is True
    assert "for_org" not in topics["location"]
    alarms = {a["key"] for a in api.get("/api/v1/const/alarm_defs").json()}
    assert {"device_down", "rogue_ap", "bad_cable"} <= alarms
    events = {e["key"] for e in api.get("/api/v1/const/device_events").json()}
    assert {"AP_CLAIMED", "AP_DISCONNECTED", "SW_CONNECTED", "GW_CONNECTED"} <= events


def test_openapi_describes_every_route(served_module: Served) -> None:
    """The OpenAPI document lists the Mist paths this server answers."""
    doc = served_module.server.client().get("/api/v1/docs/openapi.json").json()
    paths = doc["paths"]
    for path in (
        "/api/v1/self",
        "/api/v1/self/apitokens",
        "/api/v1/orgs/{org_id}",
        "/api/v1/orgs/{org_id}/sites",
        "/api/v1/sites/{site_id}",
        "/api/v1/orgs/{org_id}/webhooks",
        "/api/v1/orgs/{org_id}/webhooks/{webhook_id}",
        "/api/v1/sites/{site_id}/webhooks/{webhook_id}/ping",
        "/api/v1/orgs/{org_id}/apitokens/{apitoken_id}",
        "/api/v1/orgs/{org_id}/logs/count",
        "/api/v1/const/webhook_topics",
    ):
        assert path in paths, path


def test_https_self_signed(served_https: Served) -> None:
    """Over HTTPS with a self-signed certificate, the same API works."""
    api = served_https.api
    assert served_https.server.base_url.startswith("https://")
    hook = api.post(_webhooks_path(served_https, "site"), HOOK)
    assert hook.status == 200
    listed = api.get(_webhooks_path(served_https, "site"))
    assert listed.headers["X-Page-Total"] == "1"


@pytest.fixture
def served_tight(tmp_path: Path) -> Iterator[Served]:
    """A server whose tokens may make 5 calls an hour."""
    yield from serve_fresh(tmp_path, env={"MISTHOOK_RATE_LIMIT_PER_HOUR": "5"})


def test_rate_limit_answers_429_with_retry_after(served_tight: Served) -> None:
    """The sixth call of a token within the clock hour gets Mist's 429, until the top of
    the hour; other tokens go on."""
    api = served_tight.api
    other = api.post("/api/v1/self/apitokens", {"name": "second"}).json()["key"]
    if time.time() % 3600 > 3590:  # the budget would renew in the middle of the test
        time.sleep(3600 - time.time() % 3600 + 0.5)
    answers = [api.get("/api/v1/self") for _ in range(5)]
    assert [a.status for a in answers] == [200] * 4 + [429]
    assert "5000 API Calls per hour" in answers[-1].json()["detail"]
    left = 3600 - time.time() % 3600
    assert abs(int(answers[-1].headers["Retry-After"]) - left) <= 2
    assert api.with_token(other).get("/api/v1/self").status == 200
