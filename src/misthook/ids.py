"""UUID strings made in bulk: random ones (version 4) and time-ordered ones (version 7).

``uuid.uuid4()`` makes a system call per id that gives up the GIL; under load the SQLite
thread holds it and every id then cost ~10-14 us, more than the rest of the publish path
together. Both kinds here draw their random bits from one ``os.urandom`` call for many.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable

# The RFC 9562 variant (binary 10) in the top bits of the 17th hex digit, kept random below.
_VARIANT = {c: "89ab"[int(c, 16) & 3] for c in "0123456789abcdef"}
_POOL = 256  # ids per os.urandom call


def random_uuids(count: int) -> list[str]:
    """``count`` random (version 4) UUID strings."""
    if count <= 0:
        return []
    h = os.urandom(16 * count).hex()
    variant = _VARIANT
    return [
        f"{h[i : i + 8]}-{h[i + 8 : i + 12]}-4{h[i + 13 : i + 16]}-"
        f"{variant[h[i + 16]]}{h[i + 17 : i + 20]}-{h[i + 20 : i + 32]}"
        for i in range(0, 32 * count, 32)
    ]


class TimeOrderedIds:
    """Version 7 UUID strings: the Unix time in milliseconds, then 74 random bits.

    For the ids of a table written at a high rate (the delivery log): a B-tree takes ids
    that grow with time at its right edge, where random ones land on a different page each
    time (on PostgreSQL, a tenth of the CPU of each insert). Ids of one millisecond are in
    no particular order among themselves."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._random = ""
        self._at = 0

    def next(self) -> str:
        if self._at >= len(self._random):
            self._random, self._at = os.urandom(10 * _POOL).hex(), 0
        r = self._random[self._at : self._at + 20]
        self._at += 20
        t = f"{int(self._clock() * 1000) & 0xFFFF_FFFF_FFFF:012x}"
        return f"{t[:8]}-{t[8:]}-7{r[:3]}-{_VARIANT[r[3]]}{r[4:7]}-{r[7:19]}"
