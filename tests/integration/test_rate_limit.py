"""API call budgets shared by the processes of a deployment through the store."""

from __future__ import annotations

import pytest

from misthook.errors import RateLimitedError
from misthook.services.ratelimit import RateLimiter
from misthook.store.base import Store

HOUR_START = 1_800_000_000.0 // 3600 * 3600


class Clock:
    def __init__(self) -> None:
        self.now = HOUR_START + 10

    def __call__(self) -> float:
        return self.now


async def test_two_processes_share_one_budget(store: Store, store_twin: Store) -> None:
    """Two limiters on two store instances (two API processes): once both synced, the
    token's calls in both count against one budget of the hour; other tokens and the
    next hour are unaffected."""
    clock = Clock()
    first, second = RateLimiter(5, clock, store), RateLimiter(5, clock, store_twin)
    for _ in range(3):
        first.hit("tok")
    for _ in range(2):
        second.hit("tok")
    await first.sync()
    await second.sync()  # learns 5: the budget is spent
    with pytest.raises(RateLimitedError):
        second.hit("tok")
    await first.sync()  # nothing of its own to add: it still knows only its own 3
    first.hit("tok")  # the overshoot a process may take between two syncs
    await first.sync()  # learns 6
    with pytest.raises(RateLimitedError):
        first.hit("tok")
    first.hit("other")
    clock.now = HOUR_START + 3600 + 1
    first.hit("tok")
    second.hit("tok")
    await first.sync()
    await second.sync()
    assert (await store.add_counts({f"tok:{int(clock.now // 3600)}": 0}, 1e12, clock.now)) == {
        f"tok:{int(clock.now // 3600)}": 2
    }


async def test_a_process_counts_its_calls_once(store: Store) -> None:
    """Calls synced are not counted again at the next sync."""
    clock = Clock()
    limiter = RateLimiter(100, clock, store)
    for _ in range(7):
        limiter.hit("tok")
    await limiter.sync()
    await limiter.sync()
    limiter.hit("tok")
    await limiter.sync()
    key = f"tok:{int(clock.now // 3600)}"
    assert await store.add_counts({key: 0}, 1e12, clock.now) == {key: 8}
