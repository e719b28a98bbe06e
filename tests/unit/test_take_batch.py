"""How a batched stream cuts its next message: within the bounds, counted in the bytes
the message will have."""

from __future__ import annotations

import collections

import pytest

from misthook.delivery import message
from misthook.delivery.worker import take_batch
from misthook.store.base import StoredEvent

BUILDERS = {"http-post": message.build_body, "splunk": message.build_splunk_body}


def buffered(*sizes: int) -> collections.deque[StoredEvent]:
    return collections.deque(
        StoredEvent(n, f"ev-{n}", "o1", "s1", "audits", 1.0, b'{"n":"%b"}' % (b"x" * size))
        for n, size in enumerate(sizes, 1)
    )


@pytest.mark.parametrize("kind", sorted(BUILDERS))
@pytest.mark.parametrize("topic", ["ping", "device-updowns", "asset-raw-rssi"])
def test_framing_is_the_size_the_builders_add(kind: str, topic: str) -> None:
    frame = message.framing(kind, topic)
    for bodies in ([b"{}"], [b'{"a":1}', b"{}"], [b'{"n":"\xc3\xa9"}'] * 5):
        built = BUILDERS[kind](topic, bodies)
        assert len(built) == frame.fixed + sum(map(len, bodies)) + frame.per_event * len(bodies) - 1


@pytest.mark.parametrize("kind", sorted(BUILDERS))
@pytest.mark.parametrize("max_bytes", [120, 200, 333, 1000])
def test_a_message_is_the_most_that_fits_its_bytes(kind: str, max_bytes: int) -> None:
    """The message built from the cut fits; one more event would not (the topic's length
    counts: a fixed allowance let long topics overflow)."""
    topic = "device-updowns"
    frame = message.framing(kind, topic)
    buffer = buffered(*[7, 30, 3, 12, 25, 1, 40, 9, 18] * 4)
    while buffer:
        batch = take_batch(buffer, 1000, max_bytes, frame)
        size = len(BUILDERS[kind](topic, [e.body for e in batch]))
        assert size <= max_bytes or len(batch) == 1
        if buffer:
            bigger = len(BUILDERS[kind](topic, [e.body for e in [*batch, buffer[0]]]))
            assert bigger > max_bytes


def test_a_message_takes_at_most_max_events_in_order() -> None:
    buffer = buffered(*[10] * 10)
    frame = message.framing("http-post", "audits")
    assert [e.seq for e in take_batch(buffer, 4, 1 << 20, frame)] == [1, 2, 3, 4]
    assert [e.seq for e in buffer] == list(range(5, 11))


def test_an_event_larger_than_a_message_goes_alone() -> None:
    buffer = buffered(100, 1, 1)
    frame = message.framing("http-post", "audits")
    assert [e.seq for e in take_batch(buffer, 100, 60, frame)] == [1]
    assert [e.seq for e in take_batch(buffer, 100, 60, frame)] == [2, 3]
    assert not buffer


@pytest.mark.parametrize("kind", sorted(BUILDERS))
def test_a_buffer_that_fits_exactly_goes_whole_and_a_byte_less_is_cut(kind: str) -> None:
    """The whole buffer is taken in one step when it fits: to the byte, as the cut."""
    topic = "audits"
    frame = message.framing(kind, topic)
    events = list(buffered(5, 9, 5))
    exact = len(BUILDERS[kind](topic, [e.body for e in events]))
    whole = collections.deque(events)
    assert take_batch(whole, 3, exact, frame) == events and not whole
    short = collections.deque(events)
    assert take_batch(short, 3, exact - 1, frame) == events[:2] and list(short) == events[2:]
    over = collections.deque(events)  # more events than a message takes
    assert take_batch(over, 2, exact, frame) == events[:2]
