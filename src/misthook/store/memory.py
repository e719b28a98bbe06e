"""The in-memory store: plain dicts and lists, for tests and ``--database memory://``.

It follows the column rules of ``misthook.store.sql`` so it passes the same contract
suite as the SQL backends. ``commit`` is atomic through an undo log: every applied
operation pushes the closure that reverts it, and a failure runs them backwards.
Nothing awaits inside a method, so each call is atomic for asyncio.
"""

from __future__ import annotations

import bisect
import collections
import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import Any, cast

import orjson

from misthook.errors import StoreError
from misthook.store import sql
from misthook.store.base import (
    AppendEvents,
    CloseStreams,
    CollectionSpec,
    CommitResult,
    Delete,
    DeleteWhere,
    Doc,
    Filter,
    Op,
    OpenStream,
    PruneEvents,
    Put,
    Query,
    SaveStream,
    StoredEvent,
    Stream,
    WorkerLoad,
)
from misthook.store.wakeups import InProcessWakeups

Undo = Callable[[], None]


def _copy(doc: Doc) -> Doc:
    # A JSON round trip: the same copy, and the same type errors, as the SQL backends.
    copied: Doc = orjson.loads(orjson.dumps(doc))
    return copied


def _field(spec: CollectionSpec, doc: Doc, field: str, column: str | None) -> Any:
    """The value a backend compares: the column's when the filter uses one."""
    value = doc.get(field)
    if column == "time":
        return float(cast(float, value)) if sql.is_number(value) else None
    if column is not None:
        return value if isinstance(value, str) else None
    return value


def _matches(spec: CollectionSpec, doc: Doc, raw: Filter) -> bool:
    f = sql.normalize_filter(raw)
    value = _field(spec, doc, f.field, sql.filter_column(spec, f))
    if f.op == "is_null":
        return (value is None) is f.value
    if f.op == "eq":
        return value is not None and value == f.value
    if f.op == "ne":
        return value is None or value != f.value
    if f.op == "in":
        return value is not None and any(value == v for v in f.value)
    if f.op == "contains":
        return isinstance(value, str) and f.value.lower() in value.lower()
    if not sql.is_number(value):
        return False
    if f.op == "gt":
        return bool(value > f.value)
    if f.op == "gte":
        return bool(value >= f.value)
    if f.op == "lt":
        return bool(value < f.value)
    return bool(value <= f.value)


def _sort_key(value: Any) -> tuple[int, Any]:
    # Numbers (SQLite counts booleans among them) before strings; objects as JSON text.
    if isinstance(value, int | float):
        return (0, value)
    if isinstance(value, str):
        return (1, value)
    return (1, orjson.dumps(value).decode())


def _hashable(value: Any) -> Any:
    return orjson.dumps(value) if isinstance(value, dict | list) else value


class _EventLog:
    """Events by sequence, with the two indexes read_events and leasing need."""

    def __init__(self) -> None:
        self.by_seq: dict[int, StoredEvent] = {}
        self.by_org: dict[tuple[str, str], list[int]] = collections.defaultdict(list)
        self.by_site: dict[tuple[str, str, str], list[int]] = collections.defaultdict(list)

    def add(self, event: StoredEvent) -> None:
        self.by_seq[event.seq] = event
        self.by_org[event.topic, event.org_id].append(event.seq)
        if event.site_id is not None:
            self.by_site[event.topic, event.org_id, event.site_id].append(event.seq)

    def remove_newest(self, event: StoredEvent) -> None:
        del self.by_seq[event.seq]
        self.by_org[event.topic, event.org_id].pop()
        if event.site_id is not None:
            self.by_site[event.topic, event.org_id, event.site_id].pop()

    def seqs(self, topic: str, org_id: str, site_id: str | None) -> list[int]:
        if site_id is None:
            return self.by_org.get((topic, org_id), [])
        return self.by_site.get((topic, org_id, site_id), [])


