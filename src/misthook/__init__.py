"""misthook: a self-hosted, Mist-compatible webhook platform."""

from __future__ import annotations

__version__ = "0.1.0"
