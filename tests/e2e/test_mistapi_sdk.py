"""Mist's own Python SDK (`mistapi` 0.64) against `misthook serve`, over verified HTTPS.

The server gets a certificate for 127.0.0.1 issued by a `trustme` CA, and the SDK's
`requests` trusts that CA through ``REQUESTS_CA_BUNDLE``, so TLS is really checked. Every
call goes through the SDK's own functions and we assert on what the SDK hands back
(``APIResponse.status_code``, ``.data``, ``.next``).

One SDK limitation needs a shim: ``APISession.set_cloud`` accepts only the Mist cloud host
names it knows (api.mist.com, api.eu.mist.com, ...) and silently leaves the host empty
otherwise, after which ``login()`` prompts for a cloud. ``LoopbackSession`` accepts
``127.0.0.1:<port>`` there and changes nothing else: requests are still built as
``https://{host}{uri}`` by the SDK, tokens still checked with its ``GET /api/v1/self``.

The SDK must reach nothing but this machine: an audit hook refuses (and records) any
connection or name lookup for a non-loopback host while these tests run.
"""

from __future__ import annotations

import ipaddress
import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import mistapi
import pytest
import trustme
from mistapi.api.v1.const import alarm_defs, device_events, webhook_topics
from mistapi.api.v1.orgs import logs as org_logs
from mistapi.api.v1.orgs import webhooks as org_webhooks
from mistapi.api.v1.self import self as self_api
from mistapi.api.v1.sites import webhooks as site_webhooks

from misthook.testing.receiver import Receiver
from tests.e2e.conftest import Served, serve_fresh

# Environment the SDK (or requests) would read: a host, tokens, a vault, proxies.
SDK_ENV = (
    "MIST_HOST",
    "MIST_APITOKEN",
    "MIST_USER",
    "MIST_PASSWORD",
    "MIST_VAULT_URL",
    "MIST_VAULT_PATH",
    "MIST_VAULT_MOUNT_POINT",
    "MIST_VAULT_TOKEN",
    "MIST_KEYRING_SERVICE",
    "HTTPS_PROXY",
    "https_proxy",
    "HTTP_PROXY",
    "http_proxy",
    "ALL_PROXY",
    "all_proxy",
    "CURL_CA_BUNDLE",
)

# --- loopback only ----------------------------------------------------------------------

_guard_on = False
_refused: list[str] = []


def _is_loopback(host: object) -> bool:
    if isinstance(host, bytes):
        host = host.decode(errors="replace")
    if not isinstance(host, str):
        return True  # AF_UNIX paths and the like never leave the machine
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False


def _loopback_only(event: str, args: tuple[Any, ...]) -> None:
    if not _guard_on:
        return
    if event == "socket.getaddrinfo":
        host = args[0]
    elif event == "socket.connect" and isinstance(args[1], tuple):
        host = args[1][0]
    else:
        return
    if not _is_loopback(host):
        _refused.append(f"{event} {host!r}")
        raise ConnectionRefusedError(f"test guard: {host!r} is not loopback")


_hook_installed = False


@pytest.fixture(scope="module")
def loopback_guard() -> Iterator[list[str]]:
    """While the module runs, non-loopback connections fail; yields what was refused."""
    global _guard_on, _hook_installed
    if not _hook_installed:  # audit hooks cannot be removed: install once, switch a flag
        sys.addaudithook(_loopback_only)
        _hook_installed = True
    _refused.clear()
    _guard_on = True
    try:
        yield _refused
    finally:
        _guard_on = False


def test_guard_refuses_other_hosts(loopback_guard: list[str]) -> None:
    """The guard itself works (an IP literal: even unguarded, no packet would leave)."""
    with pytest.raises(ConnectionRefusedError):
        socket.getaddrinfo("192.0.2.1", 443)
    assert loopback_guard.pop() == "socket.getaddrinfo '192.0.2.1'"
    assert socket.getaddrinfo("127.0.0.1", 443)


# --- the server and the SDK session ------------------------------------------------------


class LoopbackSession(mistapi.APISession):  # type: ignore[misc]
    """``mistapi.APISession`` whose host may also be ``127.0.0.1:<port>``."""

    def set_cloud(self, cloud_uri: str) -> None:
        if cloud_uri.startswith("127.0.0.1:"):
            self._cloud_uri = cloud_uri
        else:
            super().set_cloud(cloud_uri)


