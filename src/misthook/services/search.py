"""Mist's windowed searches and counts, one implementation for every log.

The audit log, alarms, device events and the delivery log all answer
``GET .../search`` with ``{start, end, limit, total, results, next?}`` and
``GET .../count`` with ``{distinct, start, end, limit, total, results: [{<field>, count}]}``
over a time window (``start``/``end``/``duration``). Each caller names its collection,
what may be sorted and counted, and how the request's parameters become filters.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

from misthook.domain import paging, timerange
from misthook.errors import BadRequestError
from misthook.store.base import Doc, Filter, Query, Store

Params = Mapping[str, str | None]
Window = tuple[float, float]
# The filters of one request, given its resolved time window.
FiltersOf = Callable[[Window], tuple[Filter, ...]]


@dataclasses.dataclass(frozen=True)
class SearchSpec:
    collection: str
    sortable: tuple[str, ...]
    default_sort: str
    distinct: tuple[str, ...]
    default_distinct: str
    # a distinct name counted on another stored field (e.g. device events' apfw -> version)
    distinct_fields: Mapping[str, str] = dataclasses.field(default_factory=dict)


def window(params: Params, now: float) -> Window:
    return timerange.resolve_window(
        params.get("start"), params.get("end"), params.get("duration"), now
    )


def window_filters(window: Window) -> list[Filter]:
    return [Filter("timestamp", "gte", window[0]), Filter("timestamp", "lte", window[1])]


def csv_values(raw: str | None) -> list[str]:
    """Mist's comma-separated multi-value parameters."""
    return [v.strip() for v in (raw or "").split(",") if v.strip()]


def search_body(span: Window, limit: int, total: int, rows: list[Doc]) -> dict[str, Any]:
    return {
        "start": int(span[0]),
        "end": int(span[1]),
        "limit": limit,
        "total": total,
        "results": rows,
    }


async def paged_search(
    store: Store,
    spec: SearchSpec,
    params: Params,
    path: str,
    now: float,
    filters_of: FiltersOf,
    *,
    reshape: Callable[[list[Doc]], list[Doc]] | None = None,
) -> dict[str, Any]:
    """A page of results by ``limit``/``page``; ``next`` is the host-relative path of the
    following page (with the window pinned, so later events do not shift it)."""
    span = window(params, now)
    sort = timerange.parse_sort(params.get("sort"), spec.sortable, spec.default_sort)
    rows, total, limit, page = await list_page(
        store,
        spec.collection,
        filters_of(span),
        params.get("limit"),
        params.get("page"),
        sort=sort,
    )
    body = search_body(span, limit, total, reshape(rows) if reshape else rows)
    if page * limit < total:
        nxt: dict[str, object] = {k: v for k, v in params.items() if v is not None}
        nxt.update(start=str(span[0]), end=str(span[1]), limit=str(limit), page=str(page + 1))
        body["next"] = paging.search_next(path, nxt)
    return body


async def count_by(
    store: Store, spec: SearchSpec, params: Params, now: float, filters_of: FiltersOf
) -> dict[str, Any]:
    """Counts per distinct value of ``params["distinct"]`` (or the spec's default)."""
    span = window(params, now)
    limit, _ = paging.page_params(params.get("limit"), None)
    distinct = params.get("distinct") or spec.default_distinct
    if distinct not in spec.distinct:
        raise BadRequestError(
            "invalid field: distinct",
            reason=f"distinct must be one of {', '.join(spec.distinct)}",
        )
    field = spec.distinct_fields.get(distinct, distinct)
    counts = await store.count_distinct(spec.collection, filters_of(span), field, limit)
    return {
        "distinct": distinct,
        "start": int(span[0]),
        "end": int(span[1]),
        "limit": limit,
        "total": sum(c for _, c in counts),
        "results": [{distinct: v, "count": c} for v, c in counts],
    }


async def list_page(
    store: Store,
    collection: str,
    filters: tuple[Filter, ...],
    limit: str | int | None,
    page: str | int | None,
    *,
    sort: str = "created_time",
) -> tuple[list[Doc], int, int, int]:
    """One page of a Mist list (`limit`/`page`): (rows, total, limit, page) for the
    X-Page-* headers."""
    lim, pg = paging.page_params(limit, page)
    total = await store.count(collection, filters)
    rows = await store.query(
        collection, Query(filters, sort=sort, limit=lim, offset=(pg - 1) * lim)
    )
    return rows, total, lim, pg
