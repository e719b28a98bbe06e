"""The alarm catalogue of ``GET /api/v1/const/alarm_defs`` (reference mist_api.md §6.4).

Mist does not publish its full list; these are the keys seen in live deliveries (the
reference's infrastructure, marvis and security lists). Each definition carries an
``example``: a webhook ``alarms`` event for that key, built from fixed sample values so the
catalogue is the same on every start.
"""

from __future__ import annotations

import uuid
from typing import Any

# The entity lists an alarm of each kind carries (reference: "aps, switches, gateways,
# hostnames, ssids, bssids").
_AP = ("aps", "hostnames")
_SWITCH = ("switches", "hostnames")
_GATEWAY = ("gateways", "hostnames")
_CLIENT = ("aps", "ssids")
_RADIO = ("aps", "bssids", "ssids")

# key, display, group, severity, fields
_DEFS: tuple[tuple[str, str, str, str, tuple[str, ...]], ...] = (
    # infrastructure
    ("device_down", "Device offline", "infrastructure", "warn", _AP),
    ("switch_down", "Switch offline", "infrastructure", "warn", _SWITCH),
    ("gateway_down", "Gateway offline", "infrastructure", "warn", _GATEWAY),
    ("device_restarted", "Device restarted", "infrastructure", "info", _AP),
    ("switch_restarted", "Switch restarted", "infrastructure", "info", _SWITCH),
    ("device_reconnected", "Device reconnected", "infrastructure", "info", _AP),
    ("switch_reconnected", "Switch reconnected", "infrastructure", "info", _SWITCH),
    ("gateway_reconnected", "Gateway reconnected", "infrastructure", "info", _GATEWAY),
    ("vpn_peer_down", "VPN peer down", "infrastructure", "warn", _GATEWAY),
    ("vc_master_changed", "Virtual Chassis master changed", "infrastructure", "warn", _SWITCH),
    ("vc_backup_failed", "Virtual Chassis backup failed", "infrastructure", "warn", _SWITCH),
    ("vc_member_added", "Virtual Chassis member added", "infrastructure", "info", _SWITCH),
    ("vc_member_deleted", "Virtual Chassis member deleted", "infrastructure", "warn", _SWITCH),
    ("sw_alarm_chassis_poe", "Switch chassis PoE alarm", "infrastructure", "critical", _SWITCH),
    ("sw_alarm_chassis_pem", "Switch chassis PEM alarm", "infrastructure", "critical", _SWITCH),
    ("sw_alarm_chassis_psu", "Switch chassis PSU alarm", "infrastructure", "critical", _SWITCH),
    (
        "sw_alarm_chassis_partition",
        "Switch chassis partition alarm",
        "infrastructure",
        "critical",
        _SWITCH,
    ),
    (
        "sw_bgp_neighbor_state_changed",
        "Switch BGP neighbor state changed",
        "infrastructure",
        "warn",
        _SWITCH,
    ),
    ("sw_bad_optics", "Switch bad optics", "infrastructure", "warn", _SWITCH),
    ("sw_bpdu_error", "Switch port BPDU error", "infrastructure", "warn", _SWITCH),
    ("sw_dhcp_pool_exhausted", "Switch DHCP pool exhausted", "infrastructure", "warn", _SWITCH),
    ("gw_dhcp_pool_exhausted", "Gateway DHCP pool exhausted", "infrastructure", "warn", _GATEWAY),
    ("infra_arp_failure", "Infrastructure ARP failure", "infrastructure", "warn", _GATEWAY),
    # marvis
    ("missing_vlan", "Missing VLAN", "marvis", "critical", _SWITCH),
    ("bad_cable", "Bad cable", "marvis", "critical", _SWITCH),
    ("gw_bad_cable", "Gateway bad cable", "marvis", "critical", _GATEWAY),
    ("ap_bad_cable", "AP bad cable", "marvis", "critical", _AP),
    ("authentication_failure", "Authentication failure", "marvis", "critical", _CLIENT),
    ("dhcp_failure", "DHCP failure", "marvis", "critical", _CLIENT),
    ("arp_failure", "ARP failure", "marvis", "critical", _CLIENT),
    ("dns_failure", "DNS failure", "marvis", "critical", _CLIENT),
    ("port_flap", "Port flap", "marvis", "warn", _SWITCH),
    ("negotiation_mismatch", "Negotiation mismatch", "marvis", "warn", _SWITCH),
    ("gw_negotiation_mismatch", "Gateway negotiation mismatch", "marvis", "warn", _GATEWAY),
    ("ap_offline", "AP offline", "marvis", "critical", _AP),
    ("non_compliant", "Non-compliant firmware", "marvis", "warn", _AP),
    ("health_check_failed", "Health check failed", "marvis", "warn", _AP),
    ("bad_wan_uplink", "Bad WAN uplink", "marvis", "critical", _GATEWAY),
    ("switch_stp_loop", "Switch STP loop", "marvis", "critical", _SWITCH),
    ("insufficient_coverage", "Insufficient coverage", "marvis", "warn", _AP),
    ("insufficient_capacity", "Insufficient capacity", "marvis", "warn", _AP),
    # security
    ("secpolicy_violation", "Security policy violation", "security", "warn", ("aps",)),
    ("bssid_spoofing", "BSSID spoofing", "security", "critical", _RADIO),
    ("honeypot_ssid", "Honeypot SSID", "security", "warn", _RADIO),
    ("adhoc_network", "Ad-hoc network", "security", "warn", _RADIO),
    ("rogue_ap", "Rogue AP", "security", "warn", _RADIO),
    ("rogue-ap-detected", "Rogue AP detected (legacy)", "security", "warn", _RADIO),
    ("rogue_client", "Rogue client", "security", "warn", _RADIO),
    ("watched_station", "Watched station", "security", "warn", _RADIO),
    ("eap_handshake_flood", "EAP handshake flood", "security", "critical", _RADIO),
    ("air_magnet_scan", "AirMagnet scan", "security", "warn", _RADIO),
    ("excessive_eapol_start", "Excessive EAPOL start", "security", "warn", _RADIO),
    ("eapol_logoff_attack", "EAPOL logoff attack", "security", "critical", _RADIO),
    ("eap_dictionary_attack", "EAP dictionary attack", "security", "critical", _RADIO),
    ("disassociation_flood", "Disassociation flood", "security", "critical", _RADIO),
    ("beacon_flood", "Beacon flood", "security", "critical", _RADIO),
    ("essid_jack", "ESSID jack", "security", "critical", _RADIO),
    ("krack_attack", "KRACK attack", "security", "critical", _RADIO),
    ("vendor_ie_missing", "Vendor IE missing", "security", "warn", _RADIO),
    ("tkip_icv_attack", "TKIP ICV attack", "security", "critical", _RADIO),
    ("repeated_auth_failures", "Repeated authentication failures", "security", "warn", _RADIO),
    ("eap_failure_injection", "EAP failure injection", "security", "critical", _RADIO),
    ("eap_spoofed_success", "EAP spoofed success", "security", "critical", _RADIO),
    ("out_of_sequence", "Out of sequence", "security", "warn", _RADIO),
    ("zero_ssid_association", "Zero SSID association", "security", "warn", _RADIO),
    ("monkey_jack", "Monkey jack", "security", "critical", _RADIO),
    ("excessive_client", "Excessive clients", "security", "warn", _RADIO),
    ("ssid_injection", "SSID injection", "security", "critical", _RADIO),
)

