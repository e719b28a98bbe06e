from __future__ import annotations

from typing import Any

import pytest

from misthook.domain import webhook_rules
from misthook.domain.webhook_rules import redact, url_host, validate_webhook
from misthook.errors import BadRequestError

FILTER_ID = "6b0b5d05-430a-4414-86ca-eb081aff03e8"
OTHER_FILTER_ID = "47ea9366-bf66-427a-886a-153104bbf355"


def body(**fields: Any) -> dict[str, Any]:
    """A minimal valid site webhook body, with ``fields`` replacing or adding keys."""
    doc: dict[str, Any] = {
        "name": "hook",
        "url": "https://hooks.example.com/in",
        "topics": ["audits"],
    }
    doc.update(fields)
    return doc


def rejected(
    doc: object, scope: str = "site", current: dict[str, Any] | None = None
) -> BadRequestError:
    with pytest.raises(BadRequestError) as info:
        validate_webhook(doc, scope=scope, current=current)  # type: ignore[arg-type]
    return info.value


class TestDefaultsAndShape:
    def test_defaults_applied(self) -> None:
        """A minimal body gets Mist's defaults and nothing else."""
        assert validate_webhook(body(), scope="site") == {
            "name": "hook",
            "url": "https://hooks.example.com/in",
            "secret": "",
            "topics": ["audits"],
            "type": "http-post",
            "headers": {},
            "enabled": True,
            "verify_cert": True,
            "single_event_per_message": False,
        }

    def test_read_only_and_unknown_fields_are_ignored(self) -> None:
        """id, org_id, ... and unknown keys never reach the stored fields."""
        doc = body(
            id="x",
            org_id="y",
            site_id="z",
            created_time=1,
            modified_time=2,
            for_site=True,
            colour="blue",
        )
        result = validate_webhook(doc, scope="site")
        assert not {
            "id",
            "org_id",
            "site_id",
            "created_time",
            "modified_time",
            "for_site",
            "colour",
        } & set(result)

    def test_body_must_be_an_object(self) -> None:
        """A JSON array or string is rejected."""
        assert rejected(["audits"]).detail == "invalid body"
        assert rejected("x").detail == "invalid body"

    def test_result_only_has_user_fields(self) -> None:
        """Every key returned is a writable field."""
        result = validate_webhook(body(), scope="site")
        assert set(result) <= set(webhook_rules.USER_FIELDS)


class TestUpdate:
    def test_absent_fields_keep_current_values(self) -> None:
        """A partial PUT changes only what it names."""
        current = validate_webhook(body(secret="s3", enabled=False), scope="site")
        current |= {"id": "abc", "created_time": 5}
        result = validate_webhook({"name": "renamed"}, scope="site", current=current)
        assert result["name"] == "renamed"
        assert result["secret"] == "s3"
        assert result["enabled"] is False
        assert "id" not in result

    def test_merged_result_is_validated(self) -> None:
        """A PUT that breaks a cross-field rule of the stored webhook is rejected."""
        current = validate_webhook(body(topics=["device-events"]), scope="site")
        current = validate_webhook(
            {"single_event_per_message": True}, scope="site", current=current
        )
        error = rejected({"topics": ["location"]}, current=current)
        assert error.detail == "invalid field: single_event_per_message"

    def test_type_change_drops_stale_credentials(self) -> None:
        """Switching from splunk to http-post leaves no splunk_token behind."""
        current = validate_webhook(body(type="splunk", splunk_token="tok"), scope="site")
        result = validate_webhook({"type": "http-post"}, scope="site", current=current)
        assert "splunk_token" not in result

    def test_redacted_secrets_round_trip(self) -> None:
        """Saving a redacted view back keeps the stored secret, header and URL password."""
        current = validate_webhook(
            body(
                url="https://u:pw@hooks.example.com/in",
                secret="s3",
                headers={"Authorization": "Bearer abc"},
            ),
            scope="site",
        )
        result = validate_webhook(redact(current), scope="site", current=current)
        assert result["secret"] == "s3"
        assert result["headers"] == {"Authorization": "Bearer abc"}
        assert result["url"] == "https://u:pw@hooks.example.com/in"

    def test_redacted_placeholder_on_create_is_literal(self) -> None:
        """Without a stored webhook there is nothing to restore."""
        assert (
            validate_webhook(body(secret="********"), scope="site")["secret"]
            == webhook_rules.REDACTED
        )


