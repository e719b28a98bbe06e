"""One delivery attempt: build the request, send it, describe what happened.

Shared by the worker (the hot path) and by the resend/recover use cases, so that every
POST misthook makes is built, signed, sent and logged the same way.

The delivery record (collection ``deliveries``) has Mist's ``webhook_delivery`` fields
(``id, org_id, site_id, webhook_id, topic, status, status_code, error, req_url,
req_headers, req_payload, resp_headers, resp_body, timestamp``), where the header maps
are JSON strings of Go-style ``{"Name": ["value"]}`` maps and ``req_payload`` is the exact
body sent. misthook adds three extras, dropped by nothing and ignored by Mist clients:
``attempt`` (1 for the first try of a message), ``event_ids`` (the ids in the body) and
``latency_ms`` (time to the response, or to the failure).

How the body is stored: a message the worker cut from its stream (and a resend of one)
is stored by reference, ``payload_ref`` (the stream, first/last sequence, event count,
Mist or Splunk body; see ``payload_ref``) instead of ``req_payload`` and ``event_ids``,
which the readers (``Deliveries.search`` and ``resend``) build again from the event log;
100 webhooks on a topic no longer write the same body 100 times. Only a message not
rebuildable from the log (a recovered parked message) keeps the literal ``req_payload``
and ``event_ids``. Records written before references existed are literal too.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
from collections.abc import Mapping, Sequence
from typing import Any

import orjson

from misthook import ids
from misthook.delivery import message, payload_ref
from misthook.delivery.message import MessageError, OutgoingRequest, PreparedWebhook
from misthook.delivery.oauth2 import OAuth2Tokens
from misthook.delivery.sender import Sender, SendOutcome
from misthook.delivery.signer import SIGNATURE_V1, SIGNATURE_V2
from misthook.store.base import Doc

# Part of a response body kept in the log when Config gives no bound.
DEFAULT_RESP_BODY_MAX_BYTES = 4096


@dataclasses.dataclass(frozen=True, slots=True)
class Attempt:
    """A finished attempt: what was sent and what came back, and how the body was built
    (``payload_ref.MIST`` or ``payload_ref.SPLUNK``)."""

    request: OutgoingRequest
    outcome: SendOutcome
    body_format: payload_ref.BodyFormat = payload_ref.MIST


async def send_message(
    sender: Sender,
    tokens: OAuth2Tokens | None,
    webhook: Mapping[str, Any],
    topic: str,
    event_bodies: Sequence[bytes],
    *,
    prepared: PreparedWebhook | None = None,
    sending: contextlib.AbstractAsyncContextManager[object] | None = None,
) -> Attempt:
    """POST one message; an oauth2 webhook answered 401 gets one fresh token and one retry.

    ``prepared`` is ``message.prepare(webhook)`` worked out once by the caller (the worker
    does it once per lease). ``sending`` is entered once the request is built, around
    sending it: the worker's turn and host slot (an exception it raises sends nothing). A
    webhook that cannot be delivered as configured (``MessageError``) gives a failed
    attempt that sent nothing.
    """
    oauth2 = False
    bearer: str | None = None
    try:
        prepared = prepared or message.prepare(webhook)
        oauth2 = tokens is not None and prepared.type == "oauth2"
        bearer = await tokens.token(webhook) if oauth2 and tokens is not None else None
        request = prepared.request(topic, event_bodies, bearer_token=bearer)
    except MessageError as exc:
        return _undeliverable(webhook, topic, event_bodies, _why(exc, tokens, oauth2, bearer))
    async with sending or contextlib.nullcontext():
        outcome = await sender.send(request)
        if oauth2 and tokens is not None and outcome.status_code == 401:
            tokens.invalidate(webhook, bearer)
            try:
                bearer = await tokens.token(webhook)
                request = prepared.request(topic, event_bodies, bearer_token=bearer)
            except MessageError as exc:
                why = _why(exc, tokens, oauth2, bearer)
                return _undeliverable(webhook, topic, event_bodies, why)
            outcome = await sender.send(request)
    body_format = payload_ref.SPLUNK if prepared.type == "splunk" else payload_ref.MIST
    return Attempt(request, outcome, body_format)


def _why(exc: MessageError, tokens: OAuth2Tokens | None, oauth2: bool, bearer: str | None) -> str:
    # No OAuth2 token: say why the token request failed (set by the call just before).
    if oauth2 and bearer is None and tokens is not None and tokens.last_error:
        return tokens.last_error
    return str(exc)


def _undeliverable(
    webhook: Mapping[str, Any], topic: str, event_bodies: Sequence[bytes], error: str
) -> Attempt:
    url = message.redact_url(str(webhook.get("url") or ""))
    request = OutgoingRequest(url, {}, message.build_body(topic, event_bodies), True)
    outcome = SendOutcome(
        ok=False,
        status_code=None,
        error=f"not sent: {error}",
        resp_headers={},
        resp_body=b"",
        latency_s=0.0,
        retry_after_s=None,
    )
    return Attempt(request, outcome)


def bodies_of_payload(payload: bytes | str) -> tuple[str, list[bytes]]:
    """The topic and event bodies of a message built earlier (for resend and recover): a
    Mist message, or a Splunk HEC body (one ``{"event":...,"sourcetype":"mist:<topic>"}``
    per line, see ``message.build_splunk_body``).

    Events were serialized with orjson, which writes the same bytes again when a body it
    wrote is parsed and dumped, so the rebuilt message equals the original byte for byte.
    """
    raw = payload.encode() if isinstance(payload, str) else payload
    if not raw.startswith(b'{"event":'):
        parsed = orjson.loads(raw)
        return str(parsed["topic"]), [orjson.dumps(e) for e in parsed.get("events", [])]
    lines = [orjson.loads(line) for line in raw.split(b"\n")]
    topic = str(lines[0]["sourcetype"]).removeprefix("mist:")
    return topic, [orjson.dumps(line["event"]) for line in lines]


def headers_json(headers: Any) -> str:
    """A header collection as the JSON string of a Go-style map of lists."""
    if not headers:
        return "{}"
    out: dict[str, list[str]] = {}
    items = headers.items() if isinstance(headers, Mapping) else headers
    for name, value in items:
        values = value if isinstance(value, list | tuple) else [value]
        out.setdefault(str(name), []).extend(str(v) for v in values)
    return orjson.dumps(out).decode()


def _text(body: bytes | str | None, max_bytes: int) -> str:
    if body is None:
        return ""
    raw = body.encode() if isinstance(body, str) else body
    return raw[:max_bytes].decode("utf-8", errors="replace")


_ids = ids.TimeOrderedIds()
_SIGNATURES = frozenset((SIGNATURE_V1, SIGNATURE_V2))


def _logged_headers(headers: Mapping[str, str]) -> str:
    """The redacted request headers as logged; the same for every message of a webhook
    (the signatures differ but are redacted), so worked out once per header set."""
    key = tuple((name, "" if name in _SIGNATURES else value) for name, value in headers.items())
    return _logged_headers_of(key)


@functools.lru_cache(maxsize=1024)
def _logged_headers_of(items: tuple[tuple[str, str], ...]) -> str:
    return orjson.dumps(message.redact_headers(dict(items))).decode()


def delivery_record(
    attempt: Attempt,
    webhook: Mapping[str, Any],
    topic: str,
    event_ids: Sequence[str],
    *,
    attempt_no: int,
    now: float,
    resp_body_max_bytes: int = DEFAULT_RESP_BODY_MAX_BYTES,
    ref: Doc | None = None,
) -> Doc:
    """The ``deliveries`` document of one attempt (see the module docstring): by reference
    when ``ref`` (``payload_ref.reference`` of the message) is given, else literal."""
    outcome = attempt.outcome
    request = attempt.request
    literal = ref is None
    doc: Doc = {
        "id": _ids.next(),
        "org_id": webhook.get("org_id"),
        "site_id": webhook.get("site_id"),
        "webhook_id": webhook["id"],
        "topic": topic,
        "status": "success" if outcome.ok else "failure",
        "status_code": outcome.status_code or 0,
        "error": outcome.error or "",
        "req_url": request.url,
        "req_headers": _logged_headers(request.headers),
    }
    if literal:
        doc["req_payload"] = request.body.decode("utf-8", errors="replace")
    doc["resp_headers"] = headers_json(outcome.resp_headers)
    doc["resp_body"] = _text(outcome.resp_body, resp_body_max_bytes)
    doc["timestamp"] = now
    # misthook extras
    doc["attempt"] = attempt_no
    if literal:
        doc["event_ids"] = list(event_ids)
    doc["latency_ms"] = round(outcome.latency_s * 1000.0, 3)
    if ref is not None:
        doc[payload_ref.REF_FIELD] = ref
    return doc
