"""A background loop goes on through store failures and bugs, and stops when told."""

from __future__ import annotations

import asyncio
import logging

import pytest

from misthook import periodic
from misthook.errors import StoreError


async def test_the_loop_survives_a_store_failure_and_a_bug_and_stops_when_told(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    stop = asyncio.Event()
    outcomes = [StoreError("PostgreSQL: connection refused"), KeyError("a bug"), None, None]
    steps = 0

    async def step() -> None:
        nonlocal steps
        steps += 1
        outcome = outcomes[steps - 1] if steps <= len(outcomes) else None
        if steps == len(outcomes):
            stop.set()
        if outcome is not None:
            raise outcome

    logger = logging.getLogger("misthook.test")
    await asyncio.wait_for(periodic.every(0.01, stop, step, logger, "pruning"), 5)
    assert steps == len(outcomes)  # a step after each failure; none after the stop
    lines = [(r.levelname, r.getMessage(), r.exc_info is not None) for r in caplog.records]
    assert lines == [
        (
            "WARNING",
            "pruning failed (PostgreSQL: connection refused); trying again, and saying so"
            " when it works",
            False,
        ),
        ("ERROR", "pruning failed; trying again in 0.01 s", True),  # with its traceback
        ("INFO", "pruning works again after 1 failed tries", False),
    ]


@pytest.mark.parametrize("wait_first", [False, True])
async def test_a_step_comes_first_at_once_or_after_a_wait_and_once_more_at_the_stop(
    wait_first: bool,
) -> None:
    stop = asyncio.Event()
    steps: list[bool] = []  # whether stop was set when each step ran

    async def step() -> None:
        steps.append(stop.is_set())

    loop = asyncio.create_task(
        periodic.every(
            60.0, stop, step, logging.getLogger("misthook.test"), "x", wait_first=wait_first
        )
    )
    await asyncio.sleep(0.05)
    assert steps == ([] if wait_first else [False])
    stop.set()
    await asyncio.wait_for(loop, 5)
    # With wait_first, the stop ends the wait and what the last interval gathered is
    # still handled; without, the loop ends at the stop.
    assert steps == ([True] if wait_first else [False])