@pytest.fixture(scope="module")
def sdk_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[trustme.CA]:
    """A CA that `requests` trusts, and no SDK settings from the outer environment."""
    ca = trustme.CA()
    bundle = tmp_path_factory.mktemp("ca") / "ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    with pytest.MonkeyPatch.context() as mp:
        for name in SDK_ENV:
            mp.delenv(name, raising=False)
        mp.setenv("REQUESTS_CA_BUNDLE", str(bundle))
        mp.setenv("NO_PROXY", "127.0.0.1,localhost")
        yield ca


@pytest.fixture(scope="module")
def served_tls(tmp_path_factory: pytest.TempPathFactory, sdk_env: trustme.CA) -> Iterator[Served]:
    """`misthook serve --tls-cert --tls-key` with a certificate for 127.0.0.1."""
    tmp = tmp_path_factory.mktemp("sdk")
    leaf = sdk_env.issue_cert("127.0.0.1")
    cert, key = tmp / "cert.pem", tmp / "key.pem"
    leaf.private_key_pem.write_to_path(str(key))
    cert.write_bytes(b"".join(blob.bytes() for blob in leaf.cert_chain_pems))
    yield from serve_fresh(tmp, "--tls-cert", str(cert), "--tls-key", str(key))


def _host(served: Served) -> str:
    return f"127.0.0.1:{served.server.port}"


def _session(served: Served, token: str) -> LoopbackSession:
    session = LoopbackSession(
        host=_host(served),
        apitoken=token,
        show_cli_notif=False,
        console_log_level=0,
    )
    session.login()
    return session


@pytest.fixture(scope="module")
def sdk(served_tls: Served, loopback_guard: list[str]) -> Iterator[LoopbackSession]:
    """An SDK session logged in with the superuser token of `misthook init --json`."""
    session = _session(served_tls, served_tls.token)
    yield session
    assert loopback_guard == [], f"the SDK tried to leave the machine: {loopback_guard}"


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    with Receiver() as rec:
        yield rec


def _hook(url: str, name: str = "sdk") -> dict[str, Any]:
    return {"name": name, "url": url, "topics": ["device-updowns"], "secret": "s3cret"}


# --- session and token --------------------------------------------------------------------


def test_plain_session_rejects_a_loopback_host(
    sdk_env: trustme.CA, loopback_guard: list[str]
) -> None:
    """Unpatched, the SDK keeps no host for 127.0.0.1:<port> (why LoopbackSession exists)."""
    session = mistapi.APISession(host="127.0.0.1:1", show_cli_notif=False, console_log_level=0)
    assert session.get_cloud() == ""


def test_login_validates_the_token_over_verified_tls(
    sdk: LoopbackSession, served_tls: Served
) -> None:
    """login() checked the token with GET /self over TLS and loaded the user's privileges."""
    assert sdk.get_authentication_status() is True
    assert sdk._apitoken == [served_tls.token]
    assert sdk.email
    org_privileges = [p for p in sdk.privileges if p.get("scope") == "org"]
    assert [p.get("org_id") for p in org_privileges] == [served_tls.org_id]
    assert sdk.get_privilege_by_org_id(served_tls.org_id).get("role") == "admin"


def test_get_self(sdk: LoopbackSession, served_tls: Served) -> None:
    """getSelf answers 200 with the admin and an org privilege with its id and name."""
    answer = self_api.getSelf(sdk)
    assert answer.status_code == 200
    assert answer.url == f"https://{_host(served_tls)}/api/v1/self"
    assert answer.data["email"] == sdk.email
    privilege = next(p for p in answer.data["privileges"] if p["scope"] == "org")
    assert privilege["org_id"] == served_tls.org_id
    assert privilege["role"] == "admin"
    assert privilege["name"]


def test_token_classification(sdk: LoopbackSession, served_tls: Served) -> None:
    """The SDK calls the init token a user token and an org API token an org token,
    each with the org privilege it reads from /self."""
    kind, privileges = sdk._get_api_token_data(served_tls.token)
    assert kind == "user"
    assert {"scope": "org", "role": "admin", "id": served_tls.org_id} in [
        {k: p[k] for k in ("scope", "role", "id")} for p in privileges
    ]

    created = sdk.mist_post(
        f"/api/v1/orgs/{served_tls.org_id}/apitokens",
        body={"name": "sdk-org-token", "privileges": [{"scope": "org", "role": "write"}]},
    )
    assert created.status_code == 200, created.data
    kind, privileges = sdk._get_api_token_data(created.data["key"])
    assert kind == "org"
    assert [(p["scope"], p["role"], p["id"]) for p in privileges] == [
        ("org", "write", served_tls.org_id)
    ]
    org_session = _session(served_tls, created.data["key"])
    listed = org_webhooks.listOrgWebhooks(org_session, served_tls.org_id)
    assert listed.status_code == 200
    assert isinstance(listed.data, list)


