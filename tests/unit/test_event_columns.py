"""Events built from a read's columns come out in sequence order, each field its own."""

from __future__ import annotations

from misthook.store import sql
from misthook.store.base import StoredEvent


def test_columns_in_any_order_give_events_in_sequence_order() -> None:
    # an aggregate need not keep its subquery's order
    events = sql.events_of_columns(
        "audits",
        "o1",
        [7, 3, 5],
        ["c", "a", "b"],
        ["s3", None, "s5"],
        [7.5, 3.5, 5.5],
        [b"{7}", b"{3}", b"{5}"],
    )
    assert events == [
        StoredEvent(3, "a", "o1", None, "audits", 3.5, b"{3}"),
        StoredEvent(5, "b", "o1", "s5", "audits", 5.5, b"{5}"),
        StoredEvent(7, "c", "o1", "s3", "audits", 7.5, b"{7}"),
    ]
    assert all(type(e) is StoredEvent for e in events)


def test_bodies_end_to_end_are_cut_by_their_sizes() -> None:
    events = sql.unpack_events(
        "ping", "o1", [2, 1], ["b", "a"], ["s", "s"], [2.0, 1.0], [3, 0], b"{x}"
    )
    assert [(e.seq, e.id, e.body) for e in events] == [(1, "a", b""), (2, "b", b"{x}")]