class TestName:
    def test_accepts_a_name(self) -> None:
        """A short name is kept as given."""
        assert validate_webhook(body(name="My hook"), scope="site")["name"] == "My hook"

    @pytest.mark.parametrize("name", [None, "", "   ", 5, "x" * 65])
    def test_rejects_bad_names(self, name: object) -> None:
        """Missing, blank, non-string and over-long names are rejected."""
        doc = body(name=name)
        assert rejected(doc).detail == "invalid field: name"

    def test_name_is_required(self) -> None:
        """A body without a name is rejected."""
        doc = body()
        del doc["name"]
        error = rejected(doc)
        assert (error.detail, error.reason) == ("invalid field: name", "name is required")


class TestUrl:
    @pytest.mark.parametrize(
        "url",
        [
            "http://hooks.example.com",
            "https://hooks.example.com:8443/a?b=c",
            "https://user:pass@hooks.example.com/uri",
            "http://127.0.0.1:9000/x",
            "http://[::1]:9000/x",
        ],
    )
    def test_accepts(self, url: str) -> None:
        """http and https URLs with a host are accepted unchanged."""
        assert url == validate_webhook(body(url=url), scope="site")["url"]

    @pytest.mark.parametrize(
        "url",
        [
            None,
            "",
            7,
            "ftp://hooks.example.com",
            "hooks.example.com/in",
            "https://",
            "https:///path",
            "https://hooks.example.com/a b",
            "https://hooks.example.com/\r\nX: y",
            "https://hooks.example.com:99999/",
            "https://hooks.example.com/" + "a" * 2100,
        ],
    )
    def test_rejects(self, url: object) -> None:
        """Other schemes, missing hosts, whitespace and bad ports are rejected."""
        assert rejected(body(url=url)).detail == "invalid field: url"


class TestTopics:
    def test_normalizes_and_deduplicates(self) -> None:
        """Underscore aliases become hyphen keys; duplicates go, order stays."""
        doc = body(topics=["device_events", "audits", "device-events", "alarms"])
        assert validate_webhook(doc, scope="site")["topics"] == [
            "device-events",
            "audits",
            "alarms",
        ]

    def test_unknown_topic(self) -> None:
        """An unknown topic names itself in the reason."""
        error = rejected(body(topics=["audits", "foo"]))
        assert (error.detail, error.reason) == ("invalid field: topics", "unknown topic: foo")

    @pytest.mark.parametrize("value", [None, [], "audits", [1], {"audits": True}])
    def test_must_be_a_non_empty_list_of_strings(self, value: object) -> None:
        """topics must be a non-empty list of names."""
        assert rejected(body(topics=value)).detail == "invalid field: topics"

    def test_internal_topics_are_not_subscribable(self) -> None:
        """ping exists but cannot be chosen."""
        assert rejected(body(topics=["ping"])).reason == "topic is not subscribable: ping"

    def test_org_scope_accepts_org_topics(self) -> None:
        """Every org topic is accepted on an org webhook."""
        doc = body(topics=["audits", "device-updowns", "nac-events"])
        assert doc["topics"] == validate_webhook(doc, scope="org")["topics"]

    def test_org_scope_rejects_site_only_topics(self) -> None:
        """location is a site-only topic."""
        error = rejected(body(topics=["location"]), scope="org")
        assert error.reason == "topic not available for org webhooks: location"
        assert validate_webhook(body(topics=["location"]), scope="site")["topics"] == ["location"]

    def test_one_raw_data_topic_per_webhook(self) -> None:
        """Two special location topics on one webhook get Mist's message."""
        error = rejected(body(topics=["wifi-conn-raw", "asset-raw-rssi"]))
        assert (error.detail, error.reason) == (
            "Only one location topic can be configured per URL",
            None,
        )
        assert validate_webhook(body(topics=["wifi-conn-raw", "location"]), scope="site")


class TestType:
    @pytest.mark.parametrize("webhook_type", ["http-post", "aws-sns", "google-pubsub"])
    def test_accepts_known_types(self, webhook_type: str) -> None:
        """Types without extra requirements are accepted."""
        assert webhook_type == validate_webhook(body(type=webhook_type), scope="site")["type"]

    @pytest.mark.parametrize("webhook_type", ["webhook", "HTTP-POST", 3])
    def test_rejects_unknown_types(self, webhook_type: object) -> None:
        """Anything outside the enum is rejected."""
        assert rejected(body(type=webhook_type)).detail == "invalid field: type"

    def test_splunk_requires_token(self) -> None:
        """splunk needs splunk_token; with it the token is kept."""
        assert rejected(body(type="splunk")).detail == "invalid field: splunk_token"
        assert (
            rejected(body(type="splunk", splunk_token="")).detail == "invalid field: splunk_token"
        )
        result = validate_webhook(body(type="splunk", splunk_token="tok"), scope="site")
        assert result["splunk_token"] == "tok"

    def test_splunk_token_dropped_for_other_types(self) -> None:
        """A token on an http-post webhook has no meaning and is not stored."""
        assert "splunk_token" not in validate_webhook(body(splunk_token="tok"), scope="site")