def test_user_tokens_through_the_session(sdk: LoopbackSession, served_tls: Served) -> None:
    """create_api_token / get_api_token / delete_api_token; two tokens of one admin pass
    the SDK's same-privileges check and rotate in one session."""
    created = sdk.create_api_token("sdk-second")
    assert created.status_code == 200, created.data
    second = created.data["key"]
    listed = sdk.get_api_token()
    assert listed.status_code == 200
    assert created.data["id"] in [t["id"] for t in listed.data]
    assert all("key" not in t for t in listed.data)

    both = _session(served_tls, f"{served_tls.token},{second}")
    assert both._apitoken == [served_tls.token, second]
    assert self_api.getSelf(both).status_code == 200

    assert sdk.delete_api_token(created.data["id"]).status_code == 200
    assert created.data["id"] not in [t["id"] for t in sdk.get_api_token().data]


def test_bad_token_is_refused(served_tls: Served, loopback_guard: list[str]) -> None:
    """A token misthook does not know gets 401 on /self, which the SDK turns into ValueError."""
    with pytest.raises(ValueError, match="status code 401"):
        LoopbackSession(
            host=_host(served_tls),
            apitoken="not-a-real-token-0123456789",
            show_cli_notif=False,
            console_log_level=0,
        )


def test_tls_is_verified(
    served_tls: Served,
    loopback_guard: list[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Trusting another CA, the SDK refuses misthook's certificate: verification is real."""
    foreign = tmp_path / "foreign.pem"
    trustme.CA().cert_pem.write_to_path(str(foreign))
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(foreign))
    with pytest.raises(ConnectionError, match="CERTIFICATE_VERIFY_FAILED"):
        LoopbackSession(
            host=_host(served_tls),
            apitoken=served_tls.token,
            show_cli_notif=False,
            console_log_level=0,
        )


# --- constants ----------------------------------------------------------------------------


def test_webhook_topics(sdk: LoopbackSession) -> None:
    """listWebhookTopics: an array of {key, ...} naming the topics misthook serves."""
    answer = webhook_topics.listWebhookTopics(sdk)
    assert answer.status_code == 200
    keys = {t["key"] for t in answer.data}
    assert {"alarms", "audits", "device-events", "device-updowns", "location"} <= keys
    alarms = next(t for t in answer.data if t["key"] == "alarms")
    assert alarms["for_org"] is True


def test_event_and_alarm_definitions(sdk: LoopbackSession) -> None:
    """listDeviceEventsDefinitions and listAlarmDefinitions: non-empty arrays with keys."""
    events = device_events.listDeviceEventsDefinitions(sdk)
    alarms = alarm_defs.listAlarmDefinitions(sdk)
    for answer in (events, alarms):
        assert answer.status_code == 200
        assert isinstance(answer.data, list)
        assert answer.data
        assert all(isinstance(item.get("key"), str) for item in answer.data)


# --- webhooks -----------------------------------------------------------------------------


def test_site_webhook_lifecycle(
    sdk: LoopbackSession, served_tls: Served, receiver: Receiver
) -> None:
    """create/list/get/update/ping/delete a site webhook; the ping reaches the receiver,
    signed, and the delivery log shows it through search and count."""
    site = served_tls.site_id
    created = site_webhooks.createSiteWebhook(sdk, site, _hook(receiver.url, "site-sdk"))
    assert created.status_code == 200, created.data
    hook = created.data
    assert hook["site_id"] == site
    assert hook["for_site"] is True
    assert hook["type"] == "http-post"
    assert hook["enabled"] is True

    listed = site_webhooks.listSiteWebhooks(sdk, site)
    assert listed.status_code == 200
    assert hook["id"] in [w["id"] for w in listed.data]
    assert listed.next is None

    got = site_webhooks.getSiteWebhook(sdk, site, hook["id"])
    assert got.status_code == 200
    assert got.data == hook

    updated = site_webhooks.updateSiteWebhook(sdk, site, hook["id"], {"name": "renamed"})
    assert updated.status_code == 200
    assert updated.data["name"] == "renamed"
    assert updated.data["topics"] == ["device-updowns"]

    before = len(receiver.messages("ping"))
    pinged = site_webhooks.pingSiteWebhook(sdk, site, hook["id"])
    assert pinged.status_code == 200
    assert receiver.wait_for(lambda _: len(receiver.messages("ping")) > before)
    ping = next(r for r in reversed(receiver.requests) if r.json()["topic"] == "ping")
    assert ping.json()["events"][0]["id"] == hook["id"]
    assert ping.signature_ok("s3cret")

    search = _wait_for_deliveries(sdk, site, hook["id"], 1)
    delivery = search.data["results"][0]
    assert delivery["webhook_id"] == hook["id"]
    assert delivery["topic"] == "ping"
    assert delivery["status"] == "success"
    assert delivery["status_code"] == 200
    assert search.next is None

    count = site_webhooks.countSiteWebhooksDeliveries(sdk, site, hook["id"], distinct="topic")
    assert count.status_code == 200
    assert count.data["distinct"] == "topic"
    assert {"topic": "ping", "count": 1} in count.data["results"]

    deleted = site_webhooks.deleteSiteWebhook(sdk, site, hook["id"])
    assert deleted.status_code == 200
    gone = site_webhooks.getSiteWebhook(sdk, site, hook["id"])
    assert gone.status_code == 404


def _wait_for_deliveries(
    sdk: LoopbackSession, site: str, webhook_id: str, n: int, **query: Any
) -> Any:
    """The delivery search once it holds ``n`` records (they are written after the POST)."""
    deadline = time.monotonic() + 10
    while True:
        answer = site_webhooks.searchSiteWebhooksDeliveries(sdk, site, webhook_id, **query)
        assert answer.status_code == 200, answer.data
        if answer.data["total"] >= n or time.monotonic() > deadline:
            assert answer.data["total"] == n
            return answer
        time.sleep(0.05)


def test_org_webhook_lifecycle(
    sdk: LoopbackSession, served_tls: Served, receiver: Receiver
) -> None:
    """The same round trip on an org webhook, and the org delivery search and count."""
    org = served_tls.org_id
    created = org_webhooks.createOrgWebhook(sdk, org, _hook(receiver.url, "org-sdk"))
    assert created.status_code == 200, created.data
    hook = created.data
    assert hook["org_id"] == org
    assert hook["for_site"] is False

    listed = org_webhooks.listOrgWebhooks(sdk, org, limit=10)
    assert listed.status_code == 200
    assert hook["id"] in [w["id"] for w in listed.data]
    assert listed.headers is not None
    assert listed.headers["X-Page-Limit"] == "10"

    assert org_webhooks.getOrgWebhook(sdk, org, hook["id"]).data == hook
    updated = org_webhooks.updateOrgWebhook(sdk, org, hook["id"], {"enabled": False})
    assert updated.status_code == 200
    assert updated.data["enabled"] is False
    updated = org_webhooks.updateOrgWebhook(sdk, org, hook["id"], {"enabled": True})
    assert updated.data["enabled"] is True

    before = len(receiver.messages("ping"))
    assert org_webhooks.pingOrgWebhook(sdk, org, hook["id"]).status_code == 200
    assert receiver.wait_for(lambda _: len(receiver.messages("ping")) > before)

    search: Any = None
    for _ in range(200):
        search = org_webhooks.searchOrgWebhooksDeliveries(sdk, org, hook["id"], topic="ping")
        if search.data.get("total"):
            break
        receiver.wait_for(lambda _: False, timeout_s=0.05)
    assert search.status_code == 200
    assert [d["status"] for d in search.data["results"]] == ["success"]
    count = org_webhooks.countOrgWebhooksDeliveries(sdk, org, hook["id"])
    assert count.status_code == 200
    assert count.data["total"] == 1

    assert org_webhooks.deleteOrgWebhook(sdk, org, hook["id"]).status_code == 200
    assert org_webhooks.getOrgWebhook(sdk, org, hook["id"]).status_code == 404


def test_bad_topic_is_a_400_with_detail(sdk: LoopbackSession, served_tls: Served) -> None:
    """A create with an unknown topic: the SDK returns status 400 and Mist's {detail, reason}."""
    answer = site_webhooks.createSiteWebhook(
        sdk, served_tls.site_id, {**_hook("http://127.0.0.1:9/hook"), "topics": ["nope"]}
    )
    assert answer.status_code == 400
    assert isinstance(answer.data, dict)
    assert "topics" in answer.data["detail"]
    assert set(answer.data) <= {"detail", "reason"}


# --- paging -------------------------------------------------------------------------------


def test_list_paging_with_get_all_and_get_next(sdk: LoopbackSession, served_tls: Served) -> None:
    """With more webhooks than `limit`, the X-Page-* headers give the SDK a `next`;
    get_next fetches page 2 and get_all collects every webhook exactly once."""
    site = served_tls.site_id
    made = [
        site_webhooks.createSiteWebhook(
            sdk, site, _hook("http://127.0.0.1:9/hook", f"page-{i}")
        ).data["id"]
        for i in range(5)
    ]
    first = site_webhooks.listSiteWebhooks(sdk, site, limit=2)
    assert first.status_code == 200
    assert len(first.data) == 2
    assert first.next == f"/api/v1/sites/{site}/webhooks?limit=2&page=2"

    second = mistapi.get_next(sdk, first)
    assert second is not None
    assert second.status_code == 200
    assert len(second.data) == 2
    assert second.next == f"/api/v1/sites/{site}/webhooks?limit=2&page=3"

    everything = mistapi.get_all(sdk, first)
    ids = [w["id"] for w in everything]
    assert len(ids) == len(set(ids))
    assert set(made) <= set(ids)
    total = site_webhooks.listSiteWebhooks(sdk, site)
    assert total.headers is not None
    assert len(ids) == int(total.headers["X-Page-Total"])
    for webhook_id in made:
        assert site_webhooks.deleteSiteWebhook(sdk, site, webhook_id).status_code == 200


def test_delivery_search_next_pages_with_search_after(
    sdk: LoopbackSession, served_tls: Served, receiver: Receiver
) -> None:
    """Three pings, searched one per page: `next` is a host-relative link the SDK follows,
    and get_all returns the three deliveries once each."""
    site = served_tls.site_id
    hook = site_webhooks.createSiteWebhook(sdk, site, _hook(receiver.url, "paged")).data
    # one ping at a time: pings queued together may travel in one batched POST
    for n in (1, 2, 3):
        assert site_webhooks.pingSiteWebhook(sdk, site, hook["id"]).status_code == 200
        first = _wait_for_deliveries(sdk, site, hook["id"], n, limit=1)
    assert len(first.data["results"]) == 1
    assert first.next is not None
    assert first.next.startswith(f"/api/v1/sites/{site}/webhooks/{hook['id']}/events/search?")
    assert "search_after=" in first.next

    every = mistapi.get_all(sdk, first)
    assert len({d["id"] for d in every}) == 3
    assert {d["topic"] for d in every} == {"ping"}
    assert site_webhooks.deleteSiteWebhook(sdk, site, hook["id"]).status_code == 200


# --- audit logs ---------------------------------------------------------------------------


def test_audit_logs_search_count_and_next(sdk: LoopbackSession, served_tls: Served) -> None:
    """listOrgAuditLogs (the SDK calls /logs/search) shows the SDK's own changes, pages with
    `next`, and countOrgAuditLogs counts them by admin."""
    org = served_tls.org_id
    for i in range(3):
        created = org_webhooks.createOrgWebhook(
            sdk, org, _hook("http://127.0.0.1:9/hook", f"audited-{i}")
        )
        assert org_webhooks.deleteOrgWebhook(sdk, org, created.data["id"]).status_code == 200

    listed = org_logs.listOrgAuditLogs(sdk, org, limit=2)
    assert listed.status_code == 200
    assert listed.url.startswith(f"https://{_host(served_tls)}/api/v1/orgs/{org}/logs/search")
    body = listed.data
    assert {"start", "end", "limit", "total", "results"} <= set(body)
    assert body["limit"] == 2
    assert len(body["results"]) == 2
    assert body["total"] >= 6
    assert all(entry["org_id"] == org for entry in body["results"])
    assert listed.next is not None
    assert listed.next.startswith(f"/api/v1/orgs/{org}/logs/search?")

    following = mistapi.get_next(sdk, listed)
    assert following is not None
    assert following.status_code == 200
    assert following.data["results"]
    first_ids = {e["id"] for e in body["results"]}
    assert first_ids.isdisjoint({e["id"] for e in following.data["results"]})

    everything = mistapi.get_all(sdk, listed)
    assert len({e["id"] for e in everything}) == len(everything) == body["total"]
    messages = [e["message"] for e in everything]
    assert any("audited-0" in m for m in messages), messages

    only = org_logs.listOrgAuditLogs(sdk, org, message="audited-1", sort="timestamp")
    assert only.status_code == 200
    assert len(only.data["results"]) == 2  # its creation, then its deletion
    assert all("audited-1" in e["message"] for e in only.data["results"])
    stamps = [e["timestamp"] for e in only.data["results"]]
    assert stamps == sorted(stamps)

    count = org_logs.countOrgAuditLogs(sdk, org)
    assert count.status_code == 200
    assert count.data["distinct"] == "admin_name"
    assert sum(r["count"] for r in count.data["results"]) == count.data["total"]
    assert count.data["total"] >= body["total"]
