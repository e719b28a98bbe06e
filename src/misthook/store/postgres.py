"""The PostgreSQL store: many workers on one database (asyncpg pool, JSONB documents, or
JSON as plain text where ``CollectionSpec.binary_json`` says so).

The event log is a table of segments, each a run of appended events of one scope in
one row (see ``segments``). Two details carry the delivery guarantees:

* Appending events takes a transaction-scoped advisory lock before numbering them,
  so sequence numbers become visible in increasing order. Without it, a transaction
  holding seq 10 could commit after one holding seq 11, and a stream whose cursor
  already passed 11 would never deliver 10.
* ``lease_streams`` is one statement with ``FOR UPDATE SKIP LOCKED``: concurrent
  workers never lease the same stream.

Commits that append events ``NOTIFY`` the channel ``misthook_events`` in the same
transaction; ``listen`` holds one dedicated connection that LISTENs on it. Reads of the
event log have a small pool of their own (planner settings of their own, see
``_ORDERED_SCAN_ONLY``).
"""

from __future__ import annotations

import contextlib
import functools
import re
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, cast

import asyncpg
import orjson

from misthook.errors import StoreError
from misthook.store import segments, sql
from misthook.store.base import (
    COLLECTIONS,
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
    wakes_workers,
)

CHANNEL = "misthook_events"
# The NOTIFY payload that says a worker process joined, left or ran out of streams (the
# others rebalance now).
_WORKERS_CHANGED = "workers"
# Keys of pg_advisory_xact_lock (any constant both sides agree on).
_APPEND_LOCK = 0x6D69_7374_0001
_MIGRATE_LOCK = 0x6D69_7374_0002

