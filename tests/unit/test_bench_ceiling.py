"""The PostgreSQL case's ceiling for two workers, and the contention probe behind it."""

from __future__ import annotations

import math
import os

import pytest
from bench import contention
from bench.run import Row, _ceiling


@pytest.mark.parametrize(
    ("busy", "slower", "busy_cores_per_one"),
    [
        ((1.0, 1.3), 1.0, 1.3),  # the receiver and PostgreSQL take 0.3 of a core
        ((1.0, 1.3), 1.2, 1.5),  # and each busy process runs 1.2 times the CPU
        ((1.0, 1.0), 1.0, 1.0),  # nothing beside the worker: the cores times one
    ],
)
def test_the_ceiling_counts_what_shares_the_cores_and_the_slowdown(
    busy: tuple[float, float], slower: float, busy_cores_per_one: float
) -> None:
    expected = (os.cpu_count() or 1) / busy_cores_per_one  # 2 / 1.3 on the 2-core machine
    one = Row("one worker", 0, 0, 0.0, 0.0)
    assert math.isclose(_ceiling(one, busy, slower), expected)
    assert f"{expected:.2f}x as two busy processes run {slower:.2f}x" in one.notes[-1]


def test_the_contention_loop_costs_cpu_and_the_slowdown_is_a_ratio_of_two_runs() -> None:
    assert contention.loop_cost_us(0.2) > 0
    # two loops at once on two cores cost each about what one costs alone; a ratio far
    # from 1 would mean the probe measures something else (a wait, a crash's default)
    assert 0.5 < contention.slowdown(0.3) < 3