ALARM_GROUPS: frozenset[str] = frozenset({"infrastructure", "marvis", "security"})

_SAMPLE_ORG_ID = "2818e386-8dec-2562-9ede-5b8a0fbbdc71"
_SAMPLE_SITE_ID = "4ac1dcf4-9d8b-7211-65c4-057819f0862b"
_SAMPLE_TIMESTAMP = 1629753888
_SAMPLE_FIELD_VALUES: dict[str, list[str]] = {
    "aps": ["5c5b35000001"],
    "switches": ["2c21311c37b0"],
    "gateways": ["0200015b6fd7"],
    "hostnames": ["Lobby-1"],
    "ssids": ["Corp"],
    "bssids": ["5c5b35000011"],
}


def _example(key: str, group: str, severity: str, fields: tuple[str, ...]) -> dict[str, Any]:
    """A sample ``alarms`` webhook event for ``key`` (stable ids derived from the key)."""
    event: dict[str, Any] = {
        "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"misthook:alarm_def:{key}")),
        "org_id": _SAMPLE_ORG_ID,
        "site_id": _SAMPLE_SITE_ID,
        "type": key,
        "group": group,
        "severity": severity,
        "count": 1,
        "timestamp": _SAMPLE_TIMESTAMP,
        "last_seen": _SAMPLE_TIMESTAMP,
    }
    for field in fields:
        event[field] = list(_SAMPLE_FIELD_VALUES[field])
    return event


ALARM_DEFS: list[dict[str, Any]] = [
    {
        "key": key,
        "display": display,
        "group": group,
        "severity": severity,
        "fields": list(fields),
        "example": _example(key, group, severity, fields),
    }
    for key, display, group, severity, fields in _DEFS
]

ALARM_DEFS_BY_KEY: dict[str, dict[str, Any]] = {d["key"]: d for d in ALARM_DEFS}
