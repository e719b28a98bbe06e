"""A delivery record's request body by reference: the run of its stream's events it carried.

Every webhook of a topic is sent the same events, so copying each message body into each
delivery record wrote the same bytes once per webhook (the fan-out bottleneck). A message
is a contiguous run of its stream's events and its body is built deterministically from
their stored bytes, so the record keeps only where the run is (``payload_ref``) and the
readers build the body again:

``{"stream_topic", "org_id", "site_id", "seq_first", "seq_last", "event_count", "format",
"bytes"}``: the stream's own topic (``ping:<webhook_id>`` for a ping stream) and scope as
``Store.read_events`` takes them, the first and last sequence numbers and the number of
events, how the body was built (``mist`` or ``splunk``) and its length (a cheap check that
the rebuilt body is the one sent).

Retention prunes events by age and records by theirs, so a record (a retry days later)
can outlive its events: ``read_run`` then answers None and the record says
``payload_pruned: true`` with an empty ``req_payload``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

from misthook.delivery import message
from misthook.store.base import Doc, Store, StoredEvent, Stream

REF_FIELD = "payload_ref"
PRUNED_FIELD = "payload_pruned"

BodyFormat = Literal["mist", "splunk"]
MIST: BodyFormat = "mist"
SPLUNK: BodyFormat = "splunk"


def build(body_format: str, topic: str, event_bodies: Sequence[bytes]) -> bytes:
    """The body of a message as the sender built it (standard Mist or Splunk HEC)."""
    if body_format == SPLUNK:
        return message.build_splunk_body(topic, event_bodies)
    return message.build_body(topic, event_bodies)


def reference(
    stream: Stream, events: Sequence[StoredEvent], body_format: str, body_bytes: int
) -> Doc:
    """The ``payload_ref`` of a message of ``stream`` made of ``events`` (in order)."""
    return {
        "stream_topic": stream.topic,
        "org_id": stream.org_id,
        "site_id": stream.site_id,
        "seq_first": events[0].seq,
        "seq_last": events[-1].seq,
        "event_count": len(events),
        "format": body_format,
        "bytes": body_bytes,
    }


async def read_run(store: Store, ref: Mapping[str, Any]) -> list[StoredEvent] | None:
    """The events of a reference, or None when retention pruned any of them."""
    count = int(ref["event_count"])
    events = await store.read_events(
        str(ref["stream_topic"]),
        str(ref["org_id"]),
        ref.get("site_id"),
        int(ref["seq_first"]) - 1,
        count,
    )
    if (
        len(events) != count
        or events[0].seq != ref["seq_first"]
        or events[-1].seq != ref["seq_last"]
    ):
        return None
    return events


async def hydrate(store: Store, record: Doc) -> Doc:
    """The record as Mist shows it: ``req_payload`` and ``event_ids`` filled in from the
    log (a literal record is returned as it is), ``payload_ref`` left out; a record whose
    events were pruned gets ``req_payload: ""``, ``event_ids: []``, ``payload_pruned: true``."""
    ref = record.get(REF_FIELD)
    if ref is None:
        return record
    events = await read_run(store, ref)
    body = (
        b"" if events is None else build(ref["format"], record["topic"], [e.body for e in events])
    )
    if events is not None and len(body) != ref.get("bytes", len(body)):
        events, body = None, b""  # not the run that was sent (cannot happen but by a bug)
    payload = body.decode("utf-8", errors="replace")
    ids = [] if events is None else [e.id for e in events]
    out: Doc = {}
    # Mist's field order: the body follows the headers, the ids follow the attempt number.
    for key, value in record.items():
        if key != REF_FIELD:
            out[key] = value
        if key == "req_headers":
            out["req_payload"] = payload
        elif key == "attempt":
            out["event_ids"] = ids
    out.setdefault("req_payload", payload)
    out.setdefault("event_ids", ids)
    if events is None:
        out[PRUNED_FIELD] = True
    return out
