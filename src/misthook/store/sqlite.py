"""The SQLite store: the embedded default (stdlib sqlite3, WAL).

The connection lives on ONE dedicated thread (a single-worker executor) and every
public method is one hop to it, never one hop per row. Writes run in
``BEGIN IMMEDIATE`` transactions with a busy timeout, so several processes (``serve``
and ``worker``) can share the file: the write lock serializes them, which also makes
sequence numbers of the event log grow in commit order.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import sqlite3
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, TypeVar

import orjson

from misthook.errors import StoreError
from misthook.store import sql
from misthook.store.base import (
    COLLECTIONS,
    AppendEvents,
    CloseStreams,
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

T = TypeVar("T")

MIN_SQLITE = (3, 35, 0)  # UPDATE ... RETURNING

_EVENT_PARAMS = 7
_INSERT_ROWS_MAX = 500


@functools.lru_cache(maxsize=64)
def _insert_events(rows: int) -> str:
    """INSERT of ``rows`` events in one statement."""
    values = ", ".join(["(?, ?, ?, ?, ?, ?, ?)"] * rows)
    return f"INSERT INTO events ({sql.EVENT_COLUMNS}) VALUES {values}"


_OPEN_STREAM = (
    "INSERT INTO streams (webhook_id, topic, org_id, site_id, cursor)"
    " VALUES (?, ?, ?, ?, (SELECT coalesce(max(seq), 0) FROM events))"
    " ON CONFLICT (webhook_id, topic) DO NOTHING"
)
_SAVE_STREAM = (
    "UPDATE streams SET cursor = ?, attempt = ?, next_attempt_at = ?, failing_since = ?,"
    " lease_owner = CASE WHEN ? THEN NULL ELSE lease_owner END,"
    " lease_until = CASE WHEN ? THEN 0 ELSE lease_until END"
    " WHERE webhook_id = ? AND topic = ? AND lease_owner = ?"
)
_LEASE_STREAMS = (
    "UPDATE streams SET lease_owner = :owner, lease_until = :until"
    " WHERE rowid IN (SELECT s.rowid FROM streams AS s WHERE"
    + sql.STREAM_IS_DUE.format(now=":now", log="events", seq="seq")
    + " ORDER BY s.next_attempt_at LIMIT :limit)"
    f" RETURNING {sql.STREAM_COLUMNS}"
)

_UPSERT_WORKER = sql.UPSERT_WORKER.format(owner=":owner", until=":until")
_WORKER_LOAD = (
    "SELECT (SELECT count(*) FROM workers WHERE alive_until >= :now),"
    " (" + sql.STREAMS_IN_PLAY.format(now=":now", log="events", seq="seq") + ")"
)


_DOC_PARAMS = 7


@functools.lru_cache(maxsize=256)
def _upsert_docs(collection: str, rows: int) -> str:
    """The upsert of ``rows`` documents of ``collection`` in one statement."""
    return sql.upsert(collection, "VALUES " + ", ".join(["(?, ?, ?, ?, ?, ?, ?)"] * rows))


def _json_value(value: Any, json_type: str) -> Any:
    """A value json_extract returned, with the type it had in the document."""
    if json_type == "true":
        return True
    if json_type == "false":
        return False
    if json_type in ("object", "array"):
        return orjson.loads(value)
    return value


def _unpack_events(topic: str, org_id: str, row: tuple[Any, ...]) -> list[StoredEvent]:
    """The events of one aggregated row of ``read_events``, in sequence order."""
    seqs_text, times_text, ids_json, sites_json, sizes_text, blob = row
    if not seqs_text:
        return []
    return sql.unpack_events(
        topic,
        org_id,
        list(map(int, seqs_text.split(","))),
        orjson.loads(ids_json),
        orjson.loads(sites_json),
        list(map(float, times_text.split(","))),
        list(map(int, sizes_text.split(","))),
        blob,
    )


def _enable_wal(db: sqlite3.Connection, timeout_s: float) -> None:
    """Switch to WAL. While another connection creates the same new file, SQLite answers
    "database is locked" at once (the busy handler is not consulted for this switch), so
    retry until the timeout."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            db.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def _statements(script: str) -> Iterator[str]:
    """The statements of a migration file, one at a time (executescript would commit)."""
    pending = ""
    for line in script.splitlines(keepends=True):
        pending += line
        if sqlite3.complete_statement(pending):
            yield pending
            pending = ""
    if pending.strip() and not pending.strip().startswith("--"):
        yield pending


_ADD_COUNT = (
    "INSERT INTO counters (key, n, expires_at) VALUES (?, ?, ?)"
    " ON CONFLICT (key) DO UPDATE SET n = n + excluded.n RETURNING n"
)


