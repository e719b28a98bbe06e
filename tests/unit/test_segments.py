"""How the PostgreSQL log cuts appends into segments and reads events back out of them."""

from __future__ import annotations

import pytest

from misthook.errors import StoreError
from misthook.store import segments
from misthook.store.base import NewEvent
from misthook.store.segments import (
    READ_ROWS_FIRST,
    READ_ROWS_MAX,
    SEGMENT_MAX_BYTES,
    SEGMENT_MAX_EVENTS,
    ReadRow,
    Segment,
)

ORG = "o1"


def new(n: int, site: str | None = "s1", topic: str = "audits", at: float = 10.0) -> NewEvent:
    return NewEvent(f"ev-{n}", ORG, site, topic, at, b'{"n":%d}' % n)


def read_back(segment: Segment) -> ReadRow:
    """The row a read answers for an appended segment."""
    return ReadRow(
        segment.first_seq,
        segment.last_seq,
        segment.newest,
        segment.ids,
        segment.id_sizes,
        segment.bodies,
        segment.body_sizes,
        segment.site_id,
        segment.bodies_lz4,
    )


def test_an_append_is_cut_where_scope_or_time_changes() -> None:
    events = [new(1), new(2), new(3, site=None), new(4, topic="alarms"), new(5, at=11.0), new(6)]
    cut = segments.cut(events, 100)
    assert [(s.first_seq, s.last_seq, s.site_id, s.topic, s.newest) for s in cut] == [
        (100, 101, "s1", "audits", 10.0),
        (102, 102, None, "audits", 10.0),
        (103, 103, "s1", "alarms", 10.0),
        (104, 104, "s1", "audits", 11.0),
        (105, 105, "s1", "audits", 10.0),
    ]
    first = cut[0]
    assert first.ids == "ev-1\nev-2" and first.bodies == b'{"n":1}\n{"n":2}'
    assert first.id_sizes is None and first.body_sizes is None
    assert not first.bodies_lz4  # lz4 does not make two short bodies shorter


def test_bodies_are_compressed_where_lz4_makes_them_shorter() -> None:
    alike = [
        NewEvent(f"ev-{n}", ORG, "s1", "audits", 1.0, b'{"n":%d,"pad":"%s"}' % (n, b"x" * 100))
        for n in range(50)
    ]
    [segment] = segments.cut(alike, 1)
    joined = b"\n".join(e.body for e in alike)
    assert segment.bodies_lz4 and len(segment.bodies) < len(joined) / 4
    events = segments.events_of("audits", ORG, [read_back(segment)], 10, 3)
    assert [(e.seq, e.body) for e in events] == [(n + 1, alike[n].body) for n in (10, 11, 12)]


def test_a_segment_whose_ids_or_bodies_hold_newlines_keeps_their_lengths() -> None:
    """A producer's own id, or a body not from bus.publish, may hold the separator."""
    odd = [
        NewEvent("a\nb", ORG, "s1", "audits", 1.0, b"{}"),
        NewEvent("c", ORG, "s1", "audits", 1.0, b'{"x":\n1}'),
        NewEvent("", ORG, "s1", "audits", 1.0, b"\n"),
    ]
    [segment] = segments.cut(odd, 7)
    assert segment.id_sizes == [3, 1, 0] and segment.body_sizes == [2, 8, 1]
    events = segments.events_of("audits", ORG, [read_back(segment)], 6, 10)
    assert [(e.seq, e.id, e.body, e.timestamp) for e in events] == [
        (7, "a\nb", b"{}", 1.0),
        (8, "c", b'{"x":\n1}', 1.0),
        (9, "", b"\n", 1.0),
    ]


def test_a_damaged_segment_is_an_error_not_wrong_events() -> None:
    [segment] = segments.cut([new(1), new(2)], 1)
    damaged = read_back(segment)._replace(bodies=b'{"n":1}')
    with pytest.raises(StoreError, match="damaged"):
        segments.events_of("audits", ORG, [damaged], 0, 10)
    [packed] = segments.cut([new(n) for n in range(100)], 1)
    assert packed.bodies_lz4
    cut_short = read_back(packed)._replace(bodies=packed.bodies[:-10])
    with pytest.raises(StoreError, match="damaged"):
        segments.events_of("audits", ORG, [cut_short], 0, 10)


def test_segments_are_bounded_in_events_and_in_bytes() -> None:
    many = [new(n) for n in range(2 * SEGMENT_MAX_EVENTS + 1)]
    sizes = [s.last_seq - s.first_seq + 1 for s in segments.cut(many, 1)]
    assert sizes == [SEGMENT_MAX_EVENTS] * 2 + [1]
    big = SEGMENT_MAX_BYTES // 2
    heavy = [NewEvent(f"ev-{n}", ORG, "s1", "audits", 1.0, b"x" * big) for n in range(3)]
    oversized = NewEvent("huge", ORG, "s1", "audits", 1.0, b"y" * (SEGMENT_MAX_BYTES + 1))
    cut = segments.cut([*heavy, oversized, heavy[0]], 1)
    assert [s.ids for s in cut] == ["ev-0\nev-1", "ev-2", "huge", "ev-0"]
    assert [(s.first_seq, s.last_seq) for s in cut] == [(1, 2), (3, 3), (4, 4), (5, 5)]


def test_events_of_rows_start_after_the_cursor_and_stop_at_the_limit() -> None:
    rows = [read_back(s) for s in segments.cut([new(n) for n in range(10)], 1)]
    [row] = rows
    events = segments.events_of("audits", ORG, rows, 3, 4)
    assert [(e.seq, e.id, e.body) for e in events] == [
        (4, "ev-3", b'{"n":3}'),
        (5, "ev-4", b'{"n":4}'),
        (6, "ev-5", b'{"n":5}'),
        (7, "ev-6", b'{"n":6}'),
    ]
    assert all(e.org_id == ORG and e.site_id == "s1" and e.topic == "audits" for e in events)
    assert segments.events_of("audits", ORG, [row], 10, 5) == []


def test_events_of_several_rows_come_in_sequence_order() -> None:
    """Of an org read: segments of two sites, answered in any order."""
    appended = segments.cut([new(1), new(2, site="s2"), new(3), new(4)], 1)
    rows = [read_back(s) for s in reversed(appended)]
    events = segments.events_of("audits", ORG, rows, 0, 10)
    assert [(e.seq, e.site_id) for e in events] == [(1, "s1"), (2, "s2"), (3, "s1"), (4, "s1")]
    assert [e.seq for e in segments.events_of("audits", ORG, rows, 1, 2)] == [2, 3]


def test_a_read_asks_for_the_segments_its_limit_needs() -> None:
    assert segments.rows_for(1000, None) == READ_ROWS_FIRST
    assert segments.rows_for(3, None) == 3  # never more segments than events wanted
    assert segments.rows_for(1000, 500.0) == 4  # two whole ones, the first may be cut, spare
    assert segments.rows_for(1000, 1.0) == READ_ROWS_MAX  # one event each: a bounded read
    assert segments.rows_for(1, 0.5) == 1
