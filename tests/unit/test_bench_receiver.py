"""The bench receiver counts what it is sent, however the bytes are cut into receives.

Its figures are the benchmark's results, so its parsing is tested like product code: the
same requests fed whole, byte by byte and in uneven pieces must give the same counts,
latencies and arrivals.
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from bench import receiver


class Transport:
    def __init__(self) -> None:
        self.written: list[bytes] = []

    def write(self, data: bytes) -> None:
        self.written.append(data)


def message(first: int, count: int, sent_at: float) -> bytes:
    events = [{"n": first + i, "t": sent_at, "pad": "x" * 40} for i in range(count)]
    body = orjson.dumps({"topic": "device-events", "events": events})
    return (
        b"POST /hook HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\n\r\n%b" % (len(body), body)
    )


def feed(protocol: receiver.Http, data: bytes, piece: int) -> None:
    for at in range(0, len(data), piece):
        chunk = data[at : at + piece]
        protocol.get_buffer(len(chunk))[: len(chunk)] = chunk
        protocol.buffer_updated(len(chunk))


def run(data: bytes, piece: int) -> tuple[dict[str, Any], Transport]:
    receiver.STATS.reset()
    protocol, transport = receiver.Http(), Transport()
    protocol.connection_made(transport)  # type: ignore[arg-type]
    feed(protocol, data, piece)
    return orjson.loads(receiver.STATS.json(full=True)), transport


@pytest.mark.parametrize("piece", [1, 7, 100, 4096, 1 << 20])
def test_counts_messages_events_and_latencies_whatever_the_receives(piece: int) -> None:
    # a lower-case Content-Length takes the slow header path
    lower = message(100, 2, 5.0).replace(b"Content-Length", b"content-length")
    data = message(0, 3, 1.0) + message(3, 1, 2.0) + lower + message(50, 0, 3.0)
    stats, transport = run(data, piece)

    assert stats["messages"] == 4
    assert stats["events"] == 3 + 1 + 2
    assert transport.written == [receiver._OK] * 4
    assert [n for n, _ in stats["arrivals"]] == [0, 3, 100]  # the empty one has no "n"
    assert len(stats["latencies"]) == 3
    assert [events for _, events in stats["timeline"]] == [3, 1, 2, 0]
    assert all(lat > 0 for lat in stats["latencies"])


def test_stats_and_reset_are_not_counted_as_messages() -> None:
    data = message(0, 2, 1.0) + b"GET /stats HTTP/1.1\r\n\r\n"
    stats, transport = run(data, 9)
    assert stats["messages"] == 1
    assert orjson.loads(transport.written[1].split(b"\r\n\r\n", 1)[1])["events"] == 2

    second = receiver.Http()
    second.connection_made(transport)  # type: ignore[arg-type]
    feed(second, b"POST /reset HTTP/1.1\r\nContent-Length: 0\r\n\r\n", 5)
    assert orjson.loads(receiver.STATS.json(full=False))["messages"] == 0


@pytest.mark.parametrize("piece", [13, 4097, 50_000, 1 << 20])
def test_counts_the_events_of_long_bodies_as_of_short_ones(piece: int) -> None:
    # runs longer than receiver._SHORT_RUN are counted by NumPy, shorter ones by count
    long = message(0, 1000, 1.0)
    assert len(long) > 10 * receiver._SHORT_RUN
    data = long + message(1000, 2, 2.0) + long
    stats, transport = run(data, piece)

    assert stats["messages"] == 3
    assert [events for _, events in stats["timeline"]] == [1000, 2, 1000]
    assert transport.written == [receiver._OK] * 3
