"""Message building: body bytes, header order and rules, auth headers, redaction."""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any

import orjson
import pytest

from misthook.delivery.message import (
    MessageError,
    build_body,
    build_request,
    prepare,
    redact_headers,
    redact_url,
)

EVENTS = [b'{"id":"e1","n":1}', b'{"id":"e2","text":"caf\xc3\xa9"}']


def webhook(**fields: Any) -> dict[str, Any]:
    return {"url": "https://hooks.example.com/in?x=1", "type": "http-post", **fields}


def test_body_joins_stored_events_compactly_topic_first() -> None:
    """The body is the exact compact envelope, events copied byte for byte."""
    body = build_body("device-events", EVENTS)
    assert body == (
        b'{"topic":"device-events","events":[{"id":"e1","n":1},{"id":"e2","text":"caf\xc3\xa9"}]}'
    )
    assert list(orjson.loads(body)) == ["topic", "events"]


def test_body_of_one_or_many_events_is_the_same_envelope() -> None:
    """Built with the envelope's ends on the first and last event: whatever the count,
    the same bytes as the plain join, and the caller's bodies untouched."""
    many = [b'{"n":%d}' % n for n in range(5)]
    kept = list(many)
    for count in range(6):
        expected = b'{"topic":"audits","events":[' + b",".join(many[:count]) + b"]}"
        assert build_body("audits", many[:count]) == expected
    assert many == kept


def test_body_escapes_the_topic_and_allows_no_events() -> None:
    """A topic is JSON-escaped; an empty batch is still valid JSON."""
    assert orjson.loads(build_body('a"b', [])) == {"topic": 'a"b', "events": []}


def test_plain_webhook_sends_only_content_type_and_user_agent() -> None:
    """No secret, no headers: exactly Mist's two headers, TLS verified by default."""
    req = build_request(webhook(), "audits", EVENTS)
    assert req.headers == {"Content-Type": "application/json", "User-Agent": "Mist-webhook"}
    assert req.url == "https://hooks.example.com/in?x=1"
    assert req.verify_cert is True
    assert req.body == build_body("audits", EVENTS)


def test_secret_signs_the_exact_body_sent() -> None:
    """Both signatures verify against the request's own body bytes."""
    req = build_request(webhook(secret="k3y"), "alarms", EVENTS)
    v2 = hmac.new(b"k3y", req.body, hashlib.sha256).hexdigest()
    v1 = hmac.new(b"k3y", req.body, hashlib.sha1).hexdigest()
    assert req.headers["X-Mist-Signature-v2"] == v2
    assert req.headers["X-Mist-Signature"] == v1
    assert "k3y" not in str(req.headers)


def test_custom_headers_come_after_the_fixed_ones() -> None:
    """Custom headers are sent as given, after Content-Type and User-Agent."""
    req = build_request(webhook(headers={"x-custom-1": "v1", "X-Two": "v2"}), "audits", EVENTS)
    assert list(req.headers) == ["Content-Type", "User-Agent", "x-custom-1", "X-Two"]
    assert "X-Mist-Error" not in req.headers


@pytest.mark.parametrize(
    ("headers", "kept", "error"),
    [
        ("not-a-dict", {}, "headers format invalid"),
        (["a", "b"], {}, "headers format invalid"),
        ({"x-num": 5, "x-ok": "y"}, {"x-ok": "y"}, "header[x-num] not a string"),
        ({"bad name": "v", "x-ok": "y"}, {"x-ok": "y"}, "headers format invalid"),
        ({"x-inject": "a\r\nHost: evil", "x-ok": "y"}, {"x-ok": "y"}, "headers format invalid"),
        ({"Host": "evil", "x-ok": "y"}, {"x-ok": "y"}, "header[Host] not allowed"),
        ({"content-length": "1"}, {}, "header[content-length] not allowed"),
        ({"Transfer-Encoding": "chunked"}, {}, "header[Transfer-Encoding] not allowed"),
        ({"X-Mist-Signature-v2": "forged"}, {}, "header[X-Mist-Signature-v2] not allowed"),
        ({"x-big": "v" * 1000}, {}, "headers too big"),
    ],
)
def test_bad_custom_headers_are_dropped_and_reported(
    headers: object, kept: dict[str, str], error: str
) -> None:
    """Mist still delivers with bad headers: the bad ones are left out, X-Mist-Error says why."""
    req = build_request(webhook(headers=headers), "audits", EVENTS)
    custom = {k: v for k, v in req.headers.items() if k not in ("Content-Type", "User-Agent")}
    assert custom.pop("X-Mist-Error") == error
    assert custom == kept


def test_headers_just_under_the_size_bound_are_kept() -> None:
    """1000 bytes of names and values in all is still allowed."""
    headers = {"x-a": "v" * 497, "x-b": "w" * 497}
    req = build_request(webhook(headers=headers), "audits", EVENTS)
    assert req.headers["x-a"] == "v" * 497
    assert "X-Mist-Error" not in req.headers


