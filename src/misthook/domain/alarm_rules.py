"""Alarm aggregation, pure: incidents of one type at one site within a window make one
alarm (reference mist_api.md §4.3 and the seed's ``device_down`` example).

The first incidents of a window open an alarm (``count`` of them, representative entity
lists of at most ``ENTITIES_MAX`` values each, ``timestamp`` of the first, ``last_seen``
of the latest). Later incidents inside the window fold into it: its webhook event is sent
again with the same ``id``, the new ``count`` and ``update: true``. An incident after the
window opens a new alarm.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

ENTITIES_MAX = 10  # "representative samples of entities (capped at 10)"

# What the webhook event carries besides the entity lists of the definition.
EVENT_FIELDS = (
    "id",
    "org_id",
    "site_id",
    "type",
    "group",
    "severity",
    "count",
    "timestamp",
    "last_seen",
    "site_name",
)


@dataclasses.dataclass(frozen=True, slots=True)
class Incident:
    """One occurrence: ``entities`` maps a definition field (``aps``, ``hostnames`` ...)
    to the values this occurrence adds."""

    type: str
    site_id: str
    at: float
    entities: Mapping[str, Sequence[str]] = dataclasses.field(default_factory=dict)


def merge_entities(current: Sequence[str], new: Iterable[str]) -> list[str]:
    """``current`` then the unseen values of ``new``, at most ``ENTITIES_MAX``."""
    merged = list(current)
    for value in new:
        if len(merged) >= ENTITIES_MAX:
            break
        if value and value not in merged:
            merged.append(value)
    return merged


def in_window(alarm: Mapping[str, Any], at: float, window_s: float) -> bool:
    """Whether an incident at ``at`` belongs to ``alarm``'s window."""
    return float(alarm["timestamp"]) <= at < float(alarm["timestamp"]) + window_s


def group_by_key(incidents: Iterable[Incident]) -> dict[tuple[str, str], list[Incident]]:
    """Incidents per ``(site_id, type)``, each list in time order."""
    groups: dict[tuple[str, str], list[Incident]] = {}
    for incident in incidents:
        groups.setdefault((incident.site_id, incident.type), []).append(incident)
    for items in groups.values():
        items.sort(key=lambda i: i.at)
    return groups


def open_alarm(
    definition: Mapping[str, Any],
    *,
    alarm_id: str,
    org_id: str,
    site_name: str,
    incidents: Sequence[Incident],
) -> dict[str, Any]:
    """A new alarm document from the first incidents of a window (at least one)."""
    first = incidents[0]
    alarm: dict[str, Any] = {
        "id": alarm_id,
        "org_id": org_id,
        "site_id": first.site_id,
        "type": definition["key"],
        "group": definition["group"],
        "severity": definition["severity"],
        "count": 0,
        "timestamp": first.at,
        "last_seen": first.at,
        "site_name": site_name,
        "acked": False,
        "status": "open",
    }
    for field in definition["fields"]:
        alarm[field] = []
    return fold(alarm, incidents)


def fold(alarm: Mapping[str, Any], incidents: Sequence[Incident]) -> dict[str, Any]:
    """``alarm`` with ``incidents`` counted in (a new document; the input is unchanged)."""
    folded = dict(alarm)
    for incident in incidents:
        folded["count"] = int(folded["count"]) + 1
        folded["last_seen"] = max(float(folded["last_seen"]), incident.at)
        for field, values in incident.entities.items():
            if field in folded:
                folded[field] = merge_entities(folded[field], values)
    return folded


def webhook_event(
    alarm: Mapping[str, Any], fields: Sequence[str], *, update: bool
) -> dict[str, Any]:
    """The ``alarms`` event of an alarm: common fields, its entity lists, ``update``."""
    event = {k: alarm[k] for k in EVENT_FIELDS if k in alarm}
    for field in fields:
        event[field] = list(alarm.get(field) or [])
    if update:
        event["update"] = True
    return event
