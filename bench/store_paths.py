"""The store's fast paths beside the paths they replace or fall back to, in one run.

    python -m bench.store_paths [--records N] [--events N] [--rounds N]

Each pair runs in turn ``--rounds`` times on fresh databases and prints the CPU per item
of the client (this process, the SQLite thread included) and of the PostgreSQL server,
and the ratio of the totals:

- delivery records with time-ordered (version 7) ids against random (version 4) ones,
  on SQLite and on PostgreSQL, written a hundred per commit as the recorder does;
- on PostgreSQL, delivery records inserted plainly (the append-only fast path) against
  upserts (the fallback when a commit meets an existing id);
- on PostgreSQL, delivery records as plain text (migration 6) against JSON (before it);
- on PostgreSQL, the event log in segments (migration 7) against a row per event (before
  it), appending 5,000 events a commit and reading them back 1,000 at a time;
- those segments with bodies compressed by misthook (migration 8) against compressed by
  the server (before it);
- those reads of segments with the collector as ``misthook.gc_tuning`` sets it in the
  delivering processes, against CPython's defaults (the rest runs with the defaults).

Without the PostgreSQL server binaries only the SQLite pair runs.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import itertools
import os
import sys
import tempfile
import time
import unittest.mock
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

from bench.run import tree_cpu_s
from misthook import gc_tuning, ids
from misthook.store import open_store, postgres, segments
from misthook.store.base import AppendEvents, NewEvent, Put
from misthook.store.postgres import PostgresStore, create_database
from misthook.store.sql import events_of_columns
from misthook.testing.pg_server import (
    PostgresServer,
    PostgresUnavailable,
    find_bin_dir,
    replace_database,
)

ORG, SITE, TOPIC = "o" * 36, "s" * 36, "device-events"
PER_COMMIT = 100
HOOKS = ids.random_uuids(10)
PAD = "x" * 120

Measured = tuple[float, float]  # client and server CPU seconds per item


def record(record_id: str, n: int) -> dict[str, Any]:
    """A delivery record shaped as the worker writes one (about 750 bytes of JSON)."""
    return {
        "id": record_id,
        "org_id": ORG,
        "site_id": SITE,
        "webhook_id": HOOKS[n % len(HOOKS)],
        "topic": TOPIC,
        "status": "success",
        "status_code": 200,
        "error": "",
        "req_url": "http://127.0.0.1:9/hook",
        "req_headers": '{"Content-Type":["application/json"],"User-Agent":["Mist-webhook"]}',
        "resp_headers": '{"Content-Length":["2"]}',
        "resp_body": "ok",
        "timestamp": time.time(),
        "attempt": 1,
        "latency_ms": 1.5,
        "payload_ref": {
            "stream_topic": TOPIC,
            "org_id": ORG,
            "site_id": SITE,
            "seq_first": n,
            "seq_last": n,
            "event_count": 1,
            "format": "mist",
            "bytes": 345,
        },
    }


def id_maker(kind: str) -> Iterator[str]:
    if kind == "v7":
        made = ids.TimeOrderedIds()
        return (made.next() for _ in itertools.count())
    return (i for _ in itertools.count() for i in ids.random_uuids(256))


async def measured(work: Callable[[], Awaitable[int]], server: Callable[[], float]) -> Measured:
    """CPU seconds per item of ``work`` (which answers how many items it did)."""
    client0, server0 = time.process_time(), server()
    items = await work()
    return (time.process_time() - client0) / items, (server() - server0) / items


async def write_records(
    count: int, id_kind: str, commit: Callable[[list[Any]], Awaitable[Any]]
) -> int:
    made = id_maker(id_kind)
    for start in range(0, count, PER_COMMIT):
        ops = [Put("deliveries", record(next(made), n)) for n in range(start, start + PER_COMMIT)]
        await commit(ops)
    return count


# The PostgreSQL delivery log as it was before migration 6: JSON documents, checked by the
# server on every insert.
_AS_JSON = "ALTER TABLE deliveries ALTER COLUMN doc TYPE JSON USING doc::json"


async def records_case(
    database: str, count: int, variant: str, server: Callable[[], float]
) -> Measured:
    """``variant``: ``v7`` or ``v4`` ids (normal commits), ``upsert`` (v7 ids, the
    PostgreSQL fallback path), or ``json`` (v7 ids, PostgreSQL's layout before
    migration 6)."""
    store = open_store(database)
    await store.open()
    try:
        if variant == "json":
            assert isinstance(store, PostgresStore)
            await store._db.execute(_AS_JSON)
            as_text = postgres._upsert_many.__wrapped__
            with unittest.mock.patch.object(
                postgres,
                "_upsert_many",
                lambda c, r=True: as_text(c, r).replace("u.doc::text", "u.doc::json"),
            ):
                return await measured(lambda: write_records(count, "v7", store.commit), server)
        if variant == "upsert":
            assert isinstance(store, PostgresStore)
            pg_store = store

            async def commit(ops: list[Any]) -> Any:
                return await pg_store._commit(ops, inserts=False)

            return await measured(lambda: write_records(count, "v7", commit), server)
        return await measured(lambda: write_records(count, variant, store.commit), server)
    finally:
        await store.close()


# The PostgreSQL event log as it was before migration 7: a row per event, numbered by a
# sequence, read a thousand at a time as one row of joined columns.
_ROWS_TABLE = (
    "CREATE TABLE IF NOT EXISTS event_rows (seq BIGSERIAL PRIMARY KEY, id TEXT NOT NULL,"
    " org_id TEXT NOT NULL, site_id TEXT, topic TEXT NOT NULL,"
    " timestamp DOUBLE PRECISION NOT NULL, body BYTEA NOT NULL);"
    " CREATE INDEX IF NOT EXISTS event_rows_topic_site_seq ON event_rows (topic, site_id, seq)"
)
_APPEND_ROWS = (
    "INSERT INTO event_rows (id, org_id, site_id, topic, timestamp, body)"
    " SELECT u.id, u.org_id, u.site_id, u.topic, u.timestamp, u.body"
    " FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::float8[], $6::bytea[])"
    " WITH ORDINALITY AS u(id, org_id, site_id, topic, timestamp, body, ord) ORDER BY u.ord"
)
_READ_ROWS = (
    "SELECT array_agg(seq), string_agg(id, E'\\n'), array_agg(timestamp),"
    " string_agg(body, '\\x0a'::bytea) FROM (SELECT seq, id, timestamp, body FROM event_rows"
    " WHERE topic = $1 AND site_id = $2 AND org_id = $3 AND seq > $4 ORDER BY seq LIMIT $5) AS e"
)

# Segment bodies as migration 7 stored them: compressed by the server (its lz4), in line
# where they fit.
_SERVER_PACKED = "ALTER TABLE event_segments ALTER COLUMN bodies SET STORAGE MAIN"


@contextlib.contextmanager
def collector_tuned() -> Iterator[None]:
    """The collector as the delivering processes have it, then as it was."""
    thresholds = gc.get_threshold()
    gc_tuning.tune()
    try:
        yield
    finally:
        gc.unfreeze()
        gc.set_threshold(*thresholds)


def new_events(count: int) -> list[NewEvent]:
    """Events of about 300 bytes that compress as real ones do (2-3 times, not 50: each
    has its own id and times, as audits and device events have), not padding alone."""
    fresh = ids.random_uuids(count)
    now = time.time()
    body = b'{"id":"%b","n":%d,"t":%r,"pad":"%b","org_id":"%b","site_id":"%b","timestamp":%r}'
    return [
        NewEvent(
            fresh[n],
            ORG,
            SITE,
            TOPIC,
            now,
            body
            % (
                fresh[n].encode(),
                n,
                now + n * 1e-6,
                PAD.encode(),
                ORG.encode(),
                SITE.encode(),
                now,
            ),
        )
        for n in range(count)
    ]


async def log_case(
    url: str, events: int, variant: str, server: Callable[[], float]
) -> tuple[Measured, Measured]:
    """Appends, then reads, of ``events`` in a fresh database: ``segments`` through the
    store, ``rows`` as the store did before migration 7; ``tuned``: segments, read with
    the collector tuned; ``server-packed``: segments as before migration 8."""
    store = PostgresStore(url)
    await store.open()
    try:
        if variant == "server-packed":
            await store._db.execute(_SERVER_PACKED)
        made = new_events(events)

        async def append_segments() -> int:
            for start in range(0, events, 5000):
                await store.commit([AppendEvents(made[start : start + 5000])])
            return events

        async def read_segments() -> int:
            read = 0
            while got := await store.read_events(TOPIC, ORG, SITE, read, 1000):
                read += len(got)
            assert read == events
            return read

        async def append_rows() -> int:
            await store._db.execute(_ROWS_TABLE)
            for start in range(0, events, 5000):
                batch = made[start : start + 5000]
                async with store._db.acquire() as conn, conn.transaction():
                    await conn.execute(
                        _APPEND_ROWS,
                        [e.id for e in batch],
                        [e.org_id for e in batch],
                        [e.site_id for e in batch],
                        [e.topic for e in batch],
                        [e.timestamp for e in batch],
                        [e.body for e in batch],
                    )
            return events

        async def read_rows() -> int:
            read = 0
            for after in range(0, events, 1000):
                row = await store._reads.fetchrow(_READ_ROWS, TOPIC, SITE, ORG, after, 1000)
                seqs, joined_ids, times, bodies = row.values()
                got = events_of_columns(
                    TOPIC,
                    ORG,
                    seqs,
                    joined_ids.split("\n"),
                    [SITE] * len(seqs),
                    times,
                    bodies.split(b"\n"),
                )
                read += len(got)
            assert read == events
            return read

        if variant == "tuned":
            appended = await measured(append_segments, server)
            with collector_tuned():
                return appended, await measured(read_segments, server)
        if variant == "segments":
            return await measured(append_segments, server), await measured(read_segments, server)
        if variant == "server-packed":
            with unittest.mock.patch.object(segments, "_packed", lambda joined: (joined, False)):
                return await measured(append_segments, server), await measured(
                    read_segments, server
                )
        return await measured(append_rows, server), await measured(read_rows, server)
    finally:
        await store.close()


def report(
    case: str, unit: str, a: tuple[str, list[Measured]], b: tuple[str, list[Measured]]
) -> None:
    """Both variants' mean CPU per item, and the first's over the second's: of the
    client, of the server and in all."""

    def means(runs: list[Measured]) -> tuple[float, float, float]:
        client = sum(r[0] for r in runs) / len(runs) * 1e6
        server = sum(r[1] for r in runs) / len(runs) * 1e6
        return client, server, client + server

    (name_a, runs_a), (name_b, runs_b) = a, b
    first, second = means(runs_a), means(runs_b)
    for name, (client, server, total) in ((name_a, first), (name_b, second)):
        print(
            f"  {name:24} client {client:6.2f}  server {server:6.2f}  total {total:6.2f} us/{unit}"
        )
    ratios = [x / y if y else float("nan") for x, y in zip(first, second, strict=True)]
    print(
        f"{case}: {name_a} / {name_b}: client {ratios[0]:.2f}, server {ratios[1]:.2f},"
        f" total {ratios[2]:.2f}\n"
    )


async def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--records", type=int, default=30_000, help="delivery records per run")
    parser.add_argument("--events", type=int, default=100_000, help="events read per run")
    parser.add_argument("--rounds", type=int, default=3, help="runs of each variant, in turn")
    args = parser.parse_args(argv)
    no_server: Callable[[], float] = lambda: 0.0  # noqa: E731 - SQLite has no server
    with tempfile.TemporaryDirectory(prefix="misthook-store-paths-") as tmp:
        names = itertools.count()

        def sqlite_db() -> str:
            return str(Path(tmp) / f"records-{next(names)}.db")

        runs: dict[str, list[Measured]] = {"v7": [], "v4": []}
        for _ in range(args.rounds):
            for kind in runs:
                runs[kind].append(await records_case(sqlite_db(), args.records, kind, no_server))
        report("SQLite, delivery records", "record", ("v7 ids", runs["v7"]), ("v4 ids", runs["v4"]))
    try:
        find_bin_dir()
    except PostgresUnavailable as exc:
        print(f"PostgreSQL pairs skipped: {exc}", file=sys.stderr)
        return
    pg = PostgresServer().start()
    try:

        def server() -> float:
            return tree_cpu_s(pg.pid)

        async def pg_db() -> str:
            name = f"records_{next(names)}"
            await create_database(pg.url(), name)
            return replace_database(pg.url(), name)

        runs = {"v7": [], "v4": [], "upsert": [], "json": []}
        for _ in range(args.rounds):
            for kind in runs:
                runs[kind].append(await records_case(await pg_db(), args.records, kind, server))
        report(
            "PostgreSQL, delivery records", "record", ("v7 ids", runs["v7"]), ("v4 ids", runs["v4"])
        )
        report(
            "PostgreSQL, delivery records",
            "record",
            ("plain inserts (v7 ids)", runs["v7"]),
            ("upserts (v7 ids)", runs["upsert"]),
        )
        report(
            "PostgreSQL, delivery records",
            "record",
            ("plain text documents", runs["v7"]),
            ("JSON documents", runs["json"]),
        )
        kinds = ("segments", "rows", "tuned", "server-packed")
        appends: dict[str, list[Measured]] = {kind: [] for kind in kinds}
        reads: dict[str, list[Measured]] = {kind: [] for kind in kinds}
        for _ in range(args.rounds):
            for kind in reads:
                appended, read = await log_case(await pg_db(), args.events, kind, server)
                appends[kind].append(appended)
                reads[kind].append(read)
        pairs = (
            ("segments", "rows", "a row per event"),
            ("bodies packed by misthook", "server-packed", "packed by the server"),
        )
        for name, other, other_name in pairs:
            for what, runs_of in (("appends", appends), ("reads", reads)):
                report(
                    f"PostgreSQL, event log {what}",
                    "event",
                    (name, runs_of["segments"]),
                    (other_name, runs_of[other]),
                )
        report(
            "PostgreSQL, event log reads",
            "event",
            ("collector tuned", reads["tuned"]),
            ("CPython's defaults", reads["segments"]),
        )
    finally:
        pg.stop()
    print(f"{os.cpu_count()} cores; client: this process; server: PostgreSQL and its backends")


if __name__ == "__main__":
    asyncio.run(main())
