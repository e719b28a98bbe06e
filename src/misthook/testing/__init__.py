"""Helpers for misthook's own tests: a `misthook serve` subprocess, an API client and a
recording receiver. Imported only by tests/ and bench/."""

from __future__ import annotations