# Under the append lock: the numbers of the next $1 events, the last one answered.
_RESERVE_SEQS = "SELECT setval('event_seq', nextval('event_seq') + $1 - 1)"
_APPEND_SEGMENT = (
    "INSERT INTO event_segments (first_seq, last_seq, org_id, site_id, topic, newest, ids,"
    " id_sizes, bodies, body_sizes, bodies_lz4)"
    " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
)
_NEWEST_SEQ = "(SELECT last_seq FROM event_segments ORDER BY first_seq DESC LIMIT 1)"
_OPEN_STREAM = (
    "INSERT INTO streams (webhook_id, topic, org_id, site_id, cursor)"
    f" VALUES ($1, $2, $3, $4, coalesce({_NEWEST_SEQ}, 0))"
    " ON CONFLICT (webhook_id, topic) DO NOTHING"
)
# The columns of a segments.ReadRow, in its order.
_READ_COLUMNS = (
    "first_seq, last_seq, newest, ids, id_sizes, bodies, body_sizes, site_id, bodies_lz4"
)
# The segments holding the next events after the cursor: at most {rows} of them, and of
# those every one that starts before {limit} events are reached (the last is cut).
_READ_SEGMENTS = (
    f"SELECT {_READ_COLUMNS} FROM ("
    f" SELECT {_READ_COLUMNS},"
    " sum(last_seq - greatest(first_seq - 1, {after})) OVER w"
    " - (last_seq - greatest(first_seq - 1, {after})) AS before"
    f" FROM (SELECT {_READ_COLUMNS} FROM event_segments"
    " WHERE {scope} AND last_seq > {after} ORDER BY last_seq LIMIT {rows})"
    " AS due WINDOW w AS (ORDER BY last_seq ROWS UNBOUNDED PRECEDING)"
    ") AS counted WHERE before < {limit}"
)
_READ_ORG_SEGMENTS = _READ_SEGMENTS.format(
    scope="topic = $1 AND org_id = $2", after="$3", rows="$4", limit="$5"
)
_READ_SITE_SEGMENTS = _READ_SEGMENTS.format(
    scope="topic = $1 AND site_id = $2 AND org_id = $3", after="$4", rows="$5", limit="$6"
)
# Scopes whose segment size a store remembers (reads ask for as many segments as their
# limit needs at that size); forgotten all at once beyond this.
_SCOPES_SIZED = 4096
# Reads of the event log run on connections of their own whose planner can only take
# the ordered range scan of the stream's index that stops after `limit` rows. Statistics
# that lag a burst of appends (a fresh table, a backlog) made it bitmap-scan and sort
# every event after the cursor instead: 250 ms a read with 300k behind the cursor, not
# 1 ms. Set per connection, not per read: a SET in a transaction cost three round trips.
_ORDERED_SCAN_ONLY = {"enable_bitmapscan": "off", "enable_sort": "off"}
_READ_POOL_SIZE = 4
# Many saves in one statement (a statement each costs an executor start). A row is updated
# at most once per statement, so saves of one stream go in successive statements.
_SAVE_STREAMS = (
    "UPDATE streams AS s SET cursor = k.cursor, attempt = k.attempt,"
    " next_attempt_at = k.next_attempt_at, failing_since = k.failing_since,"
    " lease_owner = CASE WHEN k.release THEN NULL ELSE s.lease_owner END,"
    " lease_until = CASE WHEN k.release THEN 0 ELSE s.lease_until END"
    " FROM unnest($1::bigint[], $2::int[], $3::float8[], $4::float8[], $5::bool[],"
    " $6::text[], $7::text[], $8::text[])"
    " AS k(cursor, attempt, next_attempt_at, failing_since, release, webhook_id, topic, owner)"
    " WHERE s.webhook_id = k.webhook_id AND s.topic = k.topic AND s.lease_owner = k.owner"
)
_LEASE_STREAMS = (
    "WITH due AS (SELECT s.webhook_id, s.topic FROM streams AS s WHERE"
    + sql.STREAM_IS_DUE.format(now="$2", log="event_segments", seq="last_seq")
    + " ORDER BY s.next_attempt_at LIMIT $4 FOR UPDATE OF s SKIP LOCKED)"
    " UPDATE streams AS t SET lease_owner = $1, lease_until = $2 + $3"
    " FROM due WHERE t.webhook_id = due.webhook_id AND t.topic = due.topic"
    " RETURNING " + ", ".join(f"t.{c.strip()}" for c in sql.STREAM_COLUMNS.split(","))
)
_RENEW_LEASES = (
    "UPDATE streams AS s SET lease_until = $3"
    " FROM unnest($1::text[], $2::text[]) AS k(webhook_id, topic)"
    " WHERE s.webhook_id = k.webhook_id AND s.topic = k.topic AND s.lease_owner = $4"
)

# Concurrent adds to one key serialize on its row: none is lost.
_ADD_COUNTS = (
    "INSERT INTO counters (key, n, expires_at) SELECT k, n, $3 FROM unnest($1::text[],"
    " $2::bigint[]) AS u(k, n) ON CONFLICT (key) DO UPDATE SET n = counters.n + excluded.n"
    " RETURNING key, n"
)
# One round trip; the counts see the table as it was before this statement's own changes,
# hence the other live workers + 1.
_WORKER_HEARTBEAT = (
    "WITH beat AS (" + sql.UPSERT_WORKER.format(owner="$1", until="$2") + " RETURNING 1),"
    " stale AS (DELETE FROM workers WHERE alive_until < $3 AND owner <> $1 RETURNING 1)"
    " SELECT (SELECT count(*) FROM workers WHERE alive_until >= $3 AND owner <> $1) + 1,"
    " (" + sql.STREAMS_IN_PLAY.format(now="$3", log="event_segments", seq="last_seq") + ")"
)


@functools.lru_cache(maxsize=128)
def _upsert_many(collection: str, replace: bool = True) -> str:
    """The upsert (or with ``replace=False`` the plain insert) of any number of documents
    of ``collection``, one array per column."""
    doc_type = sql.PostgresDialect().doc_type_of(sql.spec_of(collection)).lower()
    return sql.upsert(
        collection,
        f"SELECT u.id, u.org_id, u.site_id, u.owner, u.lookup, u.time, u.doc::{doc_type}"
        " FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[],"
        " $6::float8[], $7::text[]) AS u(id, org_id, site_id, owner, lookup, time, doc)",
        replace=replace,
    )


