"""Validation of the webhook object (reference mist_api.md §2.3, §3).

:func:`validate_webhook` turns a create or update body into the normalized user fields
that are stored; everything else on the stored object (id, org_id, site_id, for_site,
created_time, modified_time) belongs to the service. A rejected body raises
:class:`~misthook.errors.BadRequestError` with Mist's ``{"detail", "reason"}`` shape, e.g.
``{"detail": "invalid field: topics", "reason": "unknown topic: foo"}``.

Choices where Mist is silent:

* Fields that belong to another ``type`` are dropped, not rejected: ``oauth2_*`` are kept
  only for ``type == "oauth2"`` and ``splunk_token`` only for ``"splunk"``. So switching a
  webhook's type with a PUT that names only ``type`` works and leaves no stale credentials.
* ``null`` for an optional field means "not set" (``secret`` becomes ``""``, ``headers``
  becomes ``{}``); ``null`` for a boolean or for ``name``/``url``/``topics`` is rejected.
* ``single_event_per_message: true`` is rejected (not silently ignored) when a chosen topic
  does not allow it, so the user learns the setting would not apply.
* Custom headers are checked at create time (Mist checks them only at delivery): names
  must be HTTP tokens, nothing may carry CR, LF or NUL, names and values together stay under
  1000 bytes, and headers the sender owns (framing, ``Host``, the signature headers) cannot
  be overridden. ``Content-Type``/``User-Agent`` may be overridden, as on Mist.
* On update, a secret field sent back as ``"********"`` (what :func:`redact` shows) keeps
  its stored value, so a form filled from a redacted view can be saved unchanged. The same
  holds for a redacted header value and a URL whose password was redacted.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any, Literal
from urllib.parse import SplitResult, urlsplit, urlunsplit

from misthook.domain import topics as topics_module
from misthook.errors import BadRequestError

USER_FIELDS: tuple[str, ...] = (
    "name",
    "url",
    "secret",
    "topics",
    "enabled",
    "type",
    "headers",
    "verify_cert",
    "single_event_per_message",
    "oauth2_grant_type",
    "oauth2_client_id",
    "oauth2_client_secret",
    "oauth2_username",
    "oauth2_password",
    "oauth2_token_url",
    "oauth2_scopes",
    "splunk_token",
    "assetfilter_ids",
)
SECRET_FIELDS: tuple[str, ...] = (
    "secret",
    "oauth2_client_secret",
    "oauth2_password",
    "splunk_token",
)
REDACTED = "********"

WEBHOOK_TYPES: frozenset[str] = frozenset(
    {"http-post", "oauth2", "splunk", "aws-sns", "google-pubsub"}
)
OAUTH2_GRANT_TYPES: frozenset[str] = frozenset({"client_credentials", "password"})
OAUTH2_FIELDS: tuple[str, ...] = tuple(f for f in USER_FIELDS if f.startswith("oauth2_"))

NAME_MAX_CHARS = 64
URL_MAX_CHARS = 2048
SECRET_MAX_CHARS = 1024
HEADERS_MAX_BYTES = 1000  # names + values must stay *below* this (Mist: "less than 1000")

# Headers the sender writes itself; letting a user set them would break framing or let a
# webhook forge Mist's signature headers.
RESERVED_HEADERS: frozenset[str] = frozenset(
    {
        "host",
        "content-length",
        "transfer-encoding",
        "connection",
        "keep-alive",
        "upgrade",
        "te",
        "trailer",
        "proxy-connection",
        "x-mist-signature",
        "x-mist-signature-v2",
        "x-mist-error",
    }
)

_BOOLEAN_DEFAULTS: dict[str, bool] = {
    "enabled": True,
    "verify_cert": True,
    "single_event_per_message": False,
}
# RFC 9110 token characters, for header names.
_TOKEN_CHARS = frozenset(
    "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
)


def _invalid(field: str, reason: str) -> BadRequestError:
    return BadRequestError(f"invalid field: {field}", reason=reason)


def validate_webhook(
    body: object,
    *,
    scope: Literal["org", "site"],
    current: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The normalized user fields of a webhook, with defaults applied.

    ``current`` is the stored webhook on update: fields present in ``body`` replace its
    values, absent ones are kept, and the merged result is validated as a whole. Read-only
    and unknown fields in ``body`` are ignored.
    """
    if not isinstance(body, Mapping):
        raise BadRequestError("invalid body", reason="expected a JSON object")
    merged: dict[str, Any] = {}
    if current is not None:
        merged.update({f: current[f] for f in USER_FIELDS if f in current})
    merged.update({f: body[f] for f in USER_FIELDS if f in body})
    if current is not None:
        _restore_redacted(merged, current)

    # Checked in field order, so the first error a user sees is about the first field.
    name = _check_name(merged.get("name"))
    url = _check_url("url", merged.get("url"))
    webhook_type = _check_type(merged.get("type"))
    if scope == "org":
        _check_no_org_asset_filter(merged)
    topics = _check_topics(merged.get("topics"), scope)
    result: dict[str, Any] = {
        "name": name,
        "url": url,
        "secret": _check_secret(merged.get("secret")),
        "topics": topics,
        "type": webhook_type,
        "headers": _check_headers(merged.get("headers")),
    }
    for field, default in _BOOLEAN_DEFAULTS.items():
        result[field] = _check_bool(field, merged.get(field, default))
    if result["single_event_per_message"]:
        _check_single_event(topics)
    if webhook_type == "oauth2":
        result.update(_check_oauth2(merged))
    if webhook_type == "splunk":
        result["splunk_token"] = _check_required_string("splunk_token", merged.get("splunk_token"))
    assetfilter_ids = _check_assetfilter_ids(merged.get("assetfilter_ids"), topics)
    if assetfilter_ids is not None:
        result["assetfilter_ids"] = assetfilter_ids
    return result


