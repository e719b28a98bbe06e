"""The shared windowed search and count over the memory store."""

from __future__ import annotations

import urllib.parse

import pytest

from misthook.errors import BadRequestError
from misthook.services.search import SearchSpec, count_by, paged_search, window_filters
from misthook.store.base import Filter, Put
from misthook.store.memory import InMemoryStore

SPEC = SearchSpec(
    collection="audit_logs",
    sortable=("timestamp",),
    default_sort="-timestamp",
    distinct=("message",),
    default_distinct="message",
)
NOW = 1_700_000_000.0


async def _store() -> InMemoryStore:
    store = InMemoryStore()
    await store.open()
    docs = [
        {
            "id": f"e{i}",
            "org_id": "o",
            "message": "odd" if i % 2 else "even",
            "timestamp": NOW - 100 + i,
        }
        for i in range(5)
    ]
    await store.commit([Put("audit_logs", d) for d in docs])
    return store


def _filters(span: tuple[float, float]) -> tuple[Filter, ...]:
    return (Filter("org_id", "eq", "o"), *window_filters(span))


async def test_pages_with_a_pinned_next_link() -> None:
    """Page 1 of 2 links to page 2 with the same window; page 2 has no next."""
    store = await _store()
    first = await paged_search(store, SPEC, {"limit": "3"}, "/x", NOW, _filters)
    assert [r["id"] for r in first["results"]] == ["e4", "e3", "e2"]
    assert first["total"] == 5
    query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(first["next"]).query))
    assert query["page"] == "2"
    assert float(query["end"]) == NOW
    second = await paged_search(store, SPEC, query, "/x", NOW + 999, _filters)
    assert [r["id"] for r in second["results"]] == ["e1", "e0"]
    assert "next" not in second


async def test_counts_by_distinct_and_refuses_unknown_fields() -> None:
    """Counts per value, most frequent first; an unknown distinct is a 400."""
    store = await _store()
    counted = await count_by(store, SPEC, {}, NOW, _filters)
    assert counted["results"] == [{"message": "even", "count": 3}, {"message": "odd", "count": 2}]
    assert counted["total"] == 5
    with pytest.raises(BadRequestError):
        await count_by(store, SPEC, {"distinct": "nope"}, NOW, _filters)
