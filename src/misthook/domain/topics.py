"""The webhook topic catalogue, as served by ``GET /api/v1/const/webhook_topics``.

Mist publishes no complete topic list; the Terraform provider's validators are the best
proxy (30 site topics, 13 of them also allowed on org webhooks). Keys are hyphenated, which
is what real deliveries carry in ``topic``; underscore spellings (from older spec samples)
are accepted on input through :func:`normalize_topic`.

``allows_single_event_per_message`` is documented by Mist only for ``device-events``. We
also grant it to the discrete, low-rate record topics a SIEM ingests one record at a time
(alarms, audits, device and client lifecycle, NAC, MxEdge, guest, occupancy alerts). Location,
raw-RSSI and telemetry streams are high-rate samples that only make sense batched, so they
keep the flag off.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TopicDef:
    """One entry of the topic catalogue."""

    key: str
    for_org: bool = False  # may be used on org webhooks
    has_delivery_results: bool = False  # deliveries are searchable under .../events/search
    allows_single_event_per_message: bool = False
    internal: bool = False  # produced by misthook itself; not subscribable


def _topic_defs() -> list[TopicDef]:
    org_single = {"for_org": True, "allows_single_event_per_message": True}
    return [
        TopicDef("alarms", has_delivery_results=True, **org_single),
        TopicDef("asset-raw"),
        TopicDef("asset-raw-rssi"),
        TopicDef("audits", has_delivery_results=True, **org_single),
        TopicDef("client-info", for_org=True),
        TopicDef("client-join", **org_single),
        TopicDef("client-latency"),
        TopicDef("client-sessions", **org_single),
        TopicDef("device-events", **org_single),
        TopicDef("device-updowns", has_delivery_results=True, **org_single),
        TopicDef("discovered-raw-rssi"),
        TopicDef("guest-authorizations", **org_single),
        TopicDef("location"),
        TopicDef("location-asset"),
        TopicDef("location-centrak"),
        TopicDef("location-client"),
        TopicDef("location-sdk"),
        TopicDef("location-unclient"),
        TopicDef("mxedge-events", **org_single),
        TopicDef("minis-application", for_org=True),
        TopicDef("minis-reachability", for_org=True),
        TopicDef("nac-accounting", **org_single),
        TopicDef("nac-events", **org_single),
        TopicDef(
            "occupancy-alerts", has_delivery_results=True, allows_single_event_per_message=True
        ),
        TopicDef("rssizone"),
        TopicDef("sdkclient-scan-data"),
        TopicDef("vbeacon"),
        TopicDef("wifi-conn-raw"),
        TopicDef("wifi-unconn-raw"),
        TopicDef("zone"),
        # Internal pseudo-topics: ping is produced only by the ping endpoint; the filtered
        # asset topic is derived from asset-raw-rssi + assetfilter_ids.
        TopicDef("ping", has_delivery_results=True, internal=True),
        TopicDef("filtered-asset-rssi", internal=True),
    ]


TOPICS: dict[str, TopicDef] = {topic.key: topic for topic in _topic_defs()}

# Subscribable topics per scope. Every org topic is also a site topic.
SITE_TOPICS: frozenset[str] = frozenset(key for key, t in TOPICS.items() if not t.internal)
ORG_TOPICS: frozenset[str] = frozenset(key for key in SITE_TOPICS if TOPICS[key].for_org)

# The "special location topics": raw client data; at most one of them per webhook URL.
RAW_DATA_TOPICS: frozenset[str] = frozenset(
    {"asset-raw-rssi", "discovered-raw-rssi", "wifi-conn-raw", "wifi-unconn-raw"}
)

# Topics whose deliveries are kept for .../events/search (the webhook_delivery_topic enum).
DELIVERY_RESULT_TOPICS: frozenset[str] = frozenset(
    key for key, t in TOPICS.items() if t.has_delivery_results
)


def normalize_topic(name: str) -> str | None:
    """The hyphenated catalogue key for ``name`` (``device_events`` -> ``device-events``).

    Returns None for an unknown topic. Matching is exact apart from ``_`` vs ``-``, as Mist
    treats topic names as case-sensitive identifiers.
    """
    key = name.replace("_", "-")
    return key if key in TOPICS else None


def topics_for_scope(scope: str) -> frozenset[str]:
    """The subscribable topics of an ``"org"`` or ``"site"`` webhook."""
    if scope == "org":
        return ORG_TOPICS
    if scope == "site":
        return SITE_TOPICS
    raise ValueError(f"unknown webhook scope: {scope!r}")


_FLAGS = ("for_org", "has_delivery_results", "allows_single_event_per_message", "internal")


def const_webhook_topics() -> list[dict[str, object]]:
    """The body of ``GET /api/v1/const/webhook_topics``: false booleans are omitted."""
    answer: list[dict[str, object]] = []
    for key in sorted(TOPICS):
        topic = TOPICS[key]
        entry: dict[str, object] = {"key": key}
        for flag in _FLAGS:
            if getattr(topic, flag):
                entry[flag] = True
        answer.append(entry)
    return answer
