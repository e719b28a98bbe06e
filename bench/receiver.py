"""A fast webhook receiver for the benchmarks, in its own process (never the bottleneck).

A raw asyncio protocol on uvloop speaking just enough HTTP/1.1 keep-alive: it answers every
POST with 200, counts messages and events (occurrences of ``"n":``), and for each message
records the delay from the ``"t":`` (publish time) of its first event to its arrival.
``GET /stats`` answers the counters as JSON (``/stats?full=1`` adds the latencies and the
arrival of each message's first event), ``POST /reset`` zeroes them. A second port is
a black hole: it accepts connections and never answers.

    python -m bench.receiver PORT BLACKHOLE_PORT
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from typing import Any

import orjson

_OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


class Stats:
    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.messages = 0
        self.events = 0
        self.first_at = 0.0
        self.last_at = 0.0
        self.latencies: list[float] = []
        self.arrivals: list[tuple[int, float]] = []  # ("n" of the first event, arrival)

    def add(self, body: bytes) -> None:
        now = time.time()
        if not self.messages:
            self.first_at = now
        self.last_at = now
        self.messages += 1
        self.events += body.count(b'"n":')
        n_at = body.find(b'"n":')
        if n_at >= 0 and len(self.arrivals) < 1_000_000:
            end = n_at + 4
            while end < len(body) and body[end] in b"0123456789":
                end += 1
            with contextlib.suppress(ValueError):
                self.arrivals.append((int(body[n_at + 4 : end]), now))
        at = body.find(b'"t":')
        if at >= 0:
            end = at + 4
            while end < len(body) and body[end] in b"0123456789.e-+":
                end += 1
            with contextlib.suppress(ValueError):
                self.latencies.append(now - float(body[at + 4 : end]))

    def json(self, full: bool) -> bytes:
        """The counters; with ``full`` also the latencies and arrivals (large: asked for
        once at the end of a case, not by every poll, so polling costs next to nothing)."""
        answer: dict[str, Any] = {
            "messages": self.messages,
            "events": self.events,
            "first_at": self.first_at,
            "last_at": self.last_at,
        }
        if full:
            answer["latencies"] = self.latencies[-200_000:]
            answer["arrivals"] = self.arrivals[-200_000:]
        return orjson.dumps(answer)


STATS = Stats()


class Http(asyncio.Protocol):
    def __init__(self) -> None:
        self.buf = bytearray()
        self.transport: Any = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # uvloop's transports are not asyncio.Transport subclasses

    def data_received(self, data: bytes) -> None:
        self.buf += data
        while True:
            head_end = self.buf.find(b"\r\n\r\n")
            if head_end < 0:
                return
            head = bytes(self.buf[:head_end])
            length = 0
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            total = head_end + 4 + length
            if len(self.buf) < total:
                return
            body = bytes(self.buf[head_end + 4 : total])
            del self.buf[:total]
            self.answer(head, body)

    def answer(self, head: bytes, body: bytes) -> None:
        assert self.transport is not None
        if head.startswith(b"GET /stats"):
            payload = STATS.json(full=head.startswith(b"GET /stats?full"))
            self.transport.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%b"
                % (len(payload), payload)
            )
            return
        if head.startswith(b"POST /reset"):
            STATS.reset()
        else:
            STATS.add(body)
        self.transport.write(_OK)


class BlackHole(asyncio.Protocol):
    def data_received(self, data: bytes) -> None:
        pass


async def main(port: int, blackhole_port: int) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(Http, "127.0.0.1", port, backlog=1024)
    hole = await loop.create_server(BlackHole, "127.0.0.1", blackhole_port)
    async with server, hole:
        await asyncio.Event().wait()


if __name__ == "__main__":
    import uvloop

    uvloop.run(main(int(sys.argv[1]), int(sys.argv[2])))
