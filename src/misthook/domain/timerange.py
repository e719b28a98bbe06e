"""Mist's time-window and sort query parameters (reference mist_api.md §1).

``start``/``end`` are epoch seconds (``"1700000000"``, ``"1700000000.5"``), ``"now"``, or a
time relative to now (``"-1d"``, ``"-2h"``, ``"-10m"``, ``"-30s"``, ``"-1w"``).
``duration`` is a positive span (``"10m"``, ``"1h"``, ``"7d"``, ``"2w"``; bare digits are
seconds) and defaults to ``"1d"``.

How the three combine, first rule that applies:

1. ``start`` and ``end``: used as given; ``duration`` is ignored.
2. ``end`` only: ``start = end - duration``.
3. ``start`` and an explicit ``duration``: ``end = start + duration``.
4. ``start`` only: ``end = now``. Someone asking for ``start=-7d`` means "the last seven
   days", not the first day of them, so the *default* duration does not cut the window.
5. nothing: the last ``duration`` (a day) up to now.

The window is rejected when start is after end.
"""

from __future__ import annotations

import math
import re
from collections.abc import Collection

from misthook.errors import BadRequestError

DEFAULT_DURATION = "1d"

_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_SPAN = re.compile(r"(\d+)([smhdw])")


def _span_s(text: str) -> float | None:
    """Seconds of ``"10m"``-style text, or None when it is not one."""
    match = _SPAN.fullmatch(text)
    if match is None:
        return None
    return float(int(match.group(1)) * _UNIT_S[match.group(2)])


def parse_duration(duration: str | None) -> float:
    """Seconds of a ``duration`` parameter (default one day)."""
    text = (duration or DEFAULT_DURATION).strip()
    seconds = float(text) if text.isdigit() else _span_s(text)
    if seconds is None or seconds <= 0:
        raise BadRequestError(
            f"invalid duration: {duration}", reason='expected a span like "10m", "1h", "7d", "2w"'
        )
    return seconds


def parse_time(name: str, value: str, now: float) -> float:
    """Epoch seconds of a ``start``/``end`` value: epoch, ``"now"`` or ``"-<span>"``."""
    text = value.strip()
    if text == "now":
        return now
    if text.startswith("-") and (span := _span_s(text[1:])) is not None:
        return now - span
    try:
        seconds = float(text)
    except ValueError:
        seconds = math.nan
    if not math.isfinite(seconds) or seconds < 0:
        raise BadRequestError(
            f"invalid {name}: {value}",
            reason='expected epoch seconds, "now" or a relative time like "-1d"',
        )
    return seconds


def resolve_window(
    start: str | None, end: str | None, duration: str | None, now: float
) -> tuple[float, float]:
    """The ``(start, end)`` epoch seconds of a query; see the module docstring for the rules."""
    span_s = parse_duration(duration)
    start_s = parse_time("start", start, now) if start else None
    end_s = parse_time("end", end, now) if end else None
    if start_s is not None and end_s is not None:
        pass
    elif end_s is not None:
        start_s = end_s - span_s
    elif start_s is not None:
        end_s = start_s + span_s if duration else now
    else:
        end_s, start_s = now, now - span_s
    if start_s > end_s:
        raise BadRequestError(f"invalid start: {start}", reason="start is after end")
    return start_s, end_s


def parse_sort(sort: str | None, allowed: Collection[str], default: str) -> str:
    """A ``sort`` parameter as ``"field"`` (ascending) or ``"-field"`` (descending)."""
    if not sort:
        return default
    field = sort.removeprefix("-")
    if field not in allowed:
        raise BadRequestError(
            f"invalid sort: {sort}", reason=f"sortable fields: {', '.join(sorted(allowed))}"
        )
    return sort
