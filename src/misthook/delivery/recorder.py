"""Bulk writer of the delivery hot path: attempt records and cursor moves, one commit.

The worker never commits per message. It hands each attempt record, parked message and
stream save to the recorder, which gathers everything for ``FLUSH_INTERVAL_S`` (or until
``max_ops`` are waiting) and writes it all in one transaction. Saves of the same stream
collapse to the newest, so a stream that acknowledged fifty messages since the last flush
costs one cursor update.

A stream task that must know its state is durable (before it gives its lease back) calls
``sync()``.

A commit that fails because the database is down or restarting loses nothing it can
keep: the stream saves stay (a later save of a stream is newer and wins), and the records
go back in front of the newer ones, to be written with the next flush, in order. Only
beyond ``max_kept`` records, so that memory stays bounded in a long outage, are the
oldest dropped, and the log says how many. A commit whose stream saves go through alone
had a record the database refuses: those records are dropped, as they would block every
commit after them.
"""

from __future__ import annotations

import asyncio
import logging

from misthook.errors import StoreError
from misthook.store.base import Doc, Op, Put, SaveStream, Store

log = logging.getLogger(__name__)


# How long attempt records and cursor moves gather before one commit. At 20 ms rather than
# 5 PostgreSQL spent a fifth less CPU per single-event message (25 -> 20 us, `make bench`'s
# PostgreSQL case); a crash re-sends at most what was answered in the last 20 ms, and the
# stream that gives its lease back flushes at once (sync).
FLUSH_INTERVAL_S = 0.02
# Records kept through failed commits, at most (about 1 KB each).
MAX_KEPT_RECORDS = 50_000


class Recorder:
    def __init__(
        self,
        store: Store,
        *,
        flush_interval_s: float = FLUSH_INTERVAL_S,
        max_ops: int = 1000,
        max_kept: int = MAX_KEPT_RECORDS,
    ) -> None:
        self._store = store
        self._flush_interval_s = flush_interval_s
        self._max_ops = max_ops
        self._max_kept = max_kept
        self._failing = False  # the last commit failed: say so once, and when it ends
        self._puts: list[Put] = []
        self._saves: dict[tuple[str, str], SaveStream] = {}
        self._dirty = asyncio.Event()
        self._lock = asyncio.Lock()

    def record(self, collection: str, doc: Doc) -> None:
        """Store ``doc`` with the next flush."""
        self._puts.append(Put(collection, doc))
        self._dirty.set()

    def save(self, op: SaveStream) -> None:
        """Write this stream state with the next flush (replacing an unflushed older one)."""
        self._saves[(op.webhook_id, op.topic)] = op
        self._dirty.set()

    @property
    def pending(self) -> int:
        return len(self._puts) + len(self._saves)

    async def sync(self) -> None:
        """Return once everything handed over before this call is committed."""
        await self.flush()

    async def flush(self) -> None:
        async with self._lock:
            if not self._puts and not self._saves:
                return
            puts, saves = self._puts, self._saves
            self._puts, self._saves = [], {}
            self._dirty.clear()
            ops: list[Op] = [*puts, *saves.values()]
            try:
                await self._store.commit(ops)
            except StoreError as exc:
                if not (puts and saves and await self._commits(list(saves.values()))):
                    self._keep(puts, saves, exc)
                    raise
                # The cursor moves went through alone. The records again, alone: if they
                # fail once more, the database refuses one of them (none that misthook
                # writes should be), and they would block every commit after them.
                if not await self._commits(list(puts)):
                    log.error("%d delivery records refused (%s): dropped", len(puts), exc)
            if self._failing:
                self._failing = False
                log.info("delivery records are written again (%d in this commit)", len(puts))

    async def _commits(self, ops: list[Op]) -> bool:
        try:
            await self._store.commit(ops)
        except StoreError:
            return False
        return True

    def _keep(
        self, puts: list[Put], saves: dict[tuple[str, str], SaveStream], exc: Exception
    ) -> None:
        """Put back what a failed commit held, in front of what came since."""
        for key, op in saves.items():
            self._saves.setdefault(key, op)
        self._puts[:0] = puts
        dropped = len(self._puts) - self._max_kept
        if dropped > 0:
            del self._puts[:dropped]
            log.error(
                "dropped the %d oldest delivery records: the store has failed for a while and"
                " at most %d are kept (%s)",
                dropped,
                self._max_kept,
                exc,
            )
        elif not self._failing:
            log.warning(
                "could not write %d delivery records (%s); keeping them, trying again",
                len(self._puts),
                exc,
            )
        self._failing = True
        self._dirty.set()

    async def run(self, stop: asyncio.Event) -> None:
        """Flush in the background until ``stop``; a last flush on the way out."""
        try:
            while not stop.is_set():
                await self._dirty.wait()
                if self.pending < self._max_ops:
                    await asyncio.sleep(self._flush_interval_s)
                try:
                    await self.flush()
                except StoreError:
                    await asyncio.sleep(0.5)
        finally:
            try:
                await self.flush()
            except StoreError as exc:
                log.error(
                    "the last flush failed (%s): %d delivery records and %d stream saves are"
                    " lost (the streams send those messages again)",
                    exc,
                    len(self._puts),
                    len(self._saves),
                )

    def wake(self) -> None:
        """Make ``run`` return from its wait (used on stop)."""
        self._dirty.set()
