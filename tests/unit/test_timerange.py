from __future__ import annotations

import pytest

from misthook.domain.timerange import parse_duration, parse_sort, parse_time, resolve_window
from misthook.errors import BadRequestError

NOW = 1_700_000_000.0
DAY = 86400.0


class TestParseDuration:
    @pytest.mark.parametrize(
        ("text", "seconds"),
        [
            ("10m", 600.0),
            ("1h", 3600.0),
            ("7d", 7 * DAY),
            ("2w", 14 * DAY),
            ("30s", 30.0),
            ("90", 90.0),
        ],
    )
    def test_spans(self, text: str, seconds: float) -> None:
        """Units s, m, h, d, w and bare seconds."""
        assert parse_duration(text) == seconds

    def test_default_is_one_day(self) -> None:
        """No duration means a day."""
        assert parse_duration(None) == DAY
        assert parse_duration("") == DAY

    @pytest.mark.parametrize("text", ["0m", "0", "-1d", "1y", "d", "1.5h", "1 d"])
    def test_rejects(self, text: str) -> None:
        """Zero, negative, unknown units and fractions are rejected, naming the parameter."""
        with pytest.raises(BadRequestError) as info:
            parse_duration(text)
        assert info.value.detail == f"invalid duration: {text}"


class TestParseTime:
    @pytest.mark.parametrize(
        ("text", "seconds"),
        [
            ("now", NOW),
            ("-1d", NOW - DAY),
            ("-2h", NOW - 7200),
            ("-10m", NOW - 600),
            ("-1w", NOW - 7 * DAY),
            ("1531776183", 1531776183.0),
            ("1531855849.000", 1531855849.0),
        ],
    )
    def test_values(self, text: str, seconds: float) -> None:
        """Epoch seconds, now and relative times."""
        assert parse_time("start", text, NOW) == seconds

    @pytest.mark.parametrize("text", ["yesterday", "-1y", "+1d", "-5", "nan", "inf", ""])
    def test_rejects(self, text: str) -> None:
        """Anything else names the parameter in the detail."""
        with pytest.raises(BadRequestError) as info:
            parse_time("end", text, NOW)
        assert info.value.detail == f"invalid end: {text}"


class TestResolveWindow:
    def test_nothing_given_is_the_last_day(self) -> None:
        """Rule 5: the last duration up to now."""
        assert resolve_window(None, None, None, NOW) == (NOW - DAY, NOW)
        assert resolve_window(None, None, "1h", NOW) == (NOW - 3600, NOW)

    def test_start_and_end_ignore_duration(self) -> None:
        """Rule 1: both given are used as they are."""
        assert resolve_window("100", "200", "1h", NOW) == (100.0, 200.0)

    def test_end_only(self) -> None:
        """Rule 2: start is end minus duration."""
        assert resolve_window(None, "-1d", "2h", NOW) == (NOW - DAY - 7200, NOW - DAY)

    def test_start_with_explicit_duration(self) -> None:
        """Rule 3: end is start plus the given duration."""
        assert resolve_window("1000", None, "10m", NOW) == (1000.0, 1600.0)

    def test_start_only_runs_to_now(self) -> None:
        """Rule 4: start=-7d means the last seven days, not their first day."""
        assert resolve_window("-7d", None, None, NOW) == (NOW - 7 * DAY, NOW)

    def test_start_after_end(self) -> None:
        """An inverted window is rejected."""
        with pytest.raises(BadRequestError) as info:
            resolve_window("300", "200", None, NOW)
        assert info.value.reason == "start is after end"

    def test_bad_parameter_named(self) -> None:
        """A bad value names its parameter."""
        with pytest.raises(BadRequestError) as info:
            resolve_window("soon", None, None, NOW)
        assert info.value.detail == "invalid start: soon"


class TestParseSort:
    ALLOWED = ("timestamp", "site_id", "admin_id")

    def test_default(self) -> None:
        """No sort gives the default."""
        assert parse_sort(None, self.ALLOWED, "-timestamp") == "-timestamp"
        assert parse_sort("", self.ALLOWED, "timestamp") == "timestamp"

    @pytest.mark.parametrize("sort", ["timestamp", "-timestamp", "-site_id"])
    def test_allowed(self, sort: str) -> None:
        """Allowed fields pass, ascending or descending."""
        assert parse_sort(sort, self.ALLOWED, "timestamp") == sort

    @pytest.mark.parametrize("sort", ["secret", "--timestamp", "-", "timestamp,site_id"])
    def test_rejected(self, sort: str) -> None:
        """Other fields are rejected and the allowed ones listed."""
        with pytest.raises(BadRequestError) as info:
            parse_sort(sort, self.ALLOWED, "timestamp")
        assert info.value.detail == f"invalid sort: {sort}"
        assert info.value.reason == "sortable fields: admin_id, site_id, timestamp"
