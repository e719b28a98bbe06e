"""Benchmarks of misthook's delivery engine (``make bench`` runs ``python -m bench.run``)."""

from __future__ import annotations
