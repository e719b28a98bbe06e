"""Retry policy: schedule, jitter bounds, Retry-After, overload floors, 410."""

from __future__ import annotations

import random

import pytest

from misthook.domain.retry import RetryPolicy, disables_webhook

POLICY = RetryPolicy(schedule_s=(5.0, 60.0, 600.0))


def test_delays_follow_the_schedule_within_jitter() -> None:
    """Each failed attempt waits its scheduled time +-20 %, over many draws."""
    rng = random.Random(7)
    for attempt, scheduled in enumerate(POLICY.schedule_s, start=1):
        delays = [
            POLICY.next_delay_s(attempt, status_code=500, retry_after_s=None, rng=rng)
            for _ in range(500)
        ]
        assert all(d is not None and 0.8 * scheduled <= d <= 1.2 * scheduled for d in delays)
        values = [d for d in delays if d is not None]
        assert max(values) - min(values) > 0.2 * scheduled  # jitter really spreads them


def test_exhausted_schedule_parks_the_message() -> None:
    """After the last scheduled wait there is no next attempt: None."""
    rng = random.Random(1)
    assert POLICY.next_delay_s(4, status_code=500, retry_after_s=None, rng=rng) is None
    assert POLICY.max_attempts == 4


def test_attempt_numbers_start_at_one() -> None:
    """attempt counts failures so far; 0 is a caller bug."""
    with pytest.raises(ValueError):
        POLICY.next_delay_s(0, status_code=None, retry_after_s=None, rng=random.Random())


def test_no_jitter_gives_the_schedule_exactly() -> None:
    """jitter=0 makes the delays deterministic."""
    policy = RetryPolicy(schedule_s=(1.0, 2.0), jitter=0.0)
    rng = random.Random()
    assert policy.next_delay_s(2, status_code=None, retry_after_s=None, rng=rng) == 2.0


@pytest.mark.parametrize("status", [429, 503])
def test_overload_statuses_never_wait_less_than_the_schedule(status: int) -> None:
    """429 and 503 lose the shortening half of the jitter."""
    rng = random.Random(3)
    delays = [
        POLICY.next_delay_s(2, status_code=status, retry_after_s=None, rng=rng) for _ in range(300)
    ]
    assert all(d is not None and 60.0 <= d <= 72.0 for d in delays)


def test_retry_after_lengthens_the_wait_up_to_the_cap() -> None:
    """A longer Retry-After is honoured; one beyond retry_after_max_s is capped."""
    policy = RetryPolicy(schedule_s=(5.0,), jitter=0.0, retry_after_max_s=100.0)
    rng = random.Random()
    assert policy.next_delay_s(1, status_code=429, retry_after_s=40.0, rng=rng) == 40.0
    assert policy.next_delay_s(1, status_code=503, retry_after_s=99999.0, rng=rng) == 100.0


def test_retry_after_cannot_shorten_the_schedule() -> None:
    """Retry-After: 0 does not make us retry sooner than planned."""
    policy = RetryPolicy(schedule_s=(30.0,), jitter=0.0)
    assert policy.next_delay_s(1, status_code=503, retry_after_s=0.0, rng=random.Random()) == 30.0


def test_schedule_longer_than_the_cap_still_applies() -> None:
    """The cap bounds Retry-After, never the operator's own schedule."""
    policy = RetryPolicy(schedule_s=(7200.0,), jitter=0.0, retry_after_max_s=60.0)
    delay = policy.next_delay_s(1, status_code=429, retry_after_s=5000.0, rng=random.Random())
    assert delay == 7200.0


def test_invalid_policies_are_rejected() -> None:
    """Negative waits and jitter outside [0, 1) are configuration errors."""
    with pytest.raises(ValueError):
        RetryPolicy(schedule_s=(-1.0,))
    with pytest.raises(ValueError):
        RetryPolicy(schedule_s=(1.0,), jitter=1.5)


def test_only_gone_disables_the_webhook() -> None:
    """410 Gone disables; other failures, or no answer, do not."""
    assert disables_webhook(410)
    assert not any(disables_webhook(code) for code in (None, 400, 404, 429, 500, 503))
