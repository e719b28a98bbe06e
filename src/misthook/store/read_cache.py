"""Events the store returned to reads, kept so that other streams of the scope reuse them.

Several webhooks on one topic (the common case: Mist fans one topic out to many URLs)
each have a stream that reads the same events, usually close behind one another. In a
process that did not append those events itself (a ``misthook worker`` beside the API,
or a backlog older than the tail), each stream would read them from the store again:
ten webhooks, ten reads of every event, and on PostgreSQL a third of the CPU of the
whole delivery path went to that.

``ReadCache`` keeps, per scope (topic + org, or topic + org + site), runs of events
whose ranges ``(low, high]`` it knows to be complete: a store read of the events after
``s`` that returned ``e1..ek`` proves there is no other event of that scope with
``s < seq <= ek``, because seqs become visible in increasing order (see the stores).
A read that continues or overlaps a run extends it, one elsewhere starts a run of its
own, and runs that come to meet are merged. Several runs, not one: streams of a scope far
apart (a worker that took over some of them) each read where they are, and with one run
each of their reads replaced it, so no stream found the events of another any more.
A read that starts inside the run gets what the run holds after it, up to ``limit``, and
the tail (``TailCachedStore``) asks the store for the rest with the read the stream
ahead makes next: streams one or a few events apart (each webhook's stream starts at the
newest event when it is created) then share that read, instead of each asking the store
for a batch shifted by a few events.

The cache holds copies of durable events and is bounded in events and bytes; the
oldest reads are dropped first. Events are immutable, so a cached one is never stale;
a prune elsewhere may let it deliver an event past the retention (harmless, as the tail).
"""

from __future__ import annotations

import bisect
import collections
import operator
from collections.abc import Sequence

from misthook.store.base import StoredEvent, event_body, event_seq

Scope = tuple[str, str, str | None]  # topic, org_id, site_id (None: the org's events)

# What one cached event costs beside its body, here and in the tail cache: the
# StoredEvent, its id string and the references to it (sys.getsizeof, rounded up).
EVENT_OVERHEAD_BYTES = 256


class _Run:
    """Every event of one scope with ``low < seq <= seqs[-1]``, by seq."""

    __slots__ = ("events", "live", "low", "seqs")

    def __init__(self, low: int) -> None:
        self.low = low
        self.events: list[StoredEvent] = []
        self.seqs: list[int] = []
        self.live = True  # False once merged into another run or emptied

    @property
    def high(self) -> int:
        return self.seqs[-1] if self.seqs else self.low

    def extend(self, events: Sequence[StoredEvent]) -> list[StoredEvent]:
        """Add those of ``events`` (in order) beyond the end; what was added."""
        added = list(events[bisect.bisect_right(events, self.high, key=event_seq) :])
        self.events.extend(added)
        self.seqs.extend(map(event_seq, added))
        return added


_LOW = operator.attrgetter("low")


class ReadCache:
    def __init__(self, *, max_events: int, max_bytes: int) -> None:
        self.max_events = max_events
        self.max_bytes = max_bytes
        self.enabled = max_events > 0 and max_bytes > 0
        # Per scope, its runs by low; each ends before the next begins.
        self._runs: dict[Scope, list[_Run]] = {}
        # (scope, run, highest seq) of each read kept, oldest first: what eviction drops
        self._kept: collections.deque[tuple[Scope, _Run, int]] = collections.deque()
        self.events = 0
        self.bytes = 0
        self.hits = 0

    def get(self, scope: Scope, after_seq: int, limit: int) -> list[StoredEvent] | None:
        """Up to ``limit`` events after ``after_seq``, or None when no run holds the next
        one (the store must be asked). Fewer than ``limit``: the run's end came first,
        and more may be in the store."""
        run = self._holding(scope, after_seq)
        if run is None or not after_seq < run.high or limit <= 0:
            return None
        start = bisect.bisect_right(run.seqs, after_seq)
        self.hits += 1
        return run.events[start : start + limit]

    def put(self, scope: Scope, after_seq: int, events: Sequence[StoredEvent]) -> None:
        """Keep what a store read of the events after ``after_seq`` returned."""
        if not self.enabled or not events:
            return
        runs = self._runs.setdefault(scope, [])
        run = self._holding(scope, after_seq)
        if run is None:
            run = _Run(after_seq)
            runs.insert(bisect.bisect_right(runs, after_seq, key=_LOW), run)
        added = run.extend(events)
        if added:
            self._count(added, 1)
            self._kept.append((scope, run, run.high))
        self._merge_after(scope, run)
        self._evict()

    def clear(self) -> None:
        self._runs.clear()
        self._kept.clear()
        self.events = self.bytes = 0

    def _holding(self, scope: Scope, after_seq: int) -> _Run | None:
        """The run of ``scope`` with ``low <= after_seq <= high``, if any."""
        runs = self._runs.get(scope)
        if not runs:
            return None
        at = bisect.bisect_right(runs, after_seq, key=_LOW) - 1
        if at < 0 or runs[at].high < after_seq:
            return None
        return runs[at]

    def _merge_after(self, scope: Scope, run: _Run) -> None:
        """Fold into ``run`` the runs after it that it now reaches (the union of two
        complete ranges that meet is complete)."""
        runs = self._runs[scope]
        at = runs.index(run) + 1
        while at < len(runs) and runs[at].low <= run.high:
            later = runs.pop(at)
            later.live = False
            overlap = bisect.bisect_right(later.seqs, run.high)
            self._count(later.events[:overlap], -1)
            if run.extend(later.events[overlap:]):
                # Its own entries in _kept are dead now: this one drops what it brought.
                self._kept.append((scope, run, run.high))

    def _count(self, events: Sequence[StoredEvent], sign: int) -> None:
        self.events += sign * len(events)
        body_bytes = sum(map(len, map(event_body, events)))
        self.bytes += sign * (body_bytes + EVENT_OVERHEAD_BYTES * len(events))

    def _evict(self) -> None:
        while self._kept and (self.events > self.max_events or self.bytes > self.max_bytes):
            scope, run, upto = self._kept.popleft()
            if not run.live or upto <= run.low:
                continue
            # Dropping from the front keeps the run complete: its low moves up.
            cut = bisect.bisect_right(run.seqs, upto)
            self._count(run.events[:cut], -1)
            del run.events[:cut], run.seqs[:cut]
            if run.seqs:
                run.low = upto
                continue
            run.live = False
            runs = self._runs[scope]
            runs.remove(run)
            if not runs:
                del self._runs[scope]
