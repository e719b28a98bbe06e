"""What a worker delivered lately, as one log line per interval (quiet while idle).

An operator watching ``misthook worker`` (or ``serve``) sees that deliveries flow, how
fast, and whether receivers fail, without searching the delivery log.
"""

from __future__ import annotations

import time
from collections.abc import Callable


class Progress:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._since = clock()
        self.messages = 0
        self.events = 0
        self.failed = 0

    def sent(self, ok: bool, events: int) -> None:
        """One attempt: taken by its receiver (with ``events`` events) or not."""
        if ok:
            self.messages += 1
            self.events += events
        else:
            self.failed += 1

    def line(self, streams: int, workers: int) -> str | None:
        """The line for the interval that ends now (None if nothing was attempted in it);
        the next interval starts from zero."""
        now = self._clock()
        elapsed, self._since = max(now - self._since, 1e-9), now
        messages, events, failed = self.messages, self.events, self.failed
        self.messages = self.events = self.failed = 0
        if not messages and not failed:
            return None
        text = (
            f"delivered {messages:,} messages ({events:,} events, {events / elapsed:,.0f}/s)"
            f" in the last {elapsed:.1f} s"
        )
        if failed:
            text += f"; {failed:,} attempts failed (see the delivery log)"
        text += f"; {streams} streams held"
        if workers > 1:
            text += f", {workers} workers alive"
        return text
