from __future__ import annotations

from misthook.cli import main

main()
