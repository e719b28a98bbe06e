"""The device-event catalogue of ``GET /api/v1/const/device_events`` (mist_api.md §6.4).

Mist does not publish the full list; these are the AP, switch and gateway types seen in
live deliveries. Each definition has an ``example``: a ``device-events`` webhook event of
that type built from fixed sample values (the shape of the REST ``device_event`` object).
"""

# ruff: noqa: E501 -- the catalogue table reads best as one event type per line

from __future__ import annotations

from typing import Any

# key | display | description, one type per line; the prefix names the device kind.
_TABLE = """
AP_CLAIMED | AP Claimed | AP was claimed into the org
AP_UNCLAIMED | AP Unclaimed | AP was released from the org
AP_ASSIGNED | AP Assigned | AP was assigned to a site
AP_UNASSIGNED | AP Unassigned | AP was unassigned from its site
AP_CONFIG_CHANGED_BY_RRM | AP Config changed by RRM | Config change on AP was triggered by Radio Resource Management
AP_CONFIG_CHANGED_BY_USER | AP Config changed by user | Config change on AP was triggered as a result of change made by user
AP_CONFIG_FAILED | AP Config failed | AP failed to apply its configuration
AP_CONFIGURED | AP Configured | AP applied its configuration
AP_RECONFIGURED | AP Reconfigured | AP re-applied its configuration
AP_RRM_ACTION | AP RRM action | Radio Resource Management changed a radio setting of the AP
AP_BEACON_STUCK | AP Beacon stuck | An AP radio stopped sending beacons
AP_RADAR_DETECTED | AP Radar detected | AP detected radar on a DFS channel and moved off it
AP_RESTART_BY_USER | AP Restart by user | AP was restarted by a user
AP_RESTARTED | AP Restarted | AP restarted
AP_CONNECTED | AP Connected | AP connected to the cloud
AP_DISCONNECTED | AP Disconnected | AP disconnected from the cloud
AP_DISCONNECTED_LONG | AP Disconnected long | AP has been disconnected from the cloud for a long time
AP_UPGRADE_BY_USER | AP Upgrade by user | AP firmware upgrade was started by a user
AP_UPGRADE_BY_SCHEDULE | AP Upgrade by schedule | AP firmware upgrade was started by the auto-upgrade schedule
AP_UPGRADED | AP Upgraded | AP firmware upgrade finished
AP_UPGRADE_FAILED | AP Upgrade failed | AP firmware upgrade failed
AP_CERT_REGENERATED | AP Certificate regenerated | AP certificate was regenerated
AP_GET_SUPPORT_FILES | AP Support files collected | Support files were collected from the AP
SW_CLAIMED | Switch Claimed | Switch was claimed into the org
SW_UNCLAIMED | Switch Unclaimed | Switch was released from the org
SW_ASSIGNED | Switch Assigned | Switch was assigned to a site
SW_UNASSIGNED | Switch Unassigned | Switch was unassigned from its site
SW_ZTP_FINISHED | Switch ZTP finished | Switch finished zero-touch provisioning
SW_CONFIG_CHANGED_BY_USER | Switch Config changed by user | Config change on switch was triggered as a result of change made by user
SW_CONFIGURED | Switch Configured | Switch applied its configuration
SW_RECONFIGURED | Switch Reconfigured | Switch re-applied its configuration
SW_CONFIG_LOCK_FAILED | Switch Config lock failed | Switch could not lock its configuration database
SW_CONFIG_FAILED | Switch Config failed | Switch failed to apply its configuration
SW_PORT_DOWN | Switch Port down | A switch port went down
SW_PORT_UP | Switch Port up | A switch port came up
SW_CONNECTED | Switch Connected | Switch connected to the cloud
SW_DISCONNECTED | Switch Disconnected | Switch disconnected from the cloud
SW_RESTARTED_BY_USER | Switch Restarted by user | Switch was restarted by a user
SW_RESTARTED | Switch Restarted | Switch restarted
SW_OSPF_NEIGHBOR_UP | Switch OSPF neighbor up | An OSPF neighbor of the switch came up
SW_OSPF_NEIGHBOR_DOWN | Switch OSPF neighbor down | An OSPF neighbor of the switch went down
SW_BGP_NEIGHBOR_STATE_CHANGED | Switch BGP neighbor state changed | A BGP neighbor of the switch changed state
SW_ALARM | Switch Alarm | Switch raised an alarm
SW_ALARM_CHASSIS_PARTITION | Switch Chassis partition alarm | A switch storage partition is nearly full
SW_ALARM_CHASSIS_POE | Switch Chassis PoE alarm | Switch PoE controller raised an alarm
SW_ALARM_CHASSIS_PSU | Switch Chassis PSU alarm | A switch power supply raised an alarm
SW_UPGRADE_BY_USER | Switch Upgrade by user | Switch firmware upgrade was started by a user
SW_UPGRADED | Switch Upgraded | Switch firmware upgrade finished
SW_UPGRADE_PENDING | Switch Upgrade pending | Switch firmware upgrade waits for a reboot
SW_UPGRADE_FAILED | Switch Upgrade failed | Switch firmware upgrade failed
SW_SYSTEM_SERVICE_RESTART | Switch System service restart | A switch system service restarted
SW_REJECTED | Switch Rejected | Switch was rejected by the cloud
SW_DYNAMIC_PORT_ASSIGNED | Switch Dynamic port assigned | A dynamic port profile was assigned to a switch port
SW_PORT_BPDU_BLOCKED | Switch Port BPDU blocked | A switch port was blocked after receiving BPDUs
SW_PORT_STORM_CONTROL | Switch Port storm control | Storm control acted on a switch port
SW_HANDSHAKE_ERROR | Switch Handshake error | Switch failed its cloud handshake
SW_STP_TOPO_CHANGED | Switch STP topology changed | The spanning-tree topology changed
SW_VC_BACKUP_ELECTED | Switch VC backup elected | A Virtual Chassis backup was elected
SW_VC_MASTER_CHANGED | Switch VC master changed | The Virtual Chassis master changed
SW_VC_MEMBER_ADDED | Switch VC member added | A member joined the Virtual Chassis
SW_VC_MEMBER_DELETED | Switch VC member deleted | A member left the Virtual Chassis
SW_MASTER_ON_RECOVERY | Switch Master on recovery | The Virtual Chassis master booted from the recovery partition
SW_MEMBER_ON_RECOVERY | Switch Member on recovery | A Virtual Chassis member booted from the recovery partition
SW_RECOVERY_SNAPSHOT_REQUESTED | Switch Recovery snapshot requested | A recovery snapshot was requested
SW_RECOVERY_SNAPSHOT_SUCCEEDED | Switch Recovery snapshot succeeded | The recovery snapshot was taken
SW_RECOVERY_SNAPSHOT_FAILED | Switch Recovery snapshot failed | The recovery snapshot failed
SW_RECOVERY_SNAPSHOT_NOTNEEDED | Switch Recovery snapshot not needed | The recovery snapshot is already current
SW_RECOVERY_SNAPSHOT_UNSUPPORTED | Switch Recovery snapshot unsupported | The switch does not support recovery snapshots
SW_DOT1XD_USR_AUTHENTICATED | Switch 802.1X user authenticated | A user authenticated on a switch port
SW_RADIUS_SERVER_UNREACHABLE | Switch RADIUS server unreachable | The switch cannot reach its RADIUS server
GW_CLAIMED | Gateway Claimed | Gateway was claimed into the org
GW_UNCLAIMED | Gateway Unclaimed | Gateway was released from the org
GW_ASSIGNED | Gateway Assigned | Gateway was assigned to a site
GW_UNASSIGNED | Gateway Unassigned | Gateway was unassigned from its site
GW_ZTP_FINISHED | Gateway ZTP finished | Gateway finished zero-touch provisioning
GW_CONFIG_CHANGED_BY_USER | Gateway Config changed by user | Config change on gateway was triggered as a result of change made by user
GW_CONFIGURED | Gateway Configured | Gateway applied its configuration
GW_RECONFIGURED | Gateway Reconfigured | Gateway re-applied its configuration
GW_CONFIG_LOCK_FAILED | Gateway Config lock failed | Gateway could not lock its configuration database
GW_CONFIG_FAILED | Gateway Config failed | Gateway failed to apply its configuration
GW_PORT_DOWN | Gateway Port down | A gateway port went down
GW_PORT_UP | Gateway Port up | A gateway port came up
GW_CONNECTED | Gateway Connected | Gateway connected to the cloud
GW_DISCONNECTED | Gateway Disconnected | Gateway disconnected from the cloud
GW_DISCONNECTED_LONG | Gateway Disconnected long | Gateway has been disconnected from the cloud for a long time
GW_RESTARTED | Gateway Restarted | Gateway restarted
GW_RESTARTED_BY_USER | Gateway Restarted by user | Gateway was restarted by a user
GW_RESTART_BY_USER | Gateway Restart by user | Gateway restart was requested by a user
GW_OSPF_NEIGHBOR_UP | Gateway OSPF neighbor up | An OSPF neighbor of the gateway came up
GW_OSPF_NEIGHBOR_DOWN | Gateway OSPF neighbor down | An OSPF neighbor of the gateway went down
GW_BGP_NEIGHBOR_STATE_CHANGED | Gateway BGP neighbor state changed | A BGP neighbor of the gateway changed state
GW_VPN_PEER_UP | Gateway VPN peer up | A VPN peer of the gateway came up
GW_VPN_PEER_DOWN | Gateway VPN peer down | A VPN peer of the gateway went down
GW_VPN_PATH_UP | Gateway VPN path up | A VPN path of the gateway came up
GW_VPN_PATH_DOWN | Gateway VPN path down | A VPN path of the gateway went down
GW_CERT_REGENERATED | Gateway Certificate regenerated | Gateway certificate was regenerated
GW_ALARM | Gateway Alarm | Gateway raised an alarm
GW_UPGRADE_BY_USER | Gateway Upgrade by user | Gateway firmware upgrade was started by a user
GW_UPGRADE_BY_MIST | Gateway Upgrade by Mist | Gateway firmware upgrade was started by the cloud
GW_UPGRADED | Gateway Upgraded | Gateway firmware upgrade finished
GW_UPGRADE_PENDING | Gateway Upgrade pending | Gateway firmware upgrade waits for a reboot
GW_UPGRADE_FAILED | Gateway Upgrade failed | Gateway firmware upgrade failed
GW_SYSTEM_SERVICE_RESTART | Gateway System service restart | A gateway system service restarted
GW_CONDUCTOR_DISCONNECTED | Gateway Conductor disconnected | Gateway lost its conductor
GW_CONDUCTOR_CONNECTED | Gateway Conductor connected | Gateway reached its conductor
GW_ARP_RESOLVED | Gateway ARP resolved | Gateway resolved its next hop by ARP
GW_ARP_UNRESOLVED | Gateway ARP unresolved | Gateway could not resolve its next hop by ARP
GW_DHCP_RESOLVED | Gateway DHCP resolved | Gateway got a DHCP lease on a WAN port
GW_DHCP_UNRESOLVED | Gateway DHCP unresolved | Gateway got no DHCP lease on a WAN port
GW_HA_CONTROL_LINK_UP | Gateway HA control link up | The HA cluster control link came up
GW_HA_CONTROL_LINK_DOWN | Gateway HA control link down | The HA cluster control link went down
GW_HA_HEALTH_WEIGHT_LOW | Gateway HA health weight low | The HA node health weight dropped
GW_HA_HEALTH_WEIGHT_RECOVERY | Gateway HA health weight recovered | The HA node health weight recovered
GW_REJECTED | Gateway Rejected | Gateway was rejected by the cloud
GW_RG_STATE_CHANGED | Gateway Redundancy group state changed | An HA redundancy group changed state
GW_PORT_RG_STATE_CHANGED | Gateway Port redundancy group state changed | A port's HA redundancy group changed state
GW_PORT_RG_ST_CHANGED | Gateway Port redundancy group status changed | A port's HA redundancy group status changed
GW_ALARM_POE_CONTROLLER_UPGRADE_AVAILABLE | Gateway PoE controller upgrade available | A PoE controller firmware upgrade is available
"""