class InMemoryStore:
    """A Store in the process's memory; gone when the process ends."""

    def __init__(self) -> None:
        self._docs: dict[str, dict[str, Doc]] = collections.defaultdict(dict)
        self._log = _EventLog()
        self._last_seq = 0
        self._streams: dict[tuple[str, str], Stream] = {}
        self._workers: dict[str, float] = {}  # owner -> alive until
        self._counters: dict[str, tuple[int, float]] = {}  # key -> (total, expires at)
        self._wakeups = InProcessWakeups()

    async def open(self) -> None:
        return None

    async def close(self) -> None:
        self._wakeups.clear()

    async def schema_version(self) -> int:
        return 0  # no schema: the code is the schema

    # --- documents -------------------------------------------------------------------

    def _select(self, collection: str, filters: Sequence[Filter]) -> list[Doc]:
        spec = sql.spec_of(collection)
        for f in filters:
            sql.normalize_filter(f)  # reject a bad filter even on an empty collection
        docs = self._docs.get(collection, {}).values()
        return [d for d in docs if all(_matches(spec, d, f) for f in filters)]

    async def get(self, collection: str, id: str) -> Doc | None:
        sql.spec_of(collection)
        doc = self._docs.get(collection, {}).get(id)
        return None if doc is None else _copy(doc)

    async def find_one(self, collection: str, filters: tuple[Filter, ...]) -> Doc | None:
        found = await self.query(collection, Query(filters=filters, sort="id", limit=1))
        return found[0] if found else None

    async def query(self, collection: str, query: Query) -> list[Doc]:
        spec = sql.spec_of(collection)
        docs = self._select(collection, query.filters)
        field, descending = sql.parse_sort(query.sort)
        column = sql.sort_column(spec, field)
        keyed = [(_field(spec, d, field, column), d) for d in docs]
        present = sorted(
            ((_sort_key(v), d["id"], d) for v, d in keyed if v is not None),
            key=lambda t: (t[0], t[1]),
            reverse=descending,
        )
        missing = sorted(
            ((d["id"], d) for v, d in keyed if v is None), reverse=descending, key=lambda t: t[0]
        )
        ordered = [t[2] for t in present] + [t[1] for t in missing]
        end = None if query.limit is None else query.offset + query.limit
        return [_copy(d) for d in ordered[query.offset : end]]

    async def count(self, collection: str, filters: tuple[Filter, ...]) -> int:
        return len(self._select(collection, filters))

    async def count_distinct(
        self, collection: str, filters: tuple[Filter, ...], field: str, limit: int
    ) -> list[tuple[Any, int]]:
        spec = sql.spec_of(collection)
        sql.check_field(field)
        column = sql.text_column(spec, field)
        counts: collections.Counter[Any] = collections.Counter()
        values: dict[Any, Any] = {}
        for doc in self._select(collection, filters):
            value = _field(spec, doc, field, column)
            if value is not None:
                key = _hashable(value)
                counts[key] += 1
                values.setdefault(key, value)
        ranked = sorted(counts.items(), key=lambda kv: (-kv[1], _sort_key(values[kv[0]])))
        return [(values[k], n) for k, n in ranked[:limit]]

    # --- commit ----------------------------------------------------------------------

    async def commit(self, ops: Sequence[Op]) -> CommitResult:
        undo: list[Undo] = []
        seqs: list[int] = []
        try:
            for op in ops:
                self._apply(op, undo, seqs)
        except Exception as exc:
            for revert in reversed(undo):
                revert()
            if isinstance(exc, StoreError):
                raise
            raise StoreError(f"Commit failed: {exc}") from exc
        self._wakeups.committed(ops, seqs)
        return CommitResult(event_seqs=seqs)

    def _apply(self, op: Op, undo: list[Undo], seqs: list[int]) -> None:
        if isinstance(op, Put):
            self._put(op, undo)
        elif isinstance(op, Delete):
            sql.spec_of(op.collection)
            self._remove(op.collection, [op.id], undo)
        elif isinstance(op, DeleteWhere):
            ids = [d["id"] for d in self._select(op.collection, op.filters)]
            self._remove(op.collection, ids, undo)
        elif isinstance(op, AppendEvents):
            self._append(op, undo, seqs)
        elif isinstance(op, OpenStream):
            self._open_stream(op, undo)
        elif isinstance(op, CloseStreams):
            for key in [k for k in self._streams if k[0] == op.webhook_id]:
                if key[1] not in op.keep_topics:
                    self._set_stream(key, None, undo)
        elif isinstance(op, SaveStream):
            self._save_stream(op, undo)
        elif isinstance(op, PruneEvents):
            self._prune(op.before, undo)
        else:
            raise StoreError(f"Unknown operation {op!r}.")

    def _put(self, op: Put, undo: list[Undo]) -> None:
        spec = sql.spec_of(op.collection)
        doc_id = sql.column_values(spec, op.doc)[0]
        table = self._docs[op.collection]
        previous = table.get(doc_id)
        table[doc_id] = _copy(op.doc)

        def revert() -> None:
            if previous is None:
                del table[doc_id]
            else:
                table[doc_id] = previous

        undo.append(revert)

    def _remove(self, collection: str, ids: list[str], undo: list[Undo]) -> None:
        table = self._docs[collection]
        removed = {i: table.pop(i) for i in ids if i in table}
        undo.append(lambda: table.update(removed))

    def _append(self, op: AppendEvents, undo: list[Undo], seqs: list[int]) -> None:
        log, first = self._log, self._last_seq
        added: list[StoredEvent] = []

        def revert() -> None:
            for event in reversed(added):
                log.remove_newest(event)
            self._last_seq = first

        undo.append(revert)
        for e in op.events:
            if not isinstance(e.body, bytes):
                raise StoreError("An event body must be bytes.")
            self._last_seq += 1
            event = StoredEvent(
                self._last_seq, e.id, e.org_id, e.site_id, e.topic, float(e.timestamp), e.body
            )
            log.add(event)
            added.append(event)
            seqs.append(event.seq)

    def _prune(self, before: float, undo: list[Undo]) -> None:
        old = self._log
        kept = _EventLog()
        for event in old.by_seq.values():
            if event.timestamp >= before:
                kept.add(event)
        self._log = kept

        def revert() -> None:
            self._log = old

        undo.append(revert)

    def _set_stream(self, key: tuple[str, str], stream: Stream | None, undo: list[Undo]) -> None:
        previous = self._streams.get(key)
        if stream is None:
            self._streams.pop(key, None)
        else:
            self._streams[key] = stream

        def revert() -> None:
            if previous is None:
                self._streams.pop(key, None)
            else:
                self._streams[key] = previous

        undo.append(revert)

    def _open_stream(self, op: OpenStream, undo: list[Undo]) -> None:
        key = (op.webhook_id, op.topic)
        if key not in self._streams:
            stream = Stream(op.webhook_id, op.topic, op.org_id, op.site_id, cursor=self._max_seq())
            self._set_stream(key, stream, undo)

    def _save_stream(self, op: SaveStream, undo: list[Undo]) -> None:
        key = (op.webhook_id, op.topic)
        stream = self._streams.get(key)
        if stream is None or stream.lease_owner != op.owner:
            return
        saved = dataclasses.replace(
            stream,
            cursor=op.cursor,
            attempt=op.attempt,
            next_attempt_at=op.next_attempt_at,
            failing_since=op.failing_since,
        )
        if op.release:
            saved = dataclasses.replace(saved, lease_owner=None, lease_until=0.0)
        self._set_stream(key, saved, undo)

    # --- event log -------------------------------------------------------------------

    def _max_seq(self) -> int:
        # Sequences are added in increasing order, so the last key is the newest.
        return next(reversed(self._log.by_seq), 0)

    async def max_seq(self) -> int:
        return self._max_seq()

    async def oldest_seq(self) -> int:
        return next(iter(self._log.by_seq), 0)

    async def read_events(
        self, topic: str, org_id: str, site_id: str | None, after_seq: int, limit: int
    ) -> list[StoredEvent]:
        seqs = self._log.seqs(topic, org_id, site_id)
        start = bisect.bisect_right(seqs, after_seq)
        return [self._log.by_seq[s] for s in seqs[start : start + max(limit, 0)]]

    # --- streams ---------------------------------------------------------------------

    def _has_events(self, stream: Stream) -> bool:
        seqs = self._log.seqs(stream.topic, stream.org_id, stream.site_id)
        return bool(seqs) and seqs[-1] > stream.cursor

    async def lease_streams(
        self, owner: str, now: float, lease_s: float, limit: int
    ) -> list[Stream]:
        due = [
            s
            for s in self._streams.values()
            if s.next_attempt_at <= now
            and (s.lease_owner is None or s.lease_until < now)
            and self._has_events(s)
        ]
        due.sort(key=lambda s: s.next_attempt_at)
        leased = []
        for stream in due[: max(limit, 0)]:
            taken = dataclasses.replace(stream, lease_owner=owner, lease_until=now + lease_s)
            self._streams[stream.webhook_id, stream.topic] = taken
            leased.append(taken)
        return leased

    async def renew_leases(self, owner: str, keys: Sequence[tuple[str, str]], until: float) -> None:
        for key in keys:
            stream = self._streams.get(key)
            if stream is not None and stream.lease_owner == owner:
                self._streams[key] = dataclasses.replace(stream, lease_until=until)

    async def list_streams(self, webhook_id: str) -> list[Stream]:
        return sorted(
            (s for s in self._streams.values() if s.webhook_id == webhook_id),
            key=lambda s: s.topic,
        )

    async def worker_heartbeat(self, owner: str, now: float, alive_until: float) -> WorkerLoad:
        self._workers[owner] = alive_until
        self._workers = {o: until for o, until in self._workers.items() if until >= now}
        in_play = sum(
            1
            for s in self._streams.values()
            if (s.lease_owner is not None and s.lease_until >= now)
            or (s.next_attempt_at <= now and self._has_events(s))
        )
        return WorkerLoad(len(self._workers), in_play)

    async def worker_gone(self, owner: str) -> None:
        self._workers.pop(owner, None)

    async def ask_rebalance(self) -> None:
        self._wakeups.rebalance()  # the workers sharing this store

    async def add_counts(
        self, counts: Mapping[str, int], expires_at: float, now: float
    ) -> dict[str, int]:
        self._counters = {k: v for k, v in self._counters.items() if v[1] >= now}
        for key, n in counts.items():
            total, until = self._counters.get(key, (0, expires_at))
            self._counters[key] = (total + n, until)
        return {key: self._counters[key][0] for key in counts}

    async def listen(
        self, on_wake: Callable[[], None], on_workers: Callable[[], None] | None = None
    ) -> None:
        self._wakeups.listen(on_wake, on_workers)
