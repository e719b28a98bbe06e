"""The command line as a user runs it: init twice, migrate, help on every command."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from misthook.testing.server import init_database, misthook_cmd

COMMANDS = ("init", "migrate", "serve", "worker", "listen", "simulate")


def test_init_twice_keeps_the_ids_and_issues_a_fresh_token(tmp_path: Path) -> None:
    """The second init prints the same org and site and a different, new token."""
    database = str(tmp_path / "m.db")
    first, second = init_database(database), init_database(database)
    assert (first["org_id"], first["site_id"]) == (second["org_id"], second["site_id"])
    assert first["token"] != second["token"]


def test_init_prints_the_sign_in_once(tmp_path: Path) -> None:
    """The human-readable init shows the ids, a token and, the first time, a password."""
    database = str(tmp_path / "m.db")
    run = [*misthook_cmd("init", "--database", database)]
    out = subprocess.run(run, capture_output=True, text=True, check=True, timeout=60).stdout
    for label in ("org_id:", "site_id:", "API token:", "sign-in:", "password:"):
        assert label in out
    again = subprocess.run(run, capture_output=True, text=True, check=True, timeout=60).stdout
    assert "password:" not in again


def test_migrate_reports_the_schema_version(tmp_path: Path) -> None:
    """`migrate` on a new file applies the migrations and says which version it is at."""
    out = subprocess.run(
        misthook_cmd("migrate", "--database", str(tmp_path / "m.db")),
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    assert out.startswith("schema version ")
    assert int(out.split()[-1]) >= 1


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(command: str) -> None:
    """Each command explains itself and its options."""
    out = subprocess.run(
        misthook_cmd(command, "--help"), capture_output=True, text=True, check=True, timeout=60
    ).stdout
    assert "Usage:" in out
    assert "--help" in out


def test_a_bad_setting_is_a_clear_error(tmp_path: Path) -> None:
    """An invalid MISTHOOK_EGRESS_ALLOW stops serve at once, saying what to write."""
    result = subprocess.run(
        misthook_cmd("serve", "--database", str(tmp_path / "m.db")),
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "MISTHOOK_EGRESS_ALLOW": "not-a-network"},
    )
    assert result.returncode != 0
    assert "CIDR" in result.stderr