def _check_name(value: object) -> str:
    if value is None:
        raise _invalid("name", "name is required")
    if not isinstance(value, str) or not value.strip():
        raise _invalid("name", "must be a non-empty string")
    if len(value) > NAME_MAX_CHARS:
        raise _invalid("name", f"must be at most {NAME_MAX_CHARS} characters")
    return value


def _check_url(field: str, value: object) -> str:
    if value is None:
        raise _invalid(field, f"{field} is required")
    if not isinstance(value, str) or not value:
        raise _invalid(field, "must be a non-empty string")
    if len(value) > URL_MAX_CHARS:
        raise _invalid(field, f"must be at most {URL_MAX_CHARS} characters")
    if any(ch.isspace() or ord(ch) < 0x20 or ord(ch) == 0x7F for ch in value):
        raise _invalid(field, "must not contain whitespace or control characters")
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 -- raises ValueError on a malformed port
    except ValueError as exc:
        raise _invalid(field, f"malformed url: {exc}") from None
    if parts.scheme.lower() not in ("http", "https"):
        raise _invalid(field, "scheme must be http or https")
    if not parts.hostname:
        raise _invalid(field, "url has no host")
    return value


def _check_secret(value: object) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise _invalid("secret", "must be a string or null")
    if len(value) > SECRET_MAX_CHARS:
        raise _invalid("secret", f"must be at most {SECRET_MAX_CHARS} characters")
    return value


def _check_type(value: object) -> str:
    if value is None:
        return "http-post"
    if not isinstance(value, str) or value not in WEBHOOK_TYPES:
        raise _invalid("type", f"must be one of {', '.join(sorted(WEBHOOK_TYPES))}")
    return value


