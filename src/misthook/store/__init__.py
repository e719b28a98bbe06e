"""Stores: the Store protocol (``base``) and its three backends.

``open_store`` picks a backend from the ``database`` setting; call ``await
store.open()`` before use (it connects and applies pending migrations).
"""

from __future__ import annotations

from misthook.store.base import Store

MEMORY_URL = "memory://"


def open_store(database: str) -> Store:
    """``memory://``, a ``postgresql://`` (or ``postgres://``) URL, or a SQLite file path."""
    if database == MEMORY_URL:
        from misthook.store.memory import InMemoryStore

        return InMemoryStore()
    if database.startswith(("postgresql://", "postgres://")):
        # Imported here so that only PostgreSQL users load asyncpg.
        from misthook.store.postgres import PostgresStore

        return PostgresStore(database)
    from misthook.store.sqlite import SqliteStore

    return SqliteStore(database)


__all__ = ["MEMORY_URL", "Store", "open_store"]