class TestOauth2:
    CLIENT = {
        "type": "oauth2",
        "oauth2_grant_type": "client_credentials",
        "oauth2_client_id": "id",
        "oauth2_client_secret": "cs",
        "oauth2_token_url": "https://auth.example.com/token",
        "oauth2_scopes": ["read"],
    }
    PASSWORD = {
        "type": "oauth2",
        "oauth2_grant_type": "password",
        "oauth2_username": "u",
        "oauth2_password": "p",
        "oauth2_token_url": "https://auth.example.com/token",
    }

    def test_client_credentials(self) -> None:
        """A complete client_credentials config is kept."""
        result = validate_webhook(body(**self.CLIENT), scope="site")
        assert {k: v for k, v in self.CLIENT.items() if k != "type"} == {
            k: v for k, v in result.items() if k.startswith("oauth2_")
        }

    def test_password(self) -> None:
        """A complete password config is kept."""
        result = validate_webhook(body(**self.PASSWORD), scope="site")
        assert result["oauth2_password"] == "p"

    @pytest.mark.parametrize(
        ("config", "missing"),
        [
            ("CLIENT", "oauth2_grant_type"),
            ("CLIENT", "oauth2_token_url"),
            ("CLIENT", "oauth2_client_id"),
            ("CLIENT", "oauth2_client_secret"),
            ("PASSWORD", "oauth2_username"),
            ("PASSWORD", "oauth2_password"),
        ],
    )
    def test_required_fields(self, config: str, missing: str) -> None:
        """Each field the grant type needs is required."""
        doc = body(**getattr(self, config))
        del doc[missing]
        assert f"invalid field: {missing}" == rejected(doc).detail

    def test_bad_grant_type_and_scopes(self) -> None:
        """The grant type is an enum and scopes a list of strings."""
        assert (
            rejected(body(**self.CLIENT | {"oauth2_grant_type": "implicit"})).detail
            == "invalid field: oauth2_grant_type"
        )
        assert (
            rejected(body(**self.CLIENT | {"oauth2_scopes": "read"})).detail
            == "invalid field: oauth2_scopes"
        )

    def test_token_url_must_be_http(self) -> None:
        """The token URL follows the url rules."""
        doc = body(**self.CLIENT | {"oauth2_token_url": "file:///etc/passwd"})
        assert rejected(doc).detail == "invalid field: oauth2_token_url"

    def test_oauth2_fields_dropped_for_http_post(self) -> None:
        """oauth2 settings on an http-post webhook are not stored."""
        result = validate_webhook(body(**self.CLIENT | {"type": "http-post"}), scope="site")
        assert not [k for k in result if k.startswith("oauth2_")]


class TestAssetFilters:
    def test_accepted_with_asset_raw_rssi(self) -> None:
        """UUIDs are normalized to canonical lower-case form."""
        doc = body(topics=["asset-raw-rssi"], assetfilter_ids=[FILTER_ID.upper(), OTHER_FILTER_ID])
        assert validate_webhook(doc, scope="site")["assetfilter_ids"] == [
            FILTER_ID,
            OTHER_FILTER_ID,
        ]

    def test_duplicates(self) -> None:
        """Mist's duplicate message, including duplicates that differ only in case."""
        doc = body(topics=["asset-raw-rssi"], assetfilter_ids=[FILTER_ID, FILTER_ID.upper()])
        error = rejected(doc)
        assert (error.detail, error.reason) == (
            "invalid field: assetfilter_ids",
            "contains duplicate uuids",
        )

    @pytest.mark.parametrize("value", ["abc", ["not-a-uuid"], [5]])
    def test_malformed(self, value: object) -> None:
        """Non-lists and non-UUIDs are rejected."""
        doc = body(topics=["asset-raw-rssi"], assetfilter_ids=value)
        assert rejected(doc).detail == "invalid field: assetfilter_ids"

    def test_only_with_asset_raw_rssi(self) -> None:
        """Filters need the topic they filter."""
        error = rejected(body(topics=["location"], assetfilter_ids=[FILTER_ID]))
        assert error.detail == "invalid field: assetfilter_ids"

    def test_org_level_filter_webhook(self) -> None:
        """Mist's org_level_filter_webhook error, verbatim."""
        doc = body(topics=["asset-raw-rssi"], assetfilter_ids=[FILTER_ID])
        error = rejected(doc, scope="org")
        assert (
            error.detail,
            error.reason,
        ) == ("invalid field: topics", "filtered asset webhooks must be associated with a site")


