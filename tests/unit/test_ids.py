"""Bulk UUIDs: valid RFC 9562 strings, unique, and version 7 ones ordered by time."""

from __future__ import annotations

import uuid

from misthook.ids import TimeOrderedIds, random_uuids


def test_random_uuids_are_version_4_and_unique() -> None:
    made = random_uuids(1000)
    assert len(made) == len(set(made)) == 1000
    for text in made:
        parsed = uuid.UUID(text)
        assert str(parsed) == text
        assert parsed.version == 4 and parsed.variant == uuid.RFC_4122
    assert random_uuids(0) == []


def test_time_ordered_ids_carry_the_clock_in_milliseconds() -> None:
    now = [1_796_000_000.1234]
    ids = TimeOrderedIds(clock=lambda: now[0])
    text = ids.next()
    parsed = uuid.UUID(text)
    assert str(parsed) == text
    assert parsed.version == 7 and parsed.variant == uuid.RFC_4122
    assert parsed.int >> 80 == 1_796_000_000_123


def test_time_ordered_ids_sort_by_time_and_never_repeat() -> None:
    ms = [1_796_000_000_000]
    ids = TimeOrderedIds(clock=lambda: (ms[0] + 0.5) / 1000)
    made = []
    for _ in range(2000):  # several pools of random bits
        made.append(ids.next())
        ms[0] += 1
    assert len(set(made)) == len(made)
    assert made == sorted(made)
    # within one millisecond: unique, in no particular order
    same_ms = [ids.next() for _ in range(1000)]
    assert len(set(same_ms)) == 1000
    assert len({s[:13] for s in same_ms}) == 1
