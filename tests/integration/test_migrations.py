"""Migrations: an empty database reaches the current schema, and re-opening changes nothing."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from misthook.store import open_store
from misthook.store.base import (
    COLLECTIONS,
    AppendEvents,
    DeleteWhere,
    Filter,
    NewEvent,
    Put,
    Query,
    Store,
)
from misthook.store.sql import latest_version, load_migrations

CORE_TABLES = {"streams", "schema_version"}
SQLITE_LOG = {"events"}
POSTGRES_LOG = {"event_segments"}  # migration 7


def sqlite_schema(path: Path) -> list[tuple[str, str, str]]:
    with sqlite3.connect(path) as db:
        rows = db.execute(
            "SELECT type, name, coalesce(sql, '') FROM sqlite_master ORDER BY type, name"
        ).fetchall()
    return [(str(t), str(n), str(s)) for t, n, s in rows]


def sqlite_versions(path: Path) -> list[tuple[int, float]]:
    with sqlite3.connect(path) as db:
        return db.execute("SELECT version, applied_at FROM schema_version").fetchall()


async def postgres_schema(url: str) -> list[tuple[str, ...]]:
    conn = await asyncpg.connect(url)
    try:
        columns = await conn.fetch(
            "SELECT table_name, column_name, data_type, is_nullable FROM"
            " information_schema.columns WHERE table_schema = 'public'"
            " ORDER BY table_name, column_name"
        )
        indexes = await conn.fetch(
            "SELECT tablename, indexname, indexdef FROM pg_indexes"
            " WHERE schemaname = 'public' ORDER BY indexname"
        )
    finally:
        await conn.close()
    return [tuple(r.values()) for r in columns] + [tuple(r.values()) for r in indexes]


async def postgres_versions(url: str) -> list[tuple[int, float]]:
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch("SELECT version, applied_at FROM schema_version ORDER BY 1")
    finally:
        await conn.close()
    return [(r[0], r[1]) for r in rows]


async def migrate(database: str) -> int:
    store = open_store(database)
    await store.open()
    try:
        return await store.schema_version()
    finally:
        await store.close()


def test_migration_files_are_numbered_from_one() -> None:
    """Both dialects have the same versions, numbered 1, 2, ... without gaps."""
    for dialect in ("sqlite", "postgres"):
        versions = [v for v, _ in load_migrations(dialect)]
        assert versions == list(range(1, len(versions) + 1))
    assert latest_version("sqlite") == latest_version("postgres") >= 1


async def test_sqlite_empty_file_reaches_current_schema(tmp_path: Path) -> None:
    """Migrating an empty SQLite file gives the current version and every table."""
    path = tmp_path / "a.db"
    assert await migrate(str(path)) == latest_version("sqlite")
    tables = {name for kind, name, _ in sqlite_schema(path) if kind == "table"}
    assert set(COLLECTIONS) | CORE_TABLES | SQLITE_LOG <= tables


async def test_sqlite_migrations_are_idempotent(tmp_path: Path) -> None:
    """Two empty files migrate to the same schema; re-opening one changes nothing."""
    first, second = tmp_path / "a.db", tmp_path / "b.db"
    await migrate(str(first))
    await migrate(str(second))
    schema, versions = sqlite_schema(first), sqlite_versions(first)
    assert schema == sqlite_schema(second)
    assert await migrate(str(first)) == latest_version("sqlite")
    assert sqlite_schema(first) == schema
    assert sqlite_versions(first) == versions  # nothing applied again


async def test_sqlite_concurrent_first_opens(tmp_path: Path) -> None:
    """Several stores opening one new file at once migrate it once."""
    path = str(tmp_path / "a.db")
    versions = await asyncio.gather(*(migrate(path) for _ in range(4)))
    assert versions == [latest_version("sqlite")] * 4
    assert len(sqlite_versions(Path(path))) == latest_version("sqlite")


@pytest.mark.postgres
async def test_postgres_empty_database_reaches_current_schema(fresh_postgres_url: str) -> None:
    """Migrating an empty PostgreSQL database gives the current version and every table."""
    assert await migrate(fresh_postgres_url) == latest_version("postgres")
    tables = {row[0] for row in await postgres_schema(fresh_postgres_url)}
    assert set(COLLECTIONS) | CORE_TABLES | POSTGRES_LOG <= tables
    assert "events" not in tables


@pytest.mark.postgres
async def test_postgres_migrations_are_idempotent(
    fresh_postgres_url: str, postgres_url: str
) -> None:
    """Re-opening a migrated database changes nothing; a second database gets the same
    schema; concurrent first opens migrate once."""
    url = fresh_postgres_url
    await asyncio.gather(*(migrate(url) for _ in range(3)))
    schema, versions = await postgres_schema(url), await postgres_versions(url)
    assert len(versions) == latest_version("postgres")
    assert await migrate(url) == latest_version("postgres")
    assert await postgres_schema(url) == schema
    assert await postgres_versions(url) == versions
    await migrate(postgres_url)
    assert await postgres_schema(postgres_url) == schema


OLD_DELIVERY_INDEXES = {"deliveries_org_id", "deliveries_site_id", "deliveries_lookup"}


def sqlite_indexes(path: Path, table: str) -> set[str]:
    with sqlite3.connect(path) as db:
        rows = db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = ?"
            " AND sql IS NOT NULL",
            (table,),
        ).fetchall()
    return {str(r[0]) for r in rows}


async def postgres_indexes(url: str, table: str) -> set[str]:
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch("SELECT indexname FROM pg_indexes WHERE tablename = $1", table)
    finally:
        await conn.close()
    return {str(r[0]) for r in rows}


async def test_sqlite_delivery_log_keeps_only_the_indexes_it_reads_by(tmp_path: Path) -> None:
    """A new file indexes deliveries by webhook and time only; a file made before
    migration 3 loses its org, site and status indexes when it is opened."""
    path = tmp_path / "a.db"
    await migrate(str(path))
    assert sqlite_indexes(path, "deliveries") == {"deliveries_owner", "deliveries_time"}
    assert sqlite_indexes(path, "audit_logs") >= {"audit_logs_org_id", "audit_logs_lookup"}
    with sqlite3.connect(path) as db:  # as an older misthook left it
        for name, column in (("org_id", "org_id"), ("site_id", "site_id"), ("lookup", "lookup")):
            db.execute(f"CREATE INDEX deliveries_{name} ON deliveries ({column})")
        db.execute("DELETE FROM schema_version WHERE version >= 3")
    assert sqlite_indexes(path, "deliveries") >= OLD_DELIVERY_INDEXES
    assert await migrate(str(path)) == latest_version("sqlite")
    assert sqlite_indexes(path, "deliveries") == {"deliveries_owner", "deliveries_time"}


@pytest.mark.postgres
async def test_postgres_delivery_log_keeps_only_the_indexes_it_reads_by(
    fresh_postgres_url: str,
) -> None:
    """As on SQLite: by webhook and time only, and older databases lose the others."""
    url = fresh_postgres_url
    await migrate(url)
    kept = {"deliveries_pkey", "deliveries_owner", "deliveries_time"}
    assert await postgres_indexes(url, "deliveries") == kept
    assert await postgres_indexes(url, "audit_logs") >= {"audit_logs_org_id", "audit_logs_lookup"}
    conn = await asyncpg.connect(url)
    try:
        for name, column in (("org_id", "org_id"), ("site_id", "site_id"), ("lookup", "lookup")):
            await conn.execute(f"CREATE INDEX deliveries_{name} ON deliveries ({column})")
        await conn.execute("DELETE FROM schema_version WHERE version >= 3")
    finally:
        await conn.close()
    assert await postgres_indexes(url, "deliveries") >= OLD_DELIVERY_INDEXES
    assert await migrate(url) == latest_version("postgres")
    assert await postgres_indexes(url, "deliveries") == kept


async def postgres_doc_type(url: str, table: str) -> str:
    conn = await asyncpg.connect(url)
    try:
        return str(
            await conn.fetchval(
                "SELECT data_type FROM information_schema.columns"
                " WHERE table_name = $1 AND column_name = 'doc'",
                table,
            )
        )
    finally:
        await conn.close()


@pytest.mark.postgres
async def test_postgres_delivery_log_documents_become_plain_text(fresh_postgres_url: str) -> None:
    """Delivery records are plain text (cheaper to write); other collections stay JSONB;
    a database made before migration 4 (JSONB records) converts its records, keeps them
    as they were, and still finds, counts and prunes them by their fields."""
    url = fresh_postgres_url
    await migrate(url)
    assert await postgres_doc_type(url, "deliveries") == "text"
    assert await postgres_doc_type(url, "webhooks") == "jsonb"
    record = {
        "id": "d1",
        "webhook_id": "w1",
        "status": "success",
        "status_code": 200,
        "timestamp": 1.5,
        "payload_ref": {"first_seq": 1, "count": 2},
        "error": "",
    }
    older = {**record, "id": "d0", "timestamp": 0.5}
    store = open_store(url)
    await store.open()
    try:
        await store.commit([Put("deliveries", record), Put("deliveries", older)])
    finally:
        await store.close()
    conn = await asyncpg.connect(url)  # as an older misthook left it
    try:
        await conn.execute("ALTER TABLE deliveries ALTER COLUMN doc TYPE JSONB USING doc::jsonb")
        await conn.execute("DELETE FROM schema_version WHERE version >= 4")
    finally:
        await conn.close()
    assert await postgres_doc_type(url, "deliveries") == "jsonb"
    assert await migrate(url) == latest_version("postgres")
    assert await postgres_doc_type(url, "deliveries") == "text"
    store = open_store(url)
    await store.open()
    try:
        assert await store.get("deliveries", "d1") == record
        found = await store.query(
            "deliveries",
            Query((Filter("status_code", "eq", 200), Filter("error", "eq", "")), sort="timestamp"),
        )
        assert found == [older, record]
        assert await store.count_distinct("deliveries", (), "status_code", 10) == [(200, 2)]
        await store.commit([DeleteWhere("deliveries", (Filter("timestamp", "lt", 1.0),))])
        assert await store.query("deliveries", Query(sort="timestamp")) == [record]
    finally:
        await store.close()


async def migrate_postgres_to(url: str, version: int) -> None:
    """The schema as a misthook of that migration left it (collections come at open)."""
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(
            "CREATE TABLE schema_version"
            " (version INTEGER PRIMARY KEY, applied_at DOUBLE PRECISION NOT NULL)"
        )
        for number, script in load_migrations("postgres"):
            if number <= version:
                await conn.execute(script)
                await conn.execute("INSERT INTO schema_version VALUES ($1, 0)", number)
    finally:
        await conn.close()


@pytest.mark.postgres
async def test_postgres_event_log_moves_into_segments(fresh_postgres_url: str) -> None:
    """A database of migration 6 keeps a row per event: migration 7 moves its events into
    segments with their numbers, ids, times and bodies, and numbering goes on after them,
    so streams' cursors keep their meaning."""
    url = fresh_postgres_url
    await migrate_postgres_to(url, 6)
    conn = await asyncpg.connect(url)
    try:
        for n in range(1, 6):
            await conn.execute(
                "INSERT INTO events (id, org_id, site_id, topic, timestamp, body)"
                " VALUES ($1, 'o1', $2, 'audits', $3, $4)",
                f"ev-{n}",
                None if n == 3 else "s1",  # one org-level event among the site's
                100.0 + n,
                b'{"n":%d}' % n,
            )
        await conn.execute("DELETE FROM events WHERE id = 'ev-5'")  # pruned: its seq stays used
    finally:
        await conn.close()
    async with migrated(url) as store:
        org = await store.read_events("audits", "o1", None, 1, 10)
        assert [(e.seq, e.id, e.site_id, e.timestamp, e.body) for e in org] == [
            (n, f"ev-{n}", None if n == 3 else "s1", 100.0 + n, b'{"n":%d}' % n) for n in (2, 3, 4)
        ]
        site = await store.read_events("audits", "o1", "s1", 0, 10)
        assert [e.seq for e in site] == [1, 2, 4]
        assert (await store.oldest_seq(), await store.max_seq()) == (1, 4)
        appended = await store.commit([AppendEvents([event_at(200.0, "ev-6")])])
        assert appended.event_seqs == [6]
        assert [e.id for e in await store.read_events("audits", "o1", "s1", 4, 10)] == ["ev-6"]
    tables = {row[0] for row in await postgres_schema(url)}
    assert "events" not in tables and "event_segments" in tables


