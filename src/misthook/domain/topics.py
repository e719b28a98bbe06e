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


# Streams of the pseudo-topic `ping` are per webhook ("ping:<webhook_id>"), so a ping
# reaches only the webhook it was sent to; on the wire the topic is plain "ping".
PING_STREAM_PREFIX = "ping:"


def wire_topic(stream_topic: str) -> str:
    """The topic a message of this stream carries."""
    return "ping" if stream_topic.startswith(PING_STREAM_PREFIX) else stream_topic


# Which of the envelope fields (id, org_id, site_id, timestamp) each topic's event schema
# in Mist's spec has. Most of those schemas forbid other properties, so the bus fills in
# only these; topics without a published schema get all four.
_ALL_ENVELOPE = frozenset({"id", "org_id", "site_id", "timestamp"})
_ORG_SITE_TS = frozenset({"org_id", "site_id", "timestamp"})
_SITE_TS = frozenset({"site_id", "timestamp"})
_ID_SITE_TS = frozenset({"id", "site_id", "timestamp"})
ENVELOPE_FIELDS: dict[str, frozenset[str]] = {
    "alarms": _ALL_ENVELOPE,
    "audits": _ALL_ENVELOPE,
    "asset-raw": _ORG_SITE_TS,  # no schema of its own: the raw asset readings of asset-raw-rssi
    "asset-raw-rssi": _ORG_SITE_TS,
    "client-info": _ORG_SITE_TS,
    "client-join": _ORG_SITE_TS,
    "client-latency": _ORG_SITE_TS,
    "client-sessions": _ORG_SITE_TS,
    "device-events": _ORG_SITE_TS,
    "device-updowns": _ORG_SITE_TS,
    "discovered-raw-rssi": _ORG_SITE_TS,
    "guest-authorizations": frozenset({"org_id", "site_id"}),
    "location": _ID_SITE_TS,
    "location-asset": _SITE_TS,
    "location-client": _SITE_TS,
    "location-sdk": _ID_SITE_TS,
    "location-unclient": _SITE_TS,
    "mxedge-events": frozenset({"org_id", "timestamp"}),
    "nac-accounting": _ORG_SITE_TS,
    "nac-events": _ORG_SITE_TS,
    "occupancy-alerts": frozenset({"site_id"}),
    "ping": _ID_SITE_TS,
    "sdkclient-scan-data": frozenset({"site_id"}),
    "wifi-conn-raw": frozenset({"org_id", "site_id"}),
    "wifi-unconn-raw": frozenset({"org_id", "site_id"}),
    "zone": _ID_SITE_TS,
}


def envelope_fields(topic: str) -> frozenset[str]:
    """The envelope fields an event of ``topic`` carries on the wire."""
    return ENVELOPE_FIELDS.get(wire_topic(topic), _ALL_ENVELOPE)
