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
- on PostgreSQL, a read of a thousand events answered with ids and bodies joined by
  newlines (the fast path) against arrays and lengths (the fallback).

Without the PostgreSQL server binaries only the SQLite pair runs.
"""

from __future__ import annotations

import argparse
import asyncio
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
from misthook import ids
from misthook.store import open_store, postgres
from misthook.store.base import AppendEvents, NewEvent, Put
from misthook.store.postgres import (
    _READ_SITE_BY_LENGTH,
    _READ_SITE_EVENTS,
    PostgresStore,
    _split_by_length,
    _split_joined,
    create_database,
)
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


async def reads_case(url: str, events: int, variant: str, server: Callable[[], float]) -> Measured:
    store = PostgresStore(url)
    await store.open()
    try:
        if await store.max_seq() == 0:
            fresh = ids.random_uuids(events)
            for start in range(0, events, 5000):
                batch = [
                    NewEvent(
                        fresh[n],
                        ORG,
                        SITE,
                        TOPIC,
                        time.time(),
                        b'{"n":%d,"pad":"%b"}' % (n, PAD.encode()),
                    )
                    for n in range(start, min(events, start + 5000))
                ]
                await store.commit([AppendEvents(batch)])
        statement = _READ_SITE_EVENTS if variant == "joined" else _READ_SITE_BY_LENGTH

        async def read_all() -> int:
            read = 0
            for after in range(0, events, 1000):
                row = await store._reads.fetchrow(statement, TOPIC, SITE, ORG, after, 1000)
                split = _split_joined if variant == "joined" else _split_by_length
                got = split(TOPIC, ORG, SITE, row)
                assert got is not None and len(got) == min(1000, events - after)
                read += len(got)
            return read

        return await measured(read_all, server)
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
        url = await pg_db()
        reads: dict[str, list[Measured]] = {"joined": [], "lengths": []}
        await reads_case(url, args.events, "joined", server)  # appends the events, warms up
        for _ in range(args.rounds):
            for kind in reads:
                reads[kind].append(await reads_case(url, args.events, kind, server))
        report(
            "PostgreSQL, reads of 1000 events",
            "event",
            ("joined ids and bodies", reads["joined"]),
            ("arrays and lengths", reads["lengths"]),
        )
    finally:
        pg.stop()
    print(f"{os.cpu_count()} cores; client: this process; server: PostgreSQL and its backends")


if __name__ == "__main__":
    asyncio.run(main())