# prefix -> (device_type, sample MAC, sample device name)
_DEVICE_KINDS: dict[str, tuple[str, str, str]] = {
    "AP": ("ap", "5c5b35000001", "Lobby-AP"),
    "SW": ("switch", "2c21311c37b0", "sw-lobby-01"),
    "GW": ("gateway", "0200015b6fd7", "gw-branch-01"),
}
_SAMPLE_ORG_ID = "2818e386-8dec-2562-9ede-5b8a0fbbdc71"
_SAMPLE_SITE_ID = "4ac1dcf4-9d8b-7211-65c4-057819f0862b"
_SAMPLE_AUDIT_ID = "e9a88814-fa81-5bdc-34b0-84e8735420e5"
_SAMPLE_TIMESTAMP = 1552408871


def device_type_of(event_type: str) -> str | None:
    """``"ap"``, ``"switch"`` or ``"gateway"`` for a catalogued type, else None."""
    kind = _DEVICE_KINDS.get(event_type.partition("_")[0])
    return kind[0] if kind else None


def _example(key: str, description: str) -> dict[str, Any]:
    device_type, mac, name = _DEVICE_KINDS[key.partition("_")[0]]
    event: dict[str, Any] = {
        "type": key,
        "timestamp": _SAMPLE_TIMESTAMP,
        "org_id": _SAMPLE_ORG_ID,
        "site_id": _SAMPLE_SITE_ID,
        "site_name": "Headquarters",
        "device_type": device_type,
        "mac": mac,
        "device_name": name,
        "text": description,
    }
    if device_type == "ap":
        event["ap"] = mac  # the deprecated aliases APs still carry
        event["ap_name"] = name
    if "BY_USER" in key:
        event["audit_id"] = _SAMPLE_AUDIT_ID
    return event


def _parse(table: str) -> list[dict[str, Any]]:
    defs: list[dict[str, Any]] = []
    for line in table.strip().splitlines():
        key, display, description = (cell.strip() for cell in line.split("|"))
        defs.append(
            {
                "key": key,
                "display": display,
                "description": description,
                "example": _example(key, description),
            }
        )
    return defs


DEVICE_EVENT_DEFS: list[dict[str, Any]] = _parse(_TABLE)
DEVICE_EVENT_TYPES: frozenset[str] = frozenset(d["key"] for d in DEVICE_EVENT_DEFS)