@pytest.mark.postgres
async def test_postgres_segments_of_migration_7_read_beside_packed_ones(
    fresh_postgres_url: str,
) -> None:
    """Segments appended before migration 8 hold their bodies as they are (compressed by
    the server): they read as before, and segments appended after are packed by misthook
    (an lz4 block) and stored as given."""
    url = fresh_postgres_url
    await migrate_postgres_to(url, 7)
    bodies = [b'{"n":%d,"pad":"%s"}' % (n, b"x" * 200) for n in range(1, 4)]
    conn = await asyncpg.connect(url)
    try:
        await conn.execute("SELECT setval('event_seq', 3)")
        await conn.execute(
            "INSERT INTO event_segments (first_seq, last_seq, org_id, site_id, topic, newest,"
            " ids, bodies) VALUES (1, 3, 'o1', 's1', 'audits', 100.0, 'ev-1\nev-2\nev-3', $1)",
            b"\n".join(bodies),
        )
    finally:
        await conn.close()
    async with migrated(url) as store:
        later = [
            NewEvent(
                f"ev-{n}", "o1", "s1", "audits", 200.0, b'{"m":%d,"pad":"%s"}' % (n, b"y" * 200)
            )
            for n in (4, 5)
        ]
        assert (await store.commit([AppendEvents(later)])).event_seqs == [4, 5]
        read = await store.read_events("audits", "o1", "s1", 1, 10)
        assert [(e.seq, e.id, e.body) for e in read] == [
            (2, "ev-2", bodies[1]),
            (3, "ev-3", bodies[2]),
            (4, "ev-4", later[0].body),
            (5, "ev-5", later[1].body),
        ]
    conn = await asyncpg.connect(url)
    try:
        stored = await conn.fetch(
            "SELECT first_seq, bodies_lz4, length(bodies) AS size FROM event_segments ORDER BY 1"
        )
        storage = await conn.fetchval(
            "SELECT attstorage FROM pg_attribute"
            " WHERE attrelid = 'event_segments'::regclass AND attname = 'bodies'"
        )
    finally:
        await conn.close()
    assert [(r["first_seq"], r["bodies_lz4"]) for r in stored] == [(1, False), (4, True)]
    assert stored[1]["size"] < sum(len(e.body) for e in later) / 2
    assert storage == b"e"  # external: not compressed again by the server


@contextlib.asynccontextmanager
async def migrated(url: str) -> AsyncIterator[Store]:
    """The store of ``url``, opened (which migrates it to the latest version)."""
    store = open_store(url)
    await store.open()
    try:
        assert await store.schema_version() == latest_version("postgres")
        yield store
    finally:
        await store.close()


def event_at(timestamp: float, event_id: str) -> NewEvent:
    return NewEvent(event_id, "o1", "s1", "audits", timestamp, b'{"id":"%b"}' % event_id.encode())