class TestHeaders:
    def test_accepts_custom_headers(self) -> None:
        """String names and values under the size limit are kept."""
        headers = {"x-custom-1": "v1", "Authorization": "Bearer abc"}
        assert headers == validate_webhook(body(headers=headers), scope="site")["headers"]

    def test_null_means_none(self) -> None:
        """headers: null is stored as {}."""
        assert validate_webhook(body(headers=None), scope="site")["headers"] == {}

    @pytest.mark.parametrize(
        "headers",
        [
            ["x-a"],
            "x-a: b",
            {"x-a": 1},
            {"bad name": "v"},
            {"": "v"},
            {"x-a:": "v"},
            {"x-a": "v\r\nX-Injected: 1"},
            {"x-a": "v\n"},
            {"Content-Length": "5"},
            {"X-Mist-Signature-v2": "forged"},
            {"X-A": "1", "x-a": "2"},
        ],
    )
    def test_rejects(self, headers: object) -> None:
        """Non-objects, non-strings, bad tokens, CR/LF, reserved and duplicate names fail."""
        assert rejected(body(headers=headers)).detail == "invalid field: headers"

    def test_size_limit(self) -> None:
        """Names plus values must stay below 1000 bytes."""
        fits = {"x-a": "v" * (999 - 3)}
        assert fits == validate_webhook(body(headers=fits), scope="site")["headers"]
        error = rejected(body(headers={"x-a": "v" * (1000 - 3)}))
        assert error.reason is not None and error.reason.startswith("headers too big")

    def test_size_counts_bytes_not_characters(self) -> None:
        """Multi-byte characters count by their UTF-8 length."""
        assert rejected(body(headers={"x-a": "é" * 500})).detail == "invalid field: headers"


class TestBooleansAndSecret:
    @pytest.mark.parametrize("field", ["enabled", "verify_cert", "single_event_per_message"])
    def test_booleans(self, field: str) -> None:
        """Booleans must be JSON booleans, not strings, numbers or null."""
        assert validate_webhook(body(**{field: False}), scope="site")[field] is False
        for value in ("true", 1, None):
            assert f"invalid field: {field}" == rejected(body(**{field: value})).detail

    def test_single_event_per_message_needs_supporting_topics(self) -> None:
        """Allowed for device-events and audits, rejected when location is added."""
        ok = body(topics=["device-events", "audits"], single_event_per_message=True)
        assert validate_webhook(ok, scope="site")["single_event_per_message"] is True
        error = rejected(body(topics=["device-events", "location"], single_event_per_message=True))
        assert error.reason == "not supported by topic: location"

    def test_secret(self) -> None:
        """A string is kept, null becomes "", anything else fails."""
        assert validate_webhook(body(secret="s3"), scope="site")["secret"] == "s3"
        assert validate_webhook(body(secret=None), scope="site")["secret"] == ""
        assert rejected(body(secret=123)).detail == "invalid field: secret"
        assert rejected(body(secret="x" * 1025)).detail == "invalid field: secret"


class TestRedact:
    def test_hides_non_empty_secrets(self) -> None:
        """Secret fields, header values and URL passwords are masked; empty ones stay."""
        doc = {
            "id": "w1",
            "url": "https://u:pw@hooks.example.com/in?x=1",
            "secret": "s3",
            "splunk_token": "",
            "oauth2_client_secret": "cs",
            "headers": {"Authorization": "Bearer abc"},
        }
        assert redact(doc) == {
            "id": "w1",
            "url": "https://u:********@hooks.example.com/in?x=1",
            "secret": "********",
            "splunk_token": "",
            "oauth2_client_secret": "********",
            "headers": {"Authorization": "********"},
        }
        assert doc["secret"] == "s3"  # the input is untouched

    def test_url_without_password_unchanged(self) -> None:
        """Plain URLs and user-only userinfo are not altered."""
        for url in ("https://hooks.example.com/in", "https://u@hooks.example.com/in"):
            assert url == redact({"url": url})["url"]


class TestUrlHost:
    @pytest.mark.parametrize(
        ("url", "host"),
        [
            ("https://Hooks.Example.com:8443/x", "hooks.example.com"),
            ("https://u:p@10.0.0.1/x", "10.0.0.1"),
            ("http://[::1]:80/", "::1"),
            ("not a url", ""),
            ("http://[::1/", ""),
        ],
    )
    def test_host(self, url: str, host: str) -> None:
        """The bare lower-cased host, or "" when there is none."""
        assert host == url_host(url)
