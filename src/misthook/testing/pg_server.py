"""A throwaway PostgreSQL server for tests: initdb in a temp folder, pg_ctl start/stop.

PostgreSQL refuses to run as root, and tests (CI too) run as root: then the data
folder belongs to the ``postgres`` user and every server command runs through
``runuser -u postgres --``. The server listens on 127.0.0.1 only, on a free port, with
durability off (a test database is thrown away anyway).
"""

from __future__ import annotations

import asyncio
import glob
import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

INSTALL_HINT = "run `bash scripts/install_test_deps.sh` to install the PostgreSQL server"


class PostgresUnavailable(RuntimeError):
    """The PostgreSQL server binaries are missing or the server would not start."""


def find_bin_dir() -> str:
    """The folder of initdb/pg_ctl: on the PATH, or Debian's /usr/lib/postgresql/<n>/bin."""
    on_path = shutil.which("initdb")
    if on_path and shutil.which("pg_ctl"):
        return str(Path(on_path).parent)
    for candidate in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if Path(candidate, "initdb").exists() and Path(candidate, "pg_ctl").exists():
            return candidate
    raise PostgresUnavailable(
        f"PostgreSQL server binaries (initdb, pg_ctl) not found: {INSTALL_HINT}"
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class PostgresServer:
    """One PostgreSQL server; ``url(db)`` names a database on it."""

    def __init__(self) -> None:
        self.bin_dir = find_bin_dir()
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="misthook-pg-"))
        self.data = self.root / "data"
        self._as_postgres = os.geteuid() == 0
        self._names = itertools.count(1)

    def _run(self, *args: str) -> None:
        command = [str(Path(self.bin_dir, args[0])), *args[1:]]
        if self._as_postgres:
            command = ["runuser", "-u", "postgres", "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
        if done.returncode != 0:
            raise PostgresUnavailable(
                f"{' '.join(args[:1])} failed ({done.returncode}): {done.stderr or done.stdout}"
            )

    def start(self) -> PostgresServer:
        if self._as_postgres:
            user = pwd.getpwnam("postgres")
            os.chown(self.root, user.pw_uid, user.pw_gid)
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "-E", "UTF8")
        options = (
            f"-k {self.root} -h 127.0.0.1 -p {self.port}"
            " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
            " -c max_connections=200"
        )
        log = str(self.root / "server.log")
        self._run(
            "pg_ctl", "-D", str(self.data), "-o", options, "-l", log, "-w", "-t", "60", "start"
        )
        return self

    def stop(self) -> None:
        try:
            self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    @property
    def pid(self) -> int:
        """The postmaster's pid (its backends are its children)."""
        return int((self.data / "postmaster.pid").read_text().split()[0])

    def new_database(self, prefix: str = "test") -> str:
        """Create an empty database and return its URL."""
        return create_database_on(self.url(), f"{prefix}_{next(self._names)}")

    def drop_database(self, url: str) -> None:
        """Drop the database of ``url`` (made by ``new_database``), ending its sessions."""
        drop_database_on(self.url(), database_of(url))


def create_database_on(server_url: str, name: str) -> str:
    """Create database ``name`` on the server of ``server_url``; return its URL."""
    from misthook.store.postgres import create_database

    asyncio.run(create_database(server_url, name))
    return replace_database(server_url, name)


def drop_database_on(server_url: str, name: str) -> None:
    """Drop database ``name`` on the server of ``server_url``, ending its sessions."""
    import asyncpg

    if not name.isidentifier():
        raise ValueError(f"Invalid database name {name!r}.")

    async def drop() -> None:
        conn = await asyncpg.connect(server_url)
        try:
            await conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        finally:
            await conn.close()

    asyncio.run(drop())


def database_of(url: str) -> str:
    """The database name of a postgresql:// URL."""
    return url.partition("?")[0].rsplit("/", 1)[1]


def replace_database(url: str, name: str) -> str:
    """``url`` with its database name replaced (query string kept)."""
    base, _, query = url.partition("?")
    scheme, _, rest = base.partition("://")
    authority = rest.split("/", 1)[0]
    return f"{scheme}://{authority}/{name}" + (f"?{query}" if query else "")
