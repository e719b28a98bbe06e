"""The bench's steady rate leaves out a drain's start and end, and only those."""

from __future__ import annotations

import math

from bench.run import steady_rates


def test_the_middle_of_a_drain_gives_its_rate_whatever_its_start_and_end() -> None:
    # 1,000 messages of 2 events at 100 messages/s, after a slow start and before a tail
    steady = [(10.0 + i / 100, 2) for i in range(1000)]
    slow_start = [(i * 0.5, 2) for i in range(20)]  # 40 events in the first 10 s
    tail = [(21.0 + i, 2) for i in range(20)]  # the last 40 events, one message a second
    stats = {"timeline": tail + steady + slow_start}  # the order does not matter
    events_per_s, messages_per_s = steady_rates(stats)
    assert math.isclose(events_per_s, 200, rel_tol=0.01)
    assert math.isclose(messages_per_s, 100, rel_tol=0.01)
    first_to_last = 2080 / (tail[-1][0] - slow_start[0][0])
    assert first_to_last < 0.5 * events_per_s


def test_too_few_arrivals_give_no_rate() -> None:
    assert all(math.isnan(r) for r in steady_rates({"timeline": [(1.0, 5)]}))
    assert all(math.isnan(r) for r in steady_rates({"timeline": []}))
