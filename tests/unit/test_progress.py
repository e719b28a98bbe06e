"""The worker's progress line: counts of one interval, quiet when nothing was attempted."""

from __future__ import annotations

from misthook.delivery.progress import Progress


def test_a_line_counts_the_interval_then_starts_again() -> None:
    now = [100.0]
    progress = Progress(clock=lambda: now[0])
    for _ in range(3):
        progress.sent(True, 1000)
    progress.sent(False, 1000)
    now[0] += 10.0
    line = progress.line(streams=2, workers=3)
    assert line == (
        "delivered 3 messages (3,000 events, 300/s) in the last 10.0 s;"
        " 1 attempts failed (see the delivery log); 2 streams held, 3 workers alive"
    )
    now[0] += 10.0
    assert progress.line(streams=2, workers=3) is None  # nothing attempted since
    progress.sent(True, 5)
    now[0] += 5.0
    assert progress.line(streams=1, workers=1) == (
        "delivered 1 messages (5 events, 1/s) in the last 5.0 s; 1 streams held"
    )
