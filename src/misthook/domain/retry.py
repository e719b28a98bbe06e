"""Retry policy: how long a failed message waits before its next attempt.

Pure. The schedule lists the waits after the 1st, 2nd, ... failed attempt; when it runs
out the caller parks the message (resendable). Each wait gets +-``jitter`` so receivers
that fail together are not retried together.

- ``Retry-After`` from the receiver is honoured between the scheduled wait and
  ``retry_after_max_s`` (a receiver cannot make us retry sooner than planned, nor park a
  stream for days).
- 429 Too Many Requests and 503 Service Unavailable never wait less than the schedule
  (jitter only lengthens the wait).
- 410 Gone disables the webhook (Standard Webhooks: "stop sending it messages").
"""

from __future__ import annotations

import dataclasses
import random

OVERLOAD_STATUSES = frozenset({429, 503})
GONE = 410


@dataclasses.dataclass(frozen=True)
class RetryPolicy:
    schedule_s: tuple[float, ...]
    jitter: float = 0.2
    retry_after_max_s: float = 3600.0

    def __post_init__(self) -> None:
        if any(wait < 0 for wait in self.schedule_s):
            raise ValueError("retry waits cannot be negative")
        if not 0 <= self.jitter < 1:
            raise ValueError("jitter must be in [0, 1)")

    @property
    def max_attempts(self) -> int:
        """Attempts a message gets in all: the first one plus one per scheduled wait."""
        return len(self.schedule_s) + 1

    def next_delay_s(
        self,
        attempt: int,
        *,
        status_code: int | None,
        retry_after_s: float | None,
        rng: random.Random,
    ) -> float | None:
        """Seconds to wait after failed attempt number ``attempt`` (1-based); None: park it."""
        if attempt < 1:
            raise ValueError("attempt counts failed attempts and starts at 1")
        if attempt > len(self.schedule_s):
            return None
        scheduled = self.schedule_s[attempt - 1]
        delay = scheduled * (1.0 + rng.uniform(-self.jitter, self.jitter))
        if status_code in OVERLOAD_STATUSES:
            delay = max(delay, scheduled)
        if retry_after_s is not None:
            delay = max(delay, min(retry_after_s, self.retry_after_max_s))
        return delay


def disables_webhook(status_code: int | None) -> bool:
    """Whether this answer means the receiver is gone for good (410 Gone)."""
    return status_code == GONE
