from __future__ import annotations

import uuid

import pytest

from misthook.domain import alarm_defs, device_event_defs

# The AP event types listed in Mist's "Organization & Site Level Webhooks" article (the
# project's seed document).
SEED_DOC_AP_TYPES = [
    "AP_ASSIGNED",
    "AP_CLAIMED",
    "AP_CONFIG_CHANGED_BY_RRM",
    "AP_CONFIG_CHANGED_BY_USER",
    "AP_CONFIGURED",
    "AP_CONNECTED",
    "AP_DISCONNECTED",
    "AP_RESTART_BY_USER",
    "AP_RESTARTED",
    "AP_UNASSIGNED",
    "AP_UNCLAIMED",
    "AP_UPGRADE_BY_SCHEDULE",
    "AP_UPGRADE_BY_USER",
    "AP_UPGRADED",
    "AP_UPGRADE_FAILED",
]
REFERENCE_INFRA_KEYS = [
    "device_down",
    "switch_down",
    "gateway_down",
    "device_restarted",
    "switch_restarted",
    "device_reconnected",
    "switch_reconnected",
    "gateway_reconnected",
    "vpn_peer_down",
    "vc_master_changed",
    "vc_backup_failed",
    "vc_member_added",
    "vc_member_deleted",
    "sw_alarm_chassis_poe",
    "sw_alarm_chassis_pem",
    "sw_alarm_chassis_psu",
    "sw_alarm_chassis_partition",
    "sw_bgp_neighbor_state_changed",
    "sw_bad_optics",
    "sw_bpdu_error",
    "sw_dhcp_pool_exhausted",
    "gw_dhcp_pool_exhausted",
    "infra_arp_failure",
]
REFERENCE_MARVIS_KEYS = [
    "missing_vlan",
    "bad_cable",
    "gw_bad_cable",
    "ap_bad_cable",
    "authentication_failure",
    "dhcp_failure",
    "arp_failure",
    "dns_failure",
    "port_flap",
    "negotiation_mismatch",
    "gw_negotiation_mismatch",
    "ap_offline",
    "non_compliant",
    "health_check_failed",
    "bad_wan_uplink",
    "switch_stp_loop",
    "insufficient_coverage",
    "insufficient_capacity",
]
REFERENCE_SECURITY_KEYS = [
    "secpolicy_violation",
    "bssid_spoofing",
    "honeypot_ssid",
    "adhoc_network",
    "rogue_ap",
    "rogue_client",
    "watched_station",
    "eap_handshake_flood",
    "air_magnet_scan",
    "excessive_eapol_start",
    "eapol_logoff_attack",
    "eap_dictionary_attack",
    "disassociation_flood",
    "beacon_flood",
    "essid_jack",
    "krack_attack",
    "vendor_ie_missing",
    "tkip_icv_attack",
    "repeated_auth_failures",
    "eap_failure_injection",
    "eap_spoofed_success",
    "out_of_sequence",
    "zero_ssid_association",
    "monkey_jack",
    "excessive_client",
    "ssid_injection",
]
ALARM_EVENT_REQUIRED = {"id", "org_id", "site_id", "timestamp", "type"}


