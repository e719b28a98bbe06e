"""The garbage collector's settings for misthook's long-running processes.

Delivery builds and drops thousands of small objects a read (a tuple, an id and a body
per event), which reference counting frees; the cyclic collector finds next to nothing
among them, yet at CPython's thresholds (700, 10, 10) it ran so often that it took a
fifth of the CPU of a worker's event reads, and every worker process pays that for every
event it reads (``bench/store_paths.py`` puts reads with both settings side by side).
So the processes that deliver collect less often, and never look again at what start-up
made.
"""

from __future__ import annotations

import gc

# Allocations between collections of the youngest generation (CPython: 700), and
# collections of one generation between those of the next (CPython: 10).
YOUNG_THRESHOLD = 20_000
OLDER_THRESHOLD = 20


def tune() -> None:
    """Collect less often; what exists now (modules, the app) moves out of the
    collector's sight for good. Call it once start-up is done."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG_THRESHOLD, OLDER_THRESHOLD, OLDER_THRESHOLD)
