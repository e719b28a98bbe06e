"""Print the README's configuration table from misthook.config (fields, defaults, comments)."""

from __future__ import annotations

import dataclasses
import inspect
import re

from misthook import config


def rows() -> list[tuple[str, str, str]]:
    source = inspect.getsource(config.Config)
    comments: dict[str, str] = {}
    pending: list[str] = []
    last = ""  # a comment above a group of fields covers each of them
    for line in source.splitlines():
        stripped = line.strip()
        if stripped.startswith("#"):
            pending.append(stripped.lstrip("# "))
            continue
        match = re.match(r"(\w+): [^=]+=", stripped)
        if match:
            last = " ".join(pending) if pending else last
            comments[match.group(1)] = last
            pending = []
    out = []
    for field in dataclasses.fields(config.Config):
        default = field.default
        shown = ",".join(str(v) for v in default) if isinstance(default, tuple) else default
        out.append((f"MISTHOOK_{field.name.upper()}", f"`{shown}`", comments.get(field.name, "")))
    return out


if __name__ == "__main__":
    print("| variable | default | meaning |")
    print("|---|---|---|")
    for name, default, comment in rows():
        print(f"| `{name}` | {default} | {comment} |")
