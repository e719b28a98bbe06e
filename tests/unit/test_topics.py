from __future__ import annotations

import pytest

from misthook.domain import topics

TERRAFORM_ORG_TOPICS = [
    "alarms",
    "audits",
    "client-info",
    "client-join",
    "client-sessions",
    "device-events",
    "device-updowns",
    "guest-authorizations",
    "mxedge-events",
    "minis-application",
    "minis-reachability",
    "nac-accounting",
    "nac-events",
]
TERRAFORM_SITE_TOPICS = [
    "alarms",
    "asset-raw",
    "asset-raw-rssi",
    "audits",
    "client-info",
    "client-join",
    "client-latency",
    "client-sessions",
    "device-events",
    "device-updowns",
    "discovered-raw-rssi",
    "guest-authorizations",
    "location",
    "location-asset",
    "location-centrak",
    "location-client",
    "location-sdk",
    "location-unclient",
    "mxedge-events",
    "minis-application",
    "minis-reachability",
    "nac-accounting",
    "nac-events",
    "occupancy-alerts",
    "rssizone",
    "sdkclient-scan-data",
    "vbeacon",
    "wifi-conn-raw",
    "wifi-unconn-raw",
    "zone",
]


class TestCatalogue:
    def test_site_topics_are_the_terraform_list(self) -> None:
        """The subscribable site topics are exactly the provider's 30."""
        assert set(TERRAFORM_SITE_TOPICS) == topics.SITE_TOPICS

    def test_org_topics_are_the_terraform_list(self) -> None:
        """for_org is true for exactly the provider's 13 org topics."""
        assert set(TERRAFORM_ORG_TOPICS) == topics.ORG_TOPICS
        assert {k for k, t in topics.TOPICS.items() if t.for_org} == topics.ORG_TOPICS

    def test_every_org_topic_is_a_site_topic(self) -> None:
        """Mist: all org-level topics are also available on site webhooks."""
        assert topics.ORG_TOPICS <= topics.SITE_TOPICS

    def test_internal_topics_are_not_subscribable(self) -> None:
        """ping and filtered-asset-rssi exist but appear in neither scope."""
        assert topics.TOPICS["ping"].internal
        assert topics.TOPICS["filtered-asset-rssi"].internal
        assert "ping" not in topics.SITE_TOPICS | topics.ORG_TOPICS
        assert "filtered-asset-rssi" not in topics.SITE_TOPICS

    def test_delivery_results_match_the_spec_enum(self) -> None:
        """has_delivery_results is the webhook_delivery_topic enum of the spec."""
        expected = {"alarms", "audits", "device-updowns", "occupancy-alerts", "ping"}
        assert expected == topics.DELIVERY_RESULT_TOPICS

    def test_single_event_topics_include_the_documented_ones(self) -> None:
        """device-events (spec) and the Terraform fixture's audits/device-updowns allow it."""
        for key in ("device-events", "audits", "alarms", "device-updowns"):
            assert topics.TOPICS[key].allows_single_event_per_message
        for key in ("location", "asset-raw-rssi", "zone"):
            assert not topics.TOPICS[key].allows_single_event_per_message

    def test_raw_data_topics_are_site_topics(self) -> None:
        """The four special location topics are subscribable at site level only."""
        expected = {"asset-raw-rssi", "discovered-raw-rssi", "wifi-conn-raw", "wifi-unconn-raw"}
        assert expected == topics.RAW_DATA_TOPICS
        assert topics.RAW_DATA_TOPICS <= topics.SITE_TOPICS
        assert not topics.RAW_DATA_TOPICS & topics.ORG_TOPICS

    def test_topics_for_scope(self) -> None:
        """The scope names map to their topic sets; anything else is a programming error."""
        assert topics.topics_for_scope("org") == topics.ORG_TOPICS
        assert topics.topics_for_scope("site") == topics.SITE_TOPICS
        with pytest.raises(ValueError):
            topics.topics_for_scope("msp")


class TestNormalizeTopic:
    @pytest.mark.parametrize(
        ("name", "expected"),
        [
            ("device-events", "device-events"),
            ("device_events", "device-events"),
            ("location_asset", "location-asset"),
            ("sdkclient_scan_data", "sdkclient-scan-data"),
            ("ping", "ping"),
        ],
    )
    def test_known_names(self, name: str, expected: str) -> None:
        """Hyphen keys pass through; underscore aliases become hyphen keys."""
        assert expected == topics.normalize_topic(name)

    @pytest.mark.parametrize("name", ["foo", "", "Device-Events", "device events"])
    def test_unknown_names(self, name: str) -> None:
        """Unknown or differently-cased names are not topics."""
        assert topics.normalize_topic(name) is None


class TestConstWebhookTopics:
    def test_sorted_by_key_and_complete(self) -> None:
        """The answer lists every catalogued topic once, sorted by key."""
        keys = [entry["key"] for entry in topics.const_webhook_topics()]
        assert sorted(topics.TOPICS) == keys

    def test_false_booleans_are_omitted(self) -> None:
        """Only true flags appear, as in Mist's answer."""
        for entry in topics.const_webhook_topics():
            assert all(value is True for name, value in entry.items() if name != "key")

    def test_matches_the_spec_example_entries(self) -> None:
        """The entries of the spec's (truncated) example are reproduced exactly."""
        by_key = {entry["key"]: entry for entry in topics.const_webhook_topics()}
        assert by_key["asset-raw-rssi"] == {"key": "asset-raw-rssi"}
        assert by_key["client-latency"] == {"key": "client-latency"}
        assert by_key["client-info"] == {"for_org": True, "key": "client-info"}
        assert by_key["device-events"] == {
            "allows_single_event_per_message": True,
            "for_org": True,
            "key": "device-events",
        }
        assert by_key["ping"] == {"has_delivery_results": True, "internal": True, "key": "ping"}
