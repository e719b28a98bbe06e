"""Root fixtures: a real PostgreSQL server for the session, and a store per backend.

PostgreSQL: the session starts its own server (see misthook.testing.pg_server) unless
``MISTHOOK_TEST_DATABASE_URL`` names one to use (its user must be allowed to create databases).

* ``postgres_url`` (session): a database of its own for the session.
* ``fresh_postgres_url``: a new, empty database for one test.
* ``store_url``: parametrized over memory / sqlite / postgres, and memory / sqlite behind
  the tail cache (``+tail``; a fresh place each test).
* ``store``: the opened Store at ``store_url``; ``store_twin``: a second instance on
  the same data (the same instance for memory, which cannot share).
"""

from __future__ import annotations

import itertools
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from misthook.store import MEMORY_URL, open_store
from misthook.store.base import Store
from misthook.store.tail import TailCachedStore
from misthook.testing.pg_server import (
    PostgresServer,
    PostgresUnavailable,
    create_database_on,
    database_of,
    drop_database_on,
    replace_database,
)

DATABASE_URL_ENV = "MISTHOOK_TEST_DATABASE_URL"


class PostgresDatabases:
    """Makes empty databases on the session's PostgreSQL server."""

    def __init__(self, server_url: str, *, drop_after: bool) -> None:
        self.server_url = server_url
        self.drop_after = drop_after
        self._names = (f"misthook_test_{os.getpid()}_{n}" for n in itertools.count(1))

    def create(self) -> str:
        return create_database_on(self.server_url, next(self._names))

    def drop(self, url: str) -> None:
        if self.drop_after:
            drop_database_on(self.server_url, database_of(url))


@pytest.fixture(scope="session")
def postgres_databases() -> Iterator[PostgresDatabases]:
    """The PostgreSQL server of the session (started here unless given by URL)."""
    given = os.environ.get(DATABASE_URL_ENV)
    if given:
        yield PostgresDatabases(replace_database(given, "postgres"), drop_after=True)
        return
    try:
        server = PostgresServer().start()
    except PostgresUnavailable as exc:
        pytest.fail(str(exc), pytrace=False)
    try:
        yield PostgresDatabases(server.url(), drop_after=False)
    finally:
        server.stop()


@pytest.fixture(scope="session")
def postgres_url(postgres_databases: PostgresDatabases) -> str:
    """URL of a PostgreSQL database kept for the whole session."""
    return postgres_databases.create()


@pytest.fixture
def fresh_postgres_url(postgres_databases: PostgresDatabases) -> Iterator[str]:
    """URL of a new, empty PostgreSQL database for this test."""
    url = postgres_databases.create()
    yield url
    postgres_databases.drop(url)


TAIL = "+tail"  # a backend behind misthook.store.tail.TailCachedStore, as the app runs it


@pytest.fixture(
    params=[
        "memory",
        "sqlite",
        pytest.param("postgres", marks=pytest.mark.postgres),
        "memory" + TAIL,
        "sqlite" + TAIL,
        pytest.param("postgres" + TAIL, marks=pytest.mark.postgres),
    ]
)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Where a fresh store lives: memory://, a SQLite file, or a PostgreSQL database."""
    backend = request.param.removesuffix(TAIL)
    if backend == "memory":
        return MEMORY_URL
    if backend == "sqlite":
        return str(tmp_path / "misthook.db")
    url: str = request.getfixturevalue("fresh_postgres_url")
    return url


def _open_store(request: pytest.FixtureRequest, url: str) -> Store:
    """The store at ``url``, behind the tail cache when the parameter says ``+tail``."""
    store = open_store(url)
    if str(request.node.callspec.params.get("store_url", "")).endswith(TAIL):
        return TailCachedStore(
            store,
            max_events=100_000,
            max_bytes=64 * 1024 * 1024,
            read_cache_events=100_000,
            read_cache_bytes=64 * 1024 * 1024,
        )
    return store


@pytest.fixture
async def store(request: pytest.FixtureRequest, store_url: str) -> AsyncIterator[Store]:
    """An opened store, one per backend."""
    opened = _open_store(request, store_url)
    await opened.open()
    try:
        yield opened
    finally:
        await opened.close()


@pytest.fixture
async def store_twin(
    request: pytest.FixtureRequest, store: Store, store_url: str
) -> AsyncIterator[Store]:
    """A second store instance on the data of ``store`` (``store`` itself for memory)."""
    if store_url == MEMORY_URL:
        yield store
        return
    twin = _open_store(request, store_url)
    await twin.open()
    try:
        yield twin
    finally:
        await twin.close()
