"""The PostgreSQL event log in segments: one row per run of appended events of one scope.

A row per event made PostgreSQL the part of a delivery that every worker process pays
again: each worker reads every event of its streams' scopes, and a row costs an index
entry, a heap tuple and its visibility check, on insert and on every read. A segment
holds up to ``SEGMENT_MAX_EVENTS`` (500) consecutive events of one topic, org, site and
time in one row, their ids and their bodies each joined by newlines. ``bench/store_paths.py``
puts it beside a row per event.

The joined bodies are compressed here, as one lz4 block (``bodies_lz4``; migration 8),
not by the server: every read of a segment made the server decompress it again, which
was half its CPU per read, and the block is a fraction of the bytes to send. lz4, because
every worker process decompresses what it reads (at gigabytes per second).

Newlines, because a worker splits a joined column in one C call, where arrays cost it a
Python object per element to decode: every worker process decodes every event it reads,
so that is CPU a second worker adds rather than shares. misthook's event bodies are
compact JSON and never hold a newline, and ids seldom do; a segment in which one does
also keeps the lengths of that column (``id_sizes``, ``body_sizes``, otherwise NULL).

The events of a segment have consecutive sequence numbers (an append numbers its events
in input order under the append lock), so a segment ``[first, last]`` holds every event
of its scope in that range, and of any other scope none: reads of a site and of a whole
org both come out complete and in order, and a read can start inside a segment. A read
answers up to its limit, so its last segment may be cut and the next read then starts
inside it; reads whose limit is a whole number of segments (the worker's) stay on
segment boundaries.
"""

from __future__ import annotations

import itertools
import math
import operator
from collections.abc import Iterator, Sequence
from typing import NamedTuple, TypeVar

import lz4.block

from misthook.errors import StoreError
from misthook.store import sql
from misthook.store.base import NewEvent, StoredEvent

# A batched read (1000 by default) is two whole segments, a single-event one is one.
SEGMENT_MAX_EVENTS = 500
# A segment's bodies; a single event larger than this gets a segment of its own.
SEGMENT_MAX_BYTES = 1 << 20
# Most segments one read asks for: many small segments (a publish of one event each,
# say) come back this many at a time.
READ_ROWS_MAX = 256
# Segments a read asks for while the scope's size is not known yet.
READ_ROWS_FIRST = 16


class Segment(NamedTuple):
    """One row of ``event_segments``, as appended."""

    first_seq: int
    last_seq: int
    org_id: str
    site_id: str | None
    topic: str
    newest: float  # its events' time (all the same): retention prunes by it
    ids: str
    id_sizes: list[int] | None
    bodies: bytes  # an lz4 block of the joined bodies if bodies_lz4, else them
    body_sizes: list[int] | None
    bodies_lz4: bool


class ReadRow(NamedTuple):
    """What a read answers of one segment."""

    first_seq: int
    last_seq: int
    newest: float
    ids: str
    id_sizes: Sequence[int] | None
    bodies: bytes
    body_sizes: Sequence[int] | None
    site_id: str | None
    bodies_lz4: bool


def cut(events: Sequence[NewEvent], first_seq: int) -> list[Segment]:
    """``events``, numbered from ``first_seq`` in input order, as segments: runs of one
    scope (topic, org, site) and one time of at most ``SEGMENT_MAX_EVENTS`` events and
    ``SEGMENT_MAX_BYTES`` of bodies. The events of one append all have the time it
    entered the log (``bus.publish``), so the time cuts nothing in practice, and it keeps
    retention exact: a segment is pruned when its events would be."""
    segments = []
    seq = first_seq
    for run in _runs(events):
        ids, id_sizes = _joined("\n", [e.id for e in run])
        bodies, body_sizes = _joined(b"\n", [e.body for e in run])
        stored, packed = _packed(bodies)
        head = run[0]
        last = seq + len(run) - 1
        segments.append(
            Segment(
                seq,
                last,
                head.org_id,
                head.site_id,
                head.topic,
                float(head.timestamp),
                ids,
                id_sizes,
                stored,
                body_sizes,
                packed,
            )
        )
        seq = last + 1
    return segments