@contextlib.contextmanager
def _translated() -> Iterator[None]:
    """Driver and connection errors surface as StoreError."""
    try:
        yield
    except StoreError:
        raise
    except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TypeError, ValueError) as exc:
        raise StoreError(f"PostgreSQL: {exc}") from exc


async def _keep_session(conn: asyncpg.Connection) -> None:
    """What a connection going back to its pool needs beyond the rollback asyncpg always
    does: nothing. asyncpg's default reset is a round trip per use (UNLISTEN, RESET ALL,
    advisory unlock); misthook sets nothing per session, takes only transaction-scoped
    locks and listens on a connection of its own."""


async def _init_connection(conn: asyncpg.Connection) -> None:
    for json_type in ("jsonb", "json"):
        await conn.set_type_codec(
            json_type,
            schema="pg_catalog",
            encoder=lambda value: orjson.dumps(value).decode(),
            decoder=orjson.loads,
            format="text",
        )


def _document(spec: CollectionSpec, stored: Any) -> Doc:
    """A document as read: JSONB comes decoded (the connection's codec), text does not."""
    return dict(stored) if spec.binary_json else cast(Doc, orjson.loads(stored))


def _stream(row: asyncpg.Record) -> Stream:
    return Stream(*row.values())


class PostgresStore:
    """A Store in one PostgreSQL database."""

    def __init__(self, url: str, *, min_size: int = 1, max_size: int = 10) -> None:
        self.url = url
        self.min_size = min_size
        self.max_size = max_size
        self._pool: asyncpg.Pool | None = None
        self._read_pool: asyncpg.Pool | None = None  # event log reads (_ORDERED_SCAN_ONLY)
        self._listener: asyncpg.Connection | None = None
        self._announced: set[str] = set()  # workers whose joining was notified
        # Events per segment in the latest read of each scope (topic, org, site).
        self._segment_sizes: dict[tuple[str, str, str | None], float] = {}

    @property
    def _db(self) -> asyncpg.Pool:
        if self._pool is None:
            raise StoreError("The PostgreSQL store is not open.")
        return self._pool

    @property
    def _reads(self) -> asyncpg.Pool:
        if self._read_pool is None:
            raise StoreError("The PostgreSQL store is not open.")
        return self._read_pool

    async def open(self) -> None:
        with _translated():
            if self._pool is None:
                self._pool = await asyncpg.create_pool(
                    self.url,
                    min_size=self.min_size,
                    max_size=self.max_size,
                    init=_init_connection,
                    reset=_keep_session,
                )
            if self._read_pool is None:
                self._read_pool = await asyncpg.create_pool(
                    self.url,
                    min_size=1,
                    max_size=min(_READ_POOL_SIZE, self.max_size),
                    server_settings=_ORDERED_SCAN_ONLY,
                    reset=_keep_session,
                )
            async with self._db.acquire() as conn, conn.transaction():
                await self._migrate(conn)

    async def _migrate(self, conn: asyncpg.Connection) -> None:
        # One migrator at a time, whatever the number of processes starting.
        await conn.execute("SELECT pg_advisory_xact_lock($1)", _MIGRATE_LOCK)
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_version"
            " (version INTEGER PRIMARY KEY, applied_at DOUBLE PRECISION NOT NULL)"
        )
        current = await conn.fetchval("SELECT coalesce(max(version), 0) FROM schema_version")
        for version, script in sql.load_migrations("postgres"):
            if version > current:
                await conn.execute(script)
                await conn.execute(
                    "INSERT INTO schema_version (version, applied_at) VALUES ($1, $2)",
                    version,
                    time.time(),
                )
        ddl = [s for c in COLLECTIONS for s in sql.collection_ddl(sql.PostgresDialect(), c)]
        await conn.execute(";\n".join(ddl))

    async def close(self) -> None:
        listener, self._listener = self._listener, None
        pools = [p for p in (self._pool, self._read_pool) if p is not None]
        self._pool = self._read_pool = None
        with contextlib.suppress(Exception):
            if listener is not None:
                await listener.close()
        with _translated():
            for pool in pools:
                await pool.close()

    async def schema_version(self) -> int:
        with _translated():
            return int(await self._db.fetchval("SELECT max(version) FROM schema_version") or 0)

    # --- documents -------------------------------------------------------------------

    async def get(self, collection: str, id: str) -> Doc | None:
        spec = sql.spec_of(collection)
        with _translated():
            doc = await self._db.fetchval(f"SELECT doc FROM {collection} WHERE id = $1", id)
        return doc if doc is None else _document(spec, doc)

    async def find_one(self, collection: str, filters: tuple[Filter, ...]) -> Doc | None:
        found = await self.query(collection, Query(filters=filters, sort="id", limit=1))
        return found[0] if found else None

    async def query(self, collection: str, query: Query) -> list[Doc]:
        d = sql.PostgresDialect()
        statement = sql.select_docs(d, collection, query)
        with _translated():
            rows = await self._db.fetch(statement, *d.params)
        spec = sql.spec_of(collection)
        return [_document(spec, row[0]) for row in rows]

    async def count(self, collection: str, filters: tuple[Filter, ...]) -> int:
        d = sql.PostgresDialect()
        statement = sql.select_count(d, collection, filters)
        with _translated():
            return int(await self._db.fetchval(statement, *d.params))

    async def count_distinct(
        self, collection: str, filters: tuple[Filter, ...], field: str, limit: int
    ) -> list[tuple[Any, int]]:
        d = sql.PostgresDialect()
        statement = sql.select_count_distinct(d, collection, filters, field, limit)
        with _translated():
            rows = await self._db.fetch(statement, *d.params)
        return [(row[0], int(row[1])) for row in rows]

    # --- commit ----------------------------------------------------------------------

    async def commit(self, ops: Sequence[Op]) -> CommitResult:
        ops = list(ops)
        with _translated():
            try:
                return await self._commit(ops, inserts=True)
            except asyncpg.UniqueViolationError:
                # A put of an id that exists, to an append-only collection (a retry of a
                # commit that went through although its answer was lost, say): nothing
                # was written; all again, with upserts.
                return await self._commit(ops, inserts=False)

    async def _commit(self, ops: list[Op], *, inserts: bool) -> CommitResult:
        """``ops`` in one transaction; ``inserts``: append-only puts as plain inserts."""
        seqs: list[int] = []
        async with self._db.acquire() as conn, conn.transaction():
            i = 0
            while i < len(ops):
                j = i + 1
                # Consecutive ops of one kind (puts: of one collection) go as one batch.
                while j < len(ops) and _same_batch(ops[i], ops[j]):
                    j += 1
                await self._apply(conn, ops[i:j], seqs, inserts)
                i = j
            if wakes_workers(ops, seqs):
                await conn.execute("SELECT pg_notify($1, '')", CHANNEL)
        return CommitResult(event_seqs=seqs)

    async def _apply(
        self, conn: asyncpg.Connection, batch: list[Op], seqs: list[int], inserts: bool
    ) -> None:
        op = batch[0]
        if isinstance(op, Put):
            spec = sql.spec_of(op.collection)
            # One statement for the whole batch (a row each costs PostgreSQL an executor
            # start); ON CONFLICT may touch a row once per statement, so the last put of
            # an id wins here, as it would have one statement after another.
            rows = {}
            for o in batch:
                doc = cast(Put, o).doc
                values = sql.column_values(spec, doc)  # checks the id
                rows[values[0]] = (values, orjson.dumps(doc).decode())
            columns = list(zip(*(values for values, _ in rows.values()), strict=True))
            encoded = [doc_json for _, doc_json in rows.values()]
            replace = not (inserts and spec.append_only)
            await conn.execute(_upsert_many(op.collection, replace), *columns, encoded)
        elif isinstance(op, Delete):
            sql.spec_of(op.collection)
            ids = [cast(Delete, o).id for o in batch]
            await conn.execute(f"DELETE FROM {op.collection} WHERE id = ANY($1::text[])", ids)
        elif isinstance(op, OpenStream):
            opens = [cast(OpenStream, o) for o in batch]
            await conn.executemany(
                _OPEN_STREAM, [(o.webhook_id, o.topic, o.org_id, o.site_id) for o in opens]
            )
        elif isinstance(op, SaveStream):
            # Round n holds each stream's n-th save: in order, as a later save of a stream
            # may find it released by an earlier one (and then be ignored).
            rounds: list[dict[tuple[str, str], tuple[Any, ...]]] = []
            for o in (cast(SaveStream, o) for o in batch):
                key = (o.webhook_id, o.topic)
                free = next((r for r in rounds if key not in r), None)
                if free is None:
                    free = {}
                    rounds.append(free)
                free[key] = (
                    o.cursor,
                    o.attempt,
                    o.next_attempt_at,
                    o.failing_since,
                    o.release,
                    o.webhook_id,
                    o.topic,
                    o.owner,
                )
            for saves in rounds:
                await conn.execute(_SAVE_STREAMS, *zip(*saves.values(), strict=True))
        else:
            for single in batch:
                await self._apply_one(conn, single, seqs)

    async def _apply_one(self, conn: asyncpg.Connection, op: Op, seqs: list[int]) -> None:
        if isinstance(op, DeleteWhere):
            d = sql.PostgresDialect()
            await conn.execute(sql.delete_where(d, op.collection, op.filters), *d.params)
        elif isinstance(op, AppendEvents):
            if op.events:
                await conn.execute("SELECT pg_advisory_xact_lock($1)", _APPEND_LOCK)
                count = len(op.events)
                last = int(await conn.fetchval(_RESERVE_SEQS, count))
                first = last - count + 1
                await conn.executemany(_APPEND_SEGMENT, segments.cut(op.events, first))
                seqs.extend(range(first, last + 1))
        elif isinstance(op, CloseStreams):
            await conn.execute(
                "DELETE FROM streams WHERE webhook_id = $1 AND NOT (topic = ANY($2::text[]))",
                op.webhook_id,
                list(op.keep_topics),
            )
        elif isinstance(op, PruneEvents):
            await conn.execute("DELETE FROM event_segments WHERE newest < $1", float(op.before))
        else:
            raise StoreError(f"Unknown operation {op!r}.")

    # --- event log -------------------------------------------------------------------

    async def max_seq(self) -> int:
        with _translated():
            return int(await self._db.fetchval(f"SELECT coalesce({_NEWEST_SEQ}, 0)"))

    async def oldest_seq(self) -> int:
        with _translated():
            return int(
                await self._db.fetchval(
                    "SELECT coalesce((SELECT first_seq FROM event_segments"
                    " ORDER BY first_seq LIMIT 1), 0)"
                )
            )

    async def read_events(
        self, topic: str, org_id: str, site_id: str | None, after_seq: int, limit: int
    ) -> list[StoredEvent]:
        scope = (topic, org_id, site_id)
        events: list[StoredEvent] = []
        after = after_seq
        with _translated():
            while len(events) < limit:
                wanted = limit - len(events)
                rows = segments.rows_for(wanted, self._segment_sizes.get(scope))
                if site_id is None:
                    statement = _READ_ORG_SEGMENTS
                    args: tuple[Any, ...] = (topic, org_id, after, rows, wanted)
                else:
                    statement = _READ_SITE_SEGMENTS
                    args = (topic, site_id, org_id, after, rows, wanted)
                answered = [
                    segments.ReadRow(*r.values()) for r in await self._reads.fetch(statement, *args)
                ]
                if not answered:
                    break
                self._learn_size(scope, answered)
                events.extend(segments.events_of(topic, org_id, answered, after, wanted))
                if len(answered) < rows:
                    break  # the log has no more, or the limit cut the answer
                after = events[-1].seq
        return events

    def _learn_size(self, scope: tuple[str, str, str | None], rows: list[segments.ReadRow]) -> None:
        if len(self._segment_sizes) >= _SCOPES_SIZED:
            self._segment_sizes.clear()
        events = sum(r.last_seq - r.first_seq + 1 for r in rows)
        self._segment_sizes[scope] = events / len(rows)

    # --- streams ---------------------------------------------------------------------

    async def lease_streams(
        self, owner: str, now: float, lease_s: float, limit: int
    ) -> list[Stream]:
        with _translated():
            rows = await self._db.fetch(_LEASE_STREAMS, owner, float(now), float(lease_s), limit)
        return sorted((_stream(r) for r in rows), key=lambda s: s.next_attempt_at)

    async def renew_leases(self, owner: str, keys: Sequence[tuple[str, str]], until: float) -> None:
        if not keys:
            return
        with _translated():
            await self._db.execute(
                _RENEW_LEASES, [k[0] for k in keys], [k[1] for k in keys], float(until), owner
            )

    async def list_streams(self, webhook_id: str) -> list[Stream]:
        with _translated():
            rows = await self._db.fetch(
                f"SELECT {sql.STREAM_COLUMNS} FROM streams WHERE webhook_id = $1"
                ' ORDER BY topic COLLATE "C"',
                webhook_id,
            )
        return [_stream(r) for r in rows]

    async def worker_heartbeat(self, owner: str, now: float, alive_until: float) -> WorkerLoad:
        with _translated():
            row = await self._db.fetchrow(_WORKER_HEARTBEAT, owner, float(alive_until), float(now))
            if owner not in self._announced:
                # A worker that joins says so: the others shrink their share now rather
                # than at their next heartbeat, and it gets its streams a second sooner.
                await self.ask_rebalance()
                self._announced.add(owner)
        assert row is not None
        return WorkerLoad(int(row[0]), int(row[1]))

    async def worker_gone(self, owner: str) -> None:
        with _translated():
            await self._db.execute("DELETE FROM workers WHERE owner = $1", owner)
        await self.ask_rebalance()
        self._announced.discard(owner)

    async def ask_rebalance(self) -> None:
        """NOTIFY the workers (those of this process too): they work out their share now."""
        with _translated():
            await self._db.execute("SELECT pg_notify($1, $2)", CHANNEL, _WORKERS_CHANGED)

    async def add_counts(
        self, counts: Mapping[str, int], expires_at: float, now: float
    ) -> dict[str, int]:
        keys = list(counts)
        with _translated():
            async with self._db.acquire() as conn, conn.transaction():
                await conn.execute("DELETE FROM counters WHERE expires_at < $1", float(now))
                rows = await conn.fetch(
                    _ADD_COUNTS, keys, [counts[k] for k in keys], float(expires_at)
                )
        return {row[0]: int(row[1]) for row in rows}

    async def listen(
        self, on_wake: Callable[[], None], on_workers: Callable[[], None] | None = None
    ) -> None:
        def on_notify(conn: object, pid: int, channel: str, payload: object) -> None:
            if payload == _WORKERS_CHANGED:
                if on_workers is not None:
                    on_workers()
            else:
                on_wake()

        with _translated():
            if self._listener is None:
                self._listener = await asyncpg.connect(self.url)
            await self._listener.add_listener(CHANNEL, on_notify)


def _same_batch(first: Op, other: Op) -> bool:
    if isinstance(first, Put | Delete):
        return isinstance(other, type(first)) and other.collection == first.collection
    return isinstance(first, OpenStream | SaveStream) and type(other) is type(first)


# --- databases, for tests and `misthook init` ---------------------------------------

_DATABASE_NAME = re.compile(r"^[a-z_][a-z0-9_]*$")


async def create_database(server_url: str, name: str) -> None:
    """Create database ``name`` on the server of ``server_url`` (a maintenance DB URL)."""
    if not _DATABASE_NAME.match(name):
        raise StoreError(f"Invalid database name {name!r}.")
    with _translated():
        conn = await asyncpg.connect(server_url)
        try:
            await conn.execute(f"CREATE DATABASE {name}")
        finally:
            await conn.close()