class TestAlarmDefs:
    @pytest.mark.parametrize(
        ("group", "keys"),
        [
            ("infrastructure", REFERENCE_INFRA_KEYS),
            ("marvis", REFERENCE_MARVIS_KEYS),
            ("security", REFERENCE_SECURITY_KEYS),
        ],
    )
    def test_reference_keys_present_in_their_group(self, group: str, keys: list[str]) -> None:
        """Every alarm key of reference §6.4 is catalogued under its group."""
        for key in keys:
            assert alarm_defs.ALARM_DEFS_BY_KEY[key]["group"] == group

    def test_required_keys(self) -> None:
        """Each definition has the const_alarm_definition required keys, typed."""
        for definition in alarm_defs.ALARM_DEFS:
            assert {"key", "display", "group", "severity", "fields", "example"} <= set(definition)
            assert isinstance(definition["display"], str) and definition["display"]
            assert definition["group"] in alarm_defs.ALARM_GROUPS
            assert definition["severity"] in {"info", "warn", "critical"}
            assert definition["fields"] and all(isinstance(f, str) for f in definition["fields"])

    def test_keys_unique(self) -> None:
        """No key is defined twice."""
        keys = [d["key"] for d in alarm_defs.ALARM_DEFS]
        assert len(keys) == len(set(keys)) == len(alarm_defs.ALARM_DEFS_BY_KEY)

    def test_examples_are_alarm_events(self) -> None:
        """Each example has the webhook alarm event's required fields and its listed fields."""
        for definition in alarm_defs.ALARM_DEFS:
            example = definition["example"]
            assert set(example) >= ALARM_EVENT_REQUIRED
            assert example["type"] == definition["key"]
            assert str(uuid.UUID(example["id"])) == example["id"]
            for field in definition["fields"]:
                assert isinstance(example[field], list) and example[field]

    def test_spec_example_shape(self) -> None:
        """device_down matches the spec example's display, group, severity and fields."""
        device_down = alarm_defs.ALARM_DEFS_BY_KEY["device_down"]
        assert (device_down["display"], device_down["group"], device_down["severity"]) == (
            "Device offline",
            "infrastructure",
            "warn",
        )
        assert device_down["fields"] == ["aps", "hostnames"]


class TestDeviceEventDefs:
    def test_seed_doc_ap_types_present(self) -> None:
        """Every AP event type of the seed document is catalogued."""
        missing = set(SEED_DOC_AP_TYPES) - device_event_defs.DEVICE_EVENT_TYPES
        assert not missing

    def test_brief_ap_types_present(self) -> None:
        """The AP types the API promises beyond the seed document are there too."""
        for key in ("AP_DISCONNECTED_LONG", "AP_CONFIG_FAILED", "AP_RRM_ACTION"):
            assert key in device_event_defs.DEVICE_EVENT_TYPES

    def test_switch_and_gateway_types_present(self) -> None:
        """Representative switch and gateway types of reference §6.4 are catalogued."""
        for key in (
            "SW_PORT_DOWN",
            "SW_DOT1XD_USR_AUTHENTICATED",
            "GW_VPN_PATH_DOWN",
            "GW_ARP_UNRESOLVED",
        ):
            assert key in device_event_defs.DEVICE_EVENT_TYPES

    def test_definitions_have_required_keys(self) -> None:
        """key, display, description and an example of the right type and device kind."""
        for definition in device_event_defs.DEVICE_EVENT_DEFS:
            assert set(definition) == {"key", "display", "description", "example"}
            assert definition["display"] and definition["description"]
            example = definition["example"]
            assert {"org_id", "timestamp", "type"} <= set(example)
            assert example["type"] == definition["key"]
            assert example["device_type"] == device_event_defs.device_type_of(definition["key"])

    def test_keys_unique(self) -> None:
        """No type is defined twice."""
        assert len(device_event_defs.DEVICE_EVENT_DEFS) == len(device_event_defs.DEVICE_EVENT_TYPES)

    def test_spec_example(self) -> None:
        """AP_ASSIGNED carries the spec's display and description."""
        by_key = {d["key"]: d for d in device_event_defs.DEVICE_EVENT_DEFS}
        assert by_key["AP_ASSIGNED"]["display"] == "AP Assigned"
        assert by_key["AP_ASSIGNED"]["description"] == "AP was assigned to a site"
        assert by_key["AP_ASSIGNED"]["example"]["ap"] == by_key["AP_ASSIGNED"]["example"]["mac"]

    def test_device_type_of(self) -> None:
        """The prefix names the device kind; other types have none."""
        assert device_event_defs.device_type_of("SW_PORT_UP") == "switch"
        assert device_event_defs.device_type_of("GW_ALARM") == "gateway"
        assert device_event_defs.device_type_of("AP_RESTARTED") == "ap"
        assert device_event_defs.device_type_of("ME_CONFIG_CHANGED_BY_USER") is None