def _check_bool(field: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise _invalid(field, "must be a boolean")
    return value


def _check_topics(value: object, scope: str) -> list[str]:
    if value is None:
        raise _invalid("topics", "topics is required")
    if not isinstance(value, list) or not value:
        raise _invalid("topics", "must be a non-empty list of topic names")
    allowed = topics_module.topics_for_scope(scope)
    chosen: list[str] = []
    for name in value:
        if not isinstance(name, str):
            raise _invalid("topics", "topic names must be strings")
        key = topics_module.normalize_topic(name)
        if key is None:
            raise _invalid("topics", f"unknown topic: {name}")
        if topics_module.TOPICS[key].internal:
            raise _invalid("topics", f"topic is not subscribable: {name}")
        if key not in allowed:
            raise _invalid("topics", f"topic not available for {scope} webhooks: {name}")
        if key not in chosen:
            chosen.append(key)
    if len([key for key in chosen if key in topics_module.RAW_DATA_TOPICS]) > 1:
        raise BadRequestError("Only one location topic can be configured per URL")
    return chosen


def _check_single_event(topics: list[str]) -> None:
    for key in topics:
        if not topics_module.TOPICS[key].allows_single_event_per_message:
            raise _invalid("single_event_per_message", f"not supported by topic: {key}")


def _check_headers(value: object) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise _invalid("headers", "headers format invalid: expected an object")
    seen: set[str] = set()
    total_bytes = 0
    for name, header_value in value.items():
        if not isinstance(name, str) or not name or not set(name) <= _TOKEN_CHARS:
            raise _invalid("headers", f"invalid header name: {name!r}")
        if not isinstance(header_value, str):
            raise _invalid("headers", f"header[{name}] not a string")
        if any(ch in header_value for ch in "\r\n\0"):
            raise _invalid("headers", f"header[{name}] contains CR, LF or NUL")
        lowered = name.lower()
        if lowered in RESERVED_HEADERS:
            raise _invalid("headers", f"header[{name}] is set by misthook and cannot be overridden")
        if lowered in seen:
            raise _invalid("headers", f"duplicate header name: {name}")
        seen.add(lowered)
        total_bytes += len(name.encode()) + len(header_value.encode())
    if total_bytes >= HEADERS_MAX_BYTES:
        raise _invalid(
            "headers", f"headers too big: names and values must be under {HEADERS_MAX_BYTES} bytes"
        )
    return dict(value)


def _check_required_string(field: str, value: object) -> str:
    if value is None or value == "":
        raise _invalid(field, f"{field} is required")
    if not isinstance(value, str):
        raise _invalid(field, "must be a string")
    return value


def _check_optional_string(field: str, value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise _invalid(field, "must be a string")
    return value


def _check_oauth2(merged: Mapping[str, Any]) -> dict[str, Any]:
    grant_type = merged.get("oauth2_grant_type")
    if grant_type is None:
        raise _invalid("oauth2_grant_type", "oauth2_grant_type is required")
    if grant_type not in OAUTH2_GRANT_TYPES:
        raise _invalid("oauth2_grant_type", "must be client_credentials or password")
    fields: dict[str, Any] = {
        "oauth2_grant_type": grant_type,
        "oauth2_token_url": _check_url("oauth2_token_url", merged.get("oauth2_token_url")),
    }
    required = (
        ("oauth2_client_id", "oauth2_client_secret")
        if grant_type == "client_credentials"
        else ("oauth2_username", "oauth2_password")
    )
    for field in required:
        fields[field] = _check_required_string(field, merged.get(field))
    for field in ("oauth2_client_id", "oauth2_client_secret", "oauth2_username", "oauth2_password"):
        if field not in fields:
            optional = _check_optional_string(field, merged.get(field))
            if optional is not None:
                fields[field] = optional
    scopes = merged.get("oauth2_scopes")
    if scopes is not None:
        if not isinstance(scopes, list) or not all(isinstance(s, str) for s in scopes):
            raise _invalid("oauth2_scopes", "must be a list of strings")
        fields["oauth2_scopes"] = list(scopes)
    return fields


def _check_no_org_asset_filter(merged: Mapping[str, Any]) -> None:
    """Reject a filtered asset webhook at org level with Mist's own message.

    Runs before the topic check, whose "not available for org webhooks" would win otherwise.
    """
    topics = merged.get("topics")
    if not merged.get("assetfilter_ids") or not isinstance(topics, list):
        return
    if any(
        isinstance(t, str) and topics_module.normalize_topic(t) == "asset-raw-rssi" for t in topics
    ):
        raise _invalid("topics", "filtered asset webhooks must be associated with a site")


def _check_assetfilter_ids(value: object, topics: list[str]) -> list[str] | None:
    if value is None:
        return None
    if not isinstance(value, list):
        raise _invalid("assetfilter_ids", "must be a list of uuids")
    if not value:
        return []
    if "asset-raw-rssi" not in topics:
        raise _invalid("assetfilter_ids", "only allowed with topic asset-raw-rssi")
    ids: list[str] = []
    for item in value:
        try:
            if not isinstance(item, str):
                raise ValueError("not a string")
            ids.append(str(uuid.UUID(item)))
        except ValueError:
            raise _invalid("assetfilter_ids", f"malformed uuid: {item!r}") from None
    if len(set(ids)) != len(ids):
        raise _invalid("assetfilter_ids", "contains duplicate uuids")
    return ids


def url_host(url: str) -> str:
    """The host of ``url``: lower-cased, without port, userinfo or IPv6 brackets ("" if none)."""
    try:
        return urlsplit(url).hostname or ""
    except ValueError:
        return ""


def redact(doc: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of a webhook fit for audit logs and read-only roles.

    Non-empty SECRET_FIELDS become ``"********"``, and so do custom header values (they
    often carry an ``Authorization`` token) and the password of a ``user:pass@`` URL.
    """
    copy = dict(doc)
    for field in SECRET_FIELDS:
        if copy.get(field):
            copy[field] = REDACTED
    headers = copy.get("headers")
    if isinstance(headers, Mapping):
        copy["headers"] = {name: REDACTED if value else value for name, value in headers.items()}
    url = copy.get("url")
    if isinstance(url, str):
        copy["url"] = _redact_url(url)
    return copy


def _redact_url(url: str) -> str:
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    if parts.password is None:
        return url
    userinfo, _, hostport = parts.netloc.rpartition("@")
    user = userinfo.partition(":")[0]
    return urlunsplit(
        SplitResult(
            parts.scheme, f"{user}:{REDACTED}@{hostport}", parts.path, parts.query, parts.fragment
        )
    )


def _restore_redacted(merged: dict[str, Any], current: Mapping[str, Any]) -> None:
    """Undo the redaction of values that a client echoed back unchanged."""
    for field in SECRET_FIELDS:
        if merged.get(field) == REDACTED and current.get(field):
            merged[field] = current[field]
    headers = merged.get("headers")
    stored_headers = current.get("headers")
    if isinstance(headers, Mapping) and isinstance(stored_headers, Mapping):
        merged["headers"] = {
            name: stored_headers[name] if value == REDACTED and name in stored_headers else value
            for name, value in headers.items()
        }
    stored_url = current.get("url")
    if isinstance(stored_url, str) and merged.get("url") == _redact_url(stored_url):
        merged["url"] = stored_url