def test_userinfo_becomes_basic_auth_and_leaves_the_url() -> None:
    """user:password@ (percent-decoded) becomes Authorization: Basic; the URL loses it."""
    req = build_request(
        webhook(url="https://al%40ice:p%3Ass@hooks.example.com:8443/in"), "audits", EVENTS
    )
    assert req.url == "https://hooks.example.com:8443/in"
    scheme, _, encoded = req.headers["Authorization"].partition(" ")
    assert scheme == "Basic"
    assert base64.b64decode(encoded) == b"al@ice:p:ss"


def test_basic_auth_replaces_a_custom_authorization_header() -> None:
    """Only one Authorization goes out, whatever the custom header's spelling."""
    req = build_request(
        webhook(url="https://u:p@h.example.com/", headers={"authorization": "Token x"}),
        "audits",
        EVENTS,
    )
    assert [k for k in req.headers if k.lower() == "authorization"] == ["Authorization"]
    assert req.headers["Authorization"].startswith("Basic ")


def test_custom_authorization_is_kept_without_other_auth() -> None:
    """A plain http-post webhook may carry its own Authorization custom header."""
    req = build_request(webhook(headers={"Authorization": "Token abc"}), "audits", EVENTS)
    assert req.headers["Authorization"] == "Token abc"


def test_oauth2_uses_the_bearer_token() -> None:
    """type oauth2 sends Authorization: Bearer <token>; without a token it cannot send."""
    hook = webhook(type="oauth2", headers={"Authorization": "nope"})
    req = build_request(hook, "audits", EVENTS, bearer_token="tok-1")
    assert req.headers["Authorization"] == "Bearer tok-1"
    assert [k for k in req.headers if k.lower() == "authorization"] == ["Authorization"]
    with pytest.raises(MessageError):
        build_request(hook, "audits", EVENTS)


def test_splunk_sends_hec_events_with_its_token() -> None:
    """type splunk: Authorization: Splunk <token>, one HEC event object per line."""
    hook = webhook(type="splunk", splunk_token="hec-123", verify_cert=False)
    req = build_request(hook, "device-events", EVENTS)
    assert req.headers["Authorization"] == "Splunk hec-123"
    assert req.verify_cert is False
    lines = [orjson.loads(line) for line in req.body.split(b"\n")]
    assert lines == [
        {"event": {"id": "e1", "n": 1}, "sourcetype": "mist:device-events"},
        {"event": {"id": "e2", "text": "café"}, "sourcetype": "mist:device-events"},
    ]


def test_splunk_without_token_is_undeliverable() -> None:
    """Mist: a splunk webhook without splunk_token does not send."""
    with pytest.raises(MessageError, match="splunk_token"):
        build_request(webhook(type="splunk"), "audits", EVENTS)


@pytest.mark.parametrize("kind", ["aws-sns", "google-pubsub", "carrier-pigeon"])
def test_unsupported_types_are_undeliverable(kind: str) -> None:
    """Types we do not deliver raise MessageError instead of POSTing something wrong."""
    with pytest.raises(MessageError):
        prepare(webhook(type=kind))


def test_prepared_webhook_builds_the_same_request() -> None:
    """prepare() once + request() per message equals build_request()."""
    hook = webhook(secret="s", headers={"x-a": "1"}, url="https://u:p@h.example.com/")
    prepared = prepare(hook)
    assert prepared.request("alarms", EVENTS) == build_request(hook, "alarms", EVENTS)
    # requests do not share one mutable headers dict
    first = prepared.request("alarms", EVENTS)
    first.headers["x-a"] = "changed"
    assert prepared.request("alarms", EVENTS).headers["x-a"] == "1"


def test_redacted_headers_hide_credentials_and_signatures() -> None:
    """The delivery log sees Go-style lists with secrets replaced, the rest verbatim."""
    req = build_request(
        webhook(url="https://u:pw@h.example.com/", secret="s", headers={"X-Api-Token": "t0k"}),
        "audits",
        EVENTS,
    )
    logged = redact_headers(req.headers)
    assert logged["Content-Type"] == ["application/json"]
    assert logged["User-Agent"] == ["Mist-webhook"]
    assert logged["Authorization"] == ["Basic [redacted]"]
    assert logged["X-Mist-Signature-v2"] == ["[redacted]"]
    assert logged["X-Mist-Signature"] == ["[redacted]"]
    assert logged["X-Api-Token"] == ["[redacted]"]
    dumped = orjson.dumps(logged).decode()
    assert req.headers["X-Mist-Signature-v2"] not in dumped
    assert base64.b64encode(b"u:pw").decode() not in dumped


def test_redact_url_drops_userinfo_only() -> None:
    """The logged URL keeps host, port, path and query but not the credentials."""
    assert redact_url("http://u:p@h.example.com:81/a?b=c") == "http://h.example.com:81/a?b=c"
    assert redact_url("http://h.example.com/a") == "http://h.example.com/a"