class SqliteStore:
    """A Store in one SQLite file."""

    def __init__(self, path: str, *, busy_timeout_s: float = 10.0) -> None:
        self.path = path
        self.busy_timeout_s = busy_timeout_s
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None
        self._conn: sqlite3.Connection | None = None
        self._wakeups = InProcessWakeups()
        self._insert_rows: int | None = None

    # --- the one thread --------------------------------------------------------------

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        if self._executor is None:
            raise StoreError("The SQLite store is not open.")
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._executor, fn, *args)
        except (sqlite3.Error, TypeError, ValueError, OverflowError) as exc:
            raise StoreError(f"SQLite: {exc}") from exc

    @property
    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            raise StoreError("The SQLite store is not open.")
        return self._conn

    def _write(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn`` in one write transaction (on the store's thread)."""
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            result = fn(db)
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")
        return result

    # --- open, migrate, close --------------------------------------------------------

    async def open(self) -> None:
        if sqlite3.sqlite_version_info < MIN_SQLITE:
            raise StoreError(f"SQLite {sqlite3.sqlite_version} is too old: misthook needs 3.35.")
        if self._executor is None:
            self._executor = concurrent.futures.ThreadPoolExecutor(
                max_workers=1, thread_name_prefix="misthook-sqlite"
            )
        try:
            await self._run(self._open_sync)
        except BaseException:
            await self.close()
            raise

    def _open_sync(self) -> None:
        if self._conn is None:
            self._conn = sqlite3.connect(
                self.path, timeout=self.busy_timeout_s, isolation_level=None
            )
        db = self._conn
        db.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout_s * 1000)}")
        _enable_wal(db, self.busy_timeout_s)
        db.execute("PRAGMA synchronous = NORMAL")
        # Checkpoint every 32 MB of WAL rather than 4 MB (the hot index pages are copied
        # back once instead of eight times: ~30% more appended rows/s measured), and keep
        # 32 MB of pages cached.
        db.execute("PRAGMA wal_autocheckpoint = 8192")
        db.execute("PRAGMA cache_size = -32768")
        self._write(self._migrate)

    def _migrate(self, db: sqlite3.Connection) -> None:
        db.execute(
            "CREATE TABLE IF NOT EXISTS schema_version"
            " (version INTEGER PRIMARY KEY, applied_at REAL NOT NULL)"
        )
        (current,) = db.execute("SELECT coalesce(max(version), 0) FROM schema_version").fetchone()
        for version, script in sql.load_migrations("sqlite"):
            if version > current:
                for statement in _statements(script):
                    db.execute(statement)
                db.execute(
                    "INSERT INTO schema_version (version, applied_at) VALUES (?, ?)",
                    (version, time.time()),
                )
        for collection in COLLECTIONS:
            for statement in sql.collection_ddl(sql.Dialect(), collection):
                db.execute(statement)

    async def close(self) -> None:
        executor, self._executor = self._executor, None
        if executor is None:
            return
        if self._conn is not None:
            conn, self._conn = self._conn, None
            await asyncio.get_running_loop().run_in_executor(executor, conn.close)
        executor.shutdown(wait=False)
        self._wakeups.clear()

    async def schema_version(self) -> int:
        def read() -> int:
            row = self._db.execute("SELECT coalesce(max(version), 0) FROM schema_version")
            return int(row.fetchone()[0])

        return await self._run(read)

    # --- documents -------------------------------------------------------------------

    def _fetch(self, statement: str, params: Sequence[Any]) -> list[Any]:
        return self._db.execute(statement, params).fetchall()

    async def get(self, collection: str, id: str) -> Doc | None:
        sql.spec_of(collection)
        rows = await self._run(self._fetch, f"SELECT doc FROM {collection} WHERE id = ?", (id,))
        return orjson.loads(rows[0][0]) if rows else None

    async def find_one(self, collection: str, filters: tuple[Filter, ...]) -> Doc | None:
        found = await self.query(collection, Query(filters=filters, sort="id", limit=1))
        return found[0] if found else None

    async def query(self, collection: str, query: Query) -> list[Doc]:
        d = sql.Dialect()
        statement = sql.select_docs(d, collection, query)
        rows = await self._run(self._fetch, statement, d.params)
        return [orjson.loads(row[0]) for row in rows]

    async def count(self, collection: str, filters: tuple[Filter, ...]) -> int:
        d = sql.Dialect()
        statement = sql.select_count(d, collection, filters)
        rows = await self._run(self._fetch, statement, d.params)
        return int(rows[0][0])

    async def count_distinct(
        self, collection: str, filters: tuple[Filter, ...], field: str, limit: int
    ) -> list[tuple[Any, int]]:
        d = sql.Dialect()
        statement = sql.select_count_distinct(d, collection, filters, field, limit)
        rows = await self._run(self._fetch, statement, d.params)
        if rows and len(rows[0]) == 3:
            return [(_json_value(v, t), int(n)) for v, t, n in rows]
        return [(v, int(n)) for v, n in rows]

    # --- commit ----------------------------------------------------------------------

    async def commit(self, ops: Sequence[Op]) -> CommitResult:
        ops = list(ops)
        seqs = await self._run(self._write, lambda db: self._apply_all(db, ops))
        self._wakeups.committed(ops, seqs)
        return CommitResult(event_seqs=seqs)

    def _apply_all(self, db: sqlite3.Connection, ops: list[Op]) -> list[int]:
        seqs: list[int] = []
        i = 0
        while i < len(ops):
            op = ops[i]
            if not isinstance(op, Put):
                self._apply(db, op, seqs)
                i += 1
                continue
            # Consecutive puts to one collection: one executemany.
            docs = []
            while i < len(ops):
                put = ops[i]
                if not isinstance(put, Put) or put.collection != op.collection:
                    break
                docs.append(put.doc)
                i += 1
            self._put_many(db, op.collection, docs)
        return seqs

    def _put_many(self, db: sqlite3.Connection, collection: str, docs: list[Doc]) -> None:
        spec = sql.spec_of(collection)
        dumps = orjson.dumps
        per_statement = max(1, self._rows_per_insert(db) * _EVENT_PARAMS // _DOC_PARAMS)
        # Many rows per statement, as for events (one GIL hand-back per statement).
        for start in range(0, len(docs), per_statement):
            chunk = docs[start : start + per_statement]
            params: list[Any] = []
            for doc in chunk:
                params.extend(sql.column_values(spec, doc))
                params.append(dumps(doc).decode())
            db.execute(_upsert_docs(collection, len(chunk)), params)

    def _apply(self, db: sqlite3.Connection, op: Op, seqs: list[int]) -> None:
        if isinstance(op, Delete):
            sql.spec_of(op.collection)
            db.execute(f"DELETE FROM {op.collection} WHERE id = ?", (op.id,))
        elif isinstance(op, DeleteWhere):
            d = sql.Dialect()
            db.execute(sql.delete_where(d, op.collection, op.filters), d.params)
        elif isinstance(op, AppendEvents):
            seqs.extend(self._append(db, op))
        elif isinstance(op, OpenStream):
            db.execute(_OPEN_STREAM, (op.webhook_id, op.topic, op.org_id, op.site_id))
        elif isinstance(op, CloseStreams):
            keep = ", ".join("?" for _ in op.keep_topics)
            db.execute(
                f"DELETE FROM streams WHERE webhook_id = ? AND topic NOT IN ({keep})",
                (op.webhook_id, *op.keep_topics),
            )
        elif isinstance(op, SaveStream):
            db.execute(
                _SAVE_STREAM,
                (
                    op.cursor,
                    op.attempt,
                    op.next_attempt_at,
                    op.failing_since,
                    op.release,
                    op.release,
                    op.webhook_id,
                    op.topic,
                    op.owner,
                ),
            )
        elif isinstance(op, PruneEvents):
            db.execute("DELETE FROM events WHERE timestamp < ?", (op.before,))
        else:
            raise StoreError(f"Unknown operation {op!r}.")

    def _append(self, db: sqlite3.Connection, op: AppendEvents) -> list[int]:
        if not op.events:
            return []
        # The write lock is ours, so the numbers after the highest ever used are free;
        # numbering here gives the seqs without reading them back.
        (last,) = db.execute(
            "SELECT max(coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'events'), 0),"
            " coalesce((SELECT max(seq) FROM events), 0))"
        ).fetchone()
        seqs = list(range(last + 1, last + 1 + len(op.events)))
        # Many rows per statement: about 1.7x the rows/s of executemany (one statement per
        # row, each one writing sqlite_sequence back and taking the GIL again).
        per_statement = self._rows_per_insert(db)
        events = op.events
        for start in range(0, len(events), per_statement):
            chunk = events[start : start + per_statement]
            params: list[Any] = []
            extend = params.extend
            for seq, e in enumerate(chunk, last + 1 + start):
                extend((seq, e.id, e.org_id, e.site_id, e.topic, e.timestamp, e.body))
            db.execute(_insert_events(len(chunk)), params)
        return seqs

    def _rows_per_insert(self, db: sqlite3.Connection) -> int:
        if self._insert_rows is None:
            limit = db.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
            self._insert_rows = max(1, min(_INSERT_ROWS_MAX, limit // _EVENT_PARAMS))
        return self._insert_rows

    # --- event log -------------------------------------------------------------------

    async def max_seq(self) -> int:
        rows = await self._run(self._fetch, "SELECT coalesce(max(seq), 0) FROM events", ())
        return int(rows[0][0])

    async def oldest_seq(self) -> int:
        rows = await self._run(self._fetch, "SELECT coalesce(min(seq), 0) FROM events", ())
        return int(rows[0][0])

    async def read_events(
        self, topic: str, org_id: str, site_id: str | None, after_seq: int, limit: int
    ) -> list[StoredEvent]:
        if site_id is None:
            where = "topic = ? AND org_id = ? AND seq > ?"
            params: tuple[Any, ...] = (topic, org_id, after_seq, limit)
        else:
            where = "topic = ? AND site_id = ? AND org_id = ? AND seq > ?"
            params = (topic, site_id, org_id, after_seq, limit)
        # All the events come back in ONE row: sqlite3 gives up the GIL for every step
        # (row), and each step then waits for the busy event loop to hand the GIL back
        # (measured: 1000 rows took 0.7 ms alone, 146 ms beside a busy thread; one row of
        # aggregates 5.6 ms).
        statement = (
            "SELECT group_concat(seq), group_concat(printf('%!.17g', timestamp)),"
            " json_group_array(id), json_group_array(site_id), group_concat(length(body)),"
            " CAST(group_concat(body, '') AS BLOB)"
            f" FROM (SELECT seq, id, site_id, timestamp, body FROM events WHERE {where}"
            " ORDER BY seq LIMIT ?)"
        )
        rows = await self._run(self._fetch, statement, params)
        return _unpack_events(topic, org_id, rows[0])

    # --- streams ---------------------------------------------------------------------

    async def lease_streams(
        self, owner: str, now: float, lease_s: float, limit: int
    ) -> list[Stream]:
        params = {"owner": owner, "until": now + lease_s, "now": now, "limit": limit}

        def lease(db: sqlite3.Connection) -> list[Any]:
            return db.execute(_LEASE_STREAMS, params).fetchall()

        rows = await self._run(self._write, lease)
        return sorted((Stream(*row) for row in rows), key=lambda s: s.next_attempt_at)

    async def renew_leases(self, owner: str, keys: Sequence[tuple[str, str]], until: float) -> None:
        rows = [(until, webhook_id, topic, owner) for webhook_id, topic in keys]

        def renew(db: sqlite3.Connection) -> None:
            db.executemany(
                "UPDATE streams SET lease_until = ?"
                " WHERE webhook_id = ? AND topic = ? AND lease_owner = ?",
                rows,
            )

        if rows:
            await self._run(self._write, renew)

    async def list_streams(self, webhook_id: str) -> list[Stream]:
        rows = await self._run(
            self._fetch,
            f"SELECT {sql.STREAM_COLUMNS} FROM streams WHERE webhook_id = ? ORDER BY topic",
            (webhook_id,),
        )
        return [Stream(*row) for row in rows]

    async def worker_heartbeat(self, owner: str, now: float, alive_until: float) -> WorkerLoad:
        params = {"owner": owner, "until": alive_until, "now": now}

        def beat(db: sqlite3.Connection) -> Any:
            db.execute(_UPSERT_WORKER, params)
            db.execute("DELETE FROM workers WHERE alive_until < :now", params)
            return db.execute(_WORKER_LOAD, params).fetchone()

        workers, streams = await self._run(self._write, beat)
        return WorkerLoad(workers, streams)

    async def worker_gone(self, owner: str) -> None:
        def gone(db: sqlite3.Connection) -> None:
            db.execute("DELETE FROM workers WHERE owner = ?", (owner,))

        await self._run(self._write, gone)

    async def ask_rebalance(self) -> None:
        # The workers of this process; those of others see the load at their heartbeats.
        self._wakeups.rebalance()

    async def add_counts(
        self, counts: Mapping[str, int], expires_at: float, now: float
    ) -> dict[str, int]:
        def add(db: sqlite3.Connection) -> dict[str, int]:
            db.execute("DELETE FROM counters WHERE expires_at < ?", (now,))
            totals = {}
            for key, n in counts.items():
                row = db.execute(_ADD_COUNT, (key, n, expires_at)).fetchone()
                totals[key] = int(row[0])
            return totals

        return await self._run(self._write, add)

    async def listen(
        self, on_wake: Callable[[], None], on_workers: Callable[[], None] | None = None
    ) -> None:
        # Another process's commits are seen by polling; this wakes this process only.
        self._wakeups.listen(on_wake, on_workers)