def _runs(events: Sequence[NewEvent]) -> Iterator[list[NewEvent]]:
    run: list[NewEvent] = []
    key: tuple[str, str, str | None, float] | None = None
    size = 0
    for event in events:
        if run and (
            (event.topic, event.org_id, event.site_id, event.timestamp) != key
            or len(run) == SEGMENT_MAX_EVENTS
            or size + len(event.body) > SEGMENT_MAX_BYTES
        ):
            yield run
            run, size = [], 0
        if not run:
            key = (event.topic, event.org_id, event.site_id, event.timestamp)
        run.append(event)
        size += len(event.body)
    if run:
        yield run


_Text = TypeVar("_Text", str, bytes)


def _joined(separator: _Text, parts: list[_Text]) -> tuple[_Text, list[int] | None]:
    """``parts`` joined by ``separator``, and their lengths if one of them holds it."""
    sizes = [len(p) for p in parts] if any(separator in p for p in parts) else None
    return separator.join(parts), sizes


def _split(separator: _Text, joined: _Text, sizes: Sequence[int] | None, count: int) -> list[_Text]:
    if sizes is None:
        parts = joined.split(separator)
    else:
        # Each part is followed by one separator, the last excepted.
        ends = list(itertools.accumulate(sizes, lambda end, size: end + 1 + size))
        starts = itertools.chain((0,), (end + 1 for end in ends))
        parts = list(map(joined.__getitem__, map(slice, starts, ends)))
    if len(parts) != count:
        raise StoreError(f"A segment of {count} events split into {len(parts)}: it is damaged.")
    return parts


def rows_for(limit: int, events_per_segment: float | None) -> int:
    """Segments a read of ``limit`` events asks for, given the events per segment of the
    scope's latest read (None: no read yet). Two more than that size says, as the first
    may be cut by the cursor and sizes vary; a segment asked for and not answered costs
    the server a look at its row, not at its bodies."""
    if events_per_segment is None:
        wanted = READ_ROWS_FIRST
    else:
        wanted = math.ceil(limit / max(events_per_segment, 1.0)) + 2
    return max(1, min(limit, READ_ROWS_MAX, wanted))


def events_of(
    topic: str, org_id: str, rows: Sequence[ReadRow], after_seq: int, limit: int
) -> list[StoredEvent]:
    """The events after ``after_seq`` in ``rows`` (segments of one scope), in order, at
    most ``limit``: split and built in C (see the module's docstring)."""
    events: list[StoredEvent] = []
    for row in sorted(rows, key=_FIRST_SEQ):
        count = row.last_seq - row.first_seq + 1
        skip = max(0, after_seq + 1 - row.first_seq)
        take = min(count - skip, limit - len(events))
        if take <= 0:
            continue
        columns = zip(
            range(row.first_seq, row.last_seq + 1),
            _split("\n", row.ids, row.id_sizes, count),
            itertools.repeat(org_id),
            itertools.repeat(row.site_id),
            itertools.repeat(topic),
            itertools.repeat(row.newest),
            _split(b"\n", _bodies(row), row.body_sizes, count),
        )
        events.extend(map(sql.new_event, itertools.islice(columns, skip, skip + take)))
        if len(events) >= limit:
            break
    return events


def _packed(joined: bytes) -> tuple[bytes, bool]:
    """What a segment stores of its joined bodies, and whether it is an lz4 block: the
    block where it is shorter."""
    block: bytes = lz4.block.compress(joined)
    return (block, True) if len(block) < len(joined) else (joined, False)


def _bodies(row: ReadRow) -> bytes:
    if not row.bodies_lz4:
        return row.bodies
    try:
        joined: bytes = lz4.block.decompress(row.bodies)
    except lz4.block.LZ4BlockError as exc:
        raise StoreError(f"A segment's bodies do not decompress ({exc}): it is damaged.") from exc
    return joined


_FIRST_SEQ = operator.attrgetter("first_seq")
