"""The README stays true to the code: its configuration table and its two commands."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _config_table_rows() -> list[tuple[str, str, str]]:
    spec = importlib.util.spec_from_file_location("config_table", ROOT / "scripts/config_table.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    rows: list[tuple[str, str, str]] = module.rows()
    return rows


def test_every_setting_is_documented_with_its_default() -> None:
    """Each Config field appears in the README table with its current default
    (regenerate with `python scripts/config_table.py`)."""
    readme = (ROOT / "README.md").read_text()
    for name, default, _ in _config_table_rows():
        assert f"| `{name}` | {default} |" in readme, name


def test_readme_names_the_two_commands() -> None:
    """`make run` and `make test` are the README's set-up, and the Makefile has both."""
    readme = (ROOT / "README.md").read_text()
    makefile = (ROOT / "Makefile").read_text()
    for target in ("run", "test"):
        assert f"make {target}" in readme
        assert f"\n{target}:" in makefile
