"""A background task that keeps failing says so once, and once when it works again."""

from __future__ import annotations

import logging

import pytest

from misthook.errors import StoreError
from misthook.outage import OutageLog


def test_a_run_of_failures_is_one_line_and_its_end_another(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    outage = OutageLog(logging.getLogger("misthook.test"), "leasing streams")
    outage.worked()
    assert caplog.records == []
    for _ in range(3):
        outage.failed(StoreError("PostgreSQL: [Errno 111] Connection refused"))
    outage.worked()
    outage.worked()
    outage.failed(StoreError("PostgreSQL: the database system is shutting down"))
    assert [(r.levelname, r.getMessage()) for r in caplog.records] == [
        (
            "WARNING",
            "leasing streams failed (PostgreSQL: [Errno 111] Connection refused); trying"
            " again, and saying so when it works",
        ),
        ("INFO", "leasing streams works again after 3 failed tries"),
        (
            "WARNING",
            "leasing streams failed (PostgreSQL: the database system is shutting down);"
            " trying again, and saying so when it works",
        ),
    ]
    assert all(r.exc_info is None for r in caplog.records)  # no traceback per try
