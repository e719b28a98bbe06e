"""Page-based list parameters and search ``next`` links (reference mist_api.md §1).

Lists take ``limit`` (default 100, at most 1000) and ``page`` (default 1). A ``limit`` above
1000 is lowered to 1000 rather than rejected, and ``limit=0`` means the default, because
Mist documents 1000 as a ceiling and the SDK never sends a zero. Search answers carry a
``next`` path relative to the host, which clients fetch as ``https://{host}{next}``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from urllib.parse import quote, urlencode

from misthook.errors import BadRequestError

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000


def _as_int(name: str, value: str | int) -> int:
    if isinstance(value, bool):
        raise BadRequestError(f"invalid {name}: {value}", reason="expected an integer")
    if isinstance(value, int):
        return value
    try:
        return int(value.strip())
    except ValueError:
        raise BadRequestError(f"invalid {name}: {value}", reason="expected an integer") from None


def page_params(limit: str | int | None, page: str | int | None) -> tuple[int, int]:
    """``(limit, page)`` of a list request, defaults applied."""
    limit_n = DEFAULT_LIMIT if limit is None or limit == "" else _as_int("limit", limit)
    if limit_n < 0:
        raise BadRequestError(f"invalid limit: {limit}", reason="limit must be >= 0")
    limit_n = min(limit_n or DEFAULT_LIMIT, MAX_LIMIT)
    page_n = 1 if page is None or page == "" else _as_int("page", page)
    if page_n < 1:
        raise BadRequestError(f"invalid page: {page}", reason="page must be >= 1")
    return limit_n, page_n


def _query_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple | dict):
        # search_after cursors travel as compact JSON: %5B1760599794477%5D
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def search_next(path: str, params: Mapping[str, object]) -> str:
    """The host-relative ``next`` link: ``path`` plus ``params`` URL-encoded.

    Parameters whose value is None are left out; their order is kept.
    """
    if not path.startswith("/"):
        raise ValueError(f"next must be a host-relative path, got {path!r}")
    query = [(key, _query_value(value)) for key, value in params.items() if value is not None]
    if not query:
        return path
    return f"{path}?{urlencode(query, quote_via=quote)}"
