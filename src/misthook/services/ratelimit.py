"""Per-token call budget, as Mist: N calls per hour, then 429 with Retry-After.

A fixed one-hour window per token, kept in the process's memory: cheap, and with
several API processes each enforces its own budget (documented in the README).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from misthook.errors import RateLimitedError

WINDOW_S = 3600.0


class RateLimiter:
    def __init__(self, per_hour: int, clock: Callable[[], float] = time.time) -> None:
        self._per_hour = per_hour
        self._clock = clock
        self._windows: dict[str, tuple[float, int]] = {}

    def hit(self, key: str) -> None:
        """Count one call for ``key``; raise RateLimitedError past the budget."""
        now = self._clock()
        start, used = self._windows.get(key, (now, 0))
        if now - start >= WINDOW_S:
            start, used = now, 0
        if used >= self._per_hour:
            raise RateLimitedError(retry_after_s=max(1, int(start + WINDOW_S - now + 0.999)))
        self._windows[key] = (start, used + 1)
        if len(self._windows) > 100_000:  # forget long-idle tokens so memory stays bounded
            self._windows = {k: v for k, v in self._windows.items() if now - v[0] < WINDOW_S}
