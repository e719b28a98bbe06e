from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

import pytest

from misthook.domain.paging import page_params, search_next
from misthook.errors import BadRequestError


class TestPageParams:
    def test_defaults(self) -> None:
        """limit 100 and page 1 when absent or empty."""
        assert page_params(None, None) == (100, 1)
        assert page_params("", "") == (100, 1)

    @pytest.mark.parametrize(
        ("limit", "page", "expected"),
        [("10", "3", (10, 3)), (250, 2, (250, 2)), (" 5 ", "1", (5, 1)), ("0", None, (100, 1))],
    )
    def test_values(
        self, limit: str | int, page: str | int | None, expected: tuple[int, int]
    ) -> None:
        """Strings and ints are accepted; limit 0 means the default."""
        assert page_params(limit, page) == expected

    def test_limit_capped_at_1000(self) -> None:
        """Mist's documented maximum lowers larger limits."""
        assert page_params("5000", None) == (1000, 1)

    @pytest.mark.parametrize(
        ("limit", "page", "detail"),
        [
            ("abc", None, "invalid limit: abc"),
            ("1.5", None, "invalid limit: 1.5"),
            ("-1", None, "invalid limit: -1"),
            (True, None, "invalid limit: True"),
            (None, "0", "invalid page: 0"),
            (None, "x", "invalid page: x"),
            (None, -2, "invalid page: -2"),
        ],
    )
    def test_rejects(self, limit: str | int | None, page: str | int | None, detail: str) -> None:
        """Non-integers, negative limits and pages below 1 are rejected by name."""
        with pytest.raises(BadRequestError) as info:
            page_params(limit, page)
        assert info.value.detail == detail


class TestSearchNext:
    def test_host_relative_with_encoded_query(self) -> None:
        """The link keeps parameter order and encodes the search_after cursor as Mist does."""
        link = search_next(
            "/api/v1/sites/s1/webhooks/w1/events/search",
            {"topic": "audits", "limit": 2, "start": 1531776183.0, "search_after": [1760599794477]},
        )
        assert link == (
            "/api/v1/sites/s1/webhooks/w1/events/search"
            "?topic=audits&limit=2&start=1531776183.0&search_after=%5B1760599794477%5D"
        )

    def test_round_trips_awkward_values(self) -> None:
        """Spaces, ampersands and booleans survive a parse of the query."""
        link = search_next("/api/v1/x", {"error": "a b&c=d", "acked": False, "skip": None})
        parts = urlsplit(link)
        assert parts.path == "/api/v1/x"
        assert parse_qsl(parts.query) == [("error", "a b&c=d"), ("acked", "false")]

    def test_no_params(self) -> None:
        """Without parameters the path is returned bare."""
        assert search_next("/api/v1/x", {"a": None}) == "/api/v1/x"

    def test_rejects_absolute_urls(self) -> None:
        """next must be relative to the host (the SDK prepends https://{host})."""
        with pytest.raises(ValueError):
            search_next("https://evil.example.com/api", {})
