"""A fast webhook receiver for the benchmarks, in its own process (never the bottleneck).

A raw asyncio buffered protocol on uvloop (it reads into one buffer per connection and
parses there) speaking just enough HTTP/1.1 keep-alive: it answers every POST with 200,
counts messages and events, and for each message records the delay from the ``"t":``
(publish time) of its first event to its arrival. Bodies are never copied or
joined: the bench's events are flat objects, so a message's events are its ``{`` bytes
minus the envelope's one, counted chunk by chunk as they arrive, in place, by NumPy. A
copy and a four-byte search per message made this receiver the bottleneck at 700k
events/s; ``bytearray.count`` (1 byte a cycle) still took 0.12 of the two cores the
PostgreSQL case shares with misthook, at 130 MB/s, and NumPy's vector compare is a fifth
of that.
``GET /stats`` answers the counters as JSON (``/stats?full=1`` adds the latencies, the
arrival of each message's first event and the timeline of the newest 200,000 messages),
``POST /reset`` zeroes them. A second port is a black hole: it accepts connections and
never answers.

    python -m bench.receiver PORT BLACKHOLE_PORT
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import sys
import time
from typing import Any

import numpy
import orjson

_OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
_CONTROL = (b"GET /stats", b"POST /reset")  # request lines that are not webhook messages


class Stats:
    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.messages = 0
        self.events = 0
        self.first_at = 0.0
        self.last_at = 0.0
        # (arrival, the start of the body, events) of the newest messages: latencies are
        # parsed from the starts only when asked for (per message, that was half this
        # receiver's CPU); the events give rates over part of a case
        self.heads: collections.deque[tuple[float, bytes, int]] = collections.deque(maxlen=_KEPT)

    def add(self, first_bytes: bytes, braces: int) -> None:
        """One message: the start of its body, and the ``{`` bytes in all of it."""
        now = time.time()
        if not self.messages:
            self.first_at = now
        self.last_at = now
        self.messages += 1
        events = braces - 1 if braces else 0
        self.events += events
        self.heads.append((now, first_bytes, events))

    def json(self, full: bool) -> bytes:
        """The counters; with ``full`` also the latencies (from the ``"t"`` of each
        message's first event), the arrivals (its ``"n"`` and when it came) and the
        timeline (when each message came and its events): large, so asked for once at the
        end of a case, not by every poll."""
        answer: dict[str, Any] = {
            "messages": self.messages,
            "events": self.events,
            "first_at": self.first_at,
            "last_at": self.last_at,
        }
        if full:
            latencies, arrivals = [], []
            for now, head, _ in self.heads:
                n, t = _number(head, b'"n":'), _number(head, b'"t":')
                with contextlib.suppress(TypeError, ValueError):
                    arrivals.append((int(n), now))  # type: ignore[arg-type]
                with contextlib.suppress(TypeError, ValueError):
                    latencies.append(now - float(t))  # type: ignore[arg-type]
            answer["latencies"], answer["arrivals"] = latencies, arrivals
            answer["timeline"] = [(now, events) for now, _, events in self.heads]
        return orjson.dumps(answer)


# Messages whose arrival and first event are kept for the latencies (the newest).
_KEPT = 200_000

STATS = Stats()


def _number(data: bytes, key: bytes) -> bytes | None:
    """The JSON number after ``key`` (the first one), by two searches in C rather than a
    loop over its digits; None if absent or cut off."""
    at = data.find(key)
    if at < 0:
        return None
    at += len(key)
    ends = [e for e in (data.find(b",", at), data.find(b"}", at)) if e >= 0]
    return data[at : min(ends)] if ends else None


# Bytes of a body kept to read the first event's "n" and "t" from.
_FIRST_BYTES = 256


_BRACE = ord("{")
# Bytes counted by ``count`` rather than NumPy.
_SHORT_RUN = 4096

# Bytes read at most per receive, into one buffer reused for the connection's life.
_READ_BYTES = 1 << 20


class Http(asyncio.BufferedProtocol):
    """Reads into its own buffer (no new bytes object per receive: at 300 MB/s, a fresh
    256 KB object per read cost an mmap, page faults and a copy) and parses it in place."""

    def __init__(self) -> None:
        self.buffer = bytearray(_READ_BYTES)
        self.view = memoryview(self.buffer)
        self.octets = numpy.frombuffer(self.buffer, numpy.uint8)  # the same memory
        self.head = bytearray()  # a request head being received
        self.transport: Any = None
        # the body being received: its request head, bytes still due, first bytes, braces
        self.request = b""
        self.due = -1  # -1: receiving a head
        self.first = bytearray()
        self.braces = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # uvloop's transports are not asyncio.Transport subclasses

    def get_buffer(self, sizehint: int) -> memoryview:
        return self.view

    def buffer_updated(self, nbytes: int) -> None:
        data, at = self.buffer, 0
        while at < nbytes:
            at = self._head(data, at, nbytes) if self.due < 0 else self._body(data, at, nbytes)

    def _head(self, data: bytearray, at: int, end: int) -> int:
        """Take the request head starting at ``at``; where the body starts (or ``end``)."""
        if not self.head:
            after = self._parse_head(data, at, end)
            if after < 0:
                self.head += data[at:end]
                return end
            return after
        # A head split across receives (rare): look in the two joined.
        kept = len(self.head)
        joined = bytes(self.head) + data[at:end]
        self.head.clear()
        after = self._parse_head(joined, 0, len(joined))
        if after < 0:
            self.head += joined
            return end
        return at + after - kept

    def _parse_head(self, data: bytes | bytearray, at: int, end: int) -> int:
        """The offset after the head that starts at ``at`` (-1: not all there yet)."""
        head_end = data.find(b"\r\n\r\n", at, end)
        if head_end < 0:
            return -1
        self.request = bytes(data[at : min(head_end, at + 32)])  # enough to tell routes apart
        length_at = data.find(b"\r\nContent-Length: ", at, head_end)
        if length_at >= 0:  # as aiohttp writes it: no need to look at every line
            self.due = int(data[length_at + 18 : data.find(b"\r", length_at + 18)])
        else:
            self.due = 0
            for line in data[at:head_end].split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    self.due = int(value)
        body = head_end + 4
        if body + self.due <= end:  # the whole body is here too (the usual case)
            stop, self.due = body + self.due, -1
            first = bytes(data[body : min(stop, body + _FIRST_BYTES)])
            self.answer(self.request, first, self._braces(data, body, stop))
            return stop
        self.first.clear()
        self.braces = 0
        return body

    def _body(self, data: bytearray, at: int, end: int) -> int:
        stop = min(end, at + self.due)
        self.braces += self._braces(data, at, stop)
        if len(self.first) < _FIRST_BYTES:
            self.first += data[at : min(stop, at + _FIRST_BYTES - len(self.first))]
        self.due -= stop - at
        if not self.due:
            self._done()
        return stop

    def _braces(self, data: bytes | bytearray, start: int, stop: int) -> int:
        """The ``{`` bytes in ``data[start:stop]``: by NumPy in the receive buffer, and
        by ``count`` in a short run (a NumPy call costs a microsecond or two, a
        single-event body's count a tenth of that) or a copy (a head split across
        receives, joined)."""
        if stop - start > _SHORT_RUN and data is self.buffer:
            return int(numpy.count_nonzero(self.octets[start:stop] == _BRACE))
        return data.count(b"{", start, stop)

    def _done(self) -> None:
        self.due = -1
        self.answer(self.request, bytes(self.first), self.braces)

    def answer(self, head: bytes, first_bytes: bytes, braces: int) -> None:
        if not head.startswith(_CONTROL):  # a webhook message
            STATS.add(first_bytes, braces)
            self.transport.write(_OK)
            return
        if head.startswith(b"GET /stats"):
            payload = STATS.json(full=head.startswith(b"GET /stats?full"))
            self.transport.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%b"
                % (len(payload), payload)
            )
            return
        STATS.reset()  # POST /reset
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
