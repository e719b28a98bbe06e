"""The delivery worker: leases streams and drives each one through its messages.

One loop per worker process. On a wake-up (the bus, PostgreSQL NOTIFY) or every
``poll_interval_s`` it leases the streams that are due and starts one task per stream
(never two for the same stream). A stream task:

1. loads the webhook, reads the events after the cursor (many per round trip),
2. cuts them into messages: as many events as the bounds allow (natural batching), or one
   per message with ``single_event_per_message``,
3. sends them; single-event streams keep a small window of messages in flight and the
   cursor moves only past the longest acknowledged prefix, so order can only be shuffled
   inside one window; batched streams send one message at a time, in order, and build
   the next one meanwhile, which goes out when the one before it is answered,
4. hands attempt records (the body by reference, see ``payload_ref``) and cursor moves
   to the :class:`Recorder` (bulk commits),
5. on a failure stops, computes the next attempt time with the retry policy and gives the
   lease back; a message whose retries are exhausted is parked (``parked`` collection,
   with its exact body) and the cursor moves past it; a 410 or a webhook failing with no
   success for ``disable_after_failing_s`` is disabled through ``on_disable``.

Leases of streams in work are renewed by a heartbeat, so a long send is never stolen; a
worker that dies loses its leases after ``lease_s`` and another worker takes over (the
messages it had not acknowledged are sent again: at-least-once).

Workers share the streams fairly: the heartbeat also says this worker is alive (the
``workers`` table) and learns how many workers are alive and how many streams are in play;
on PostgreSQL a worker joining or leaving, and a stream given back, are NOTIFYed, so the
others rebalance and lease at once rather than at their next heartbeat or poll.
Beside other workers, one holds at most its share (streams / workers, rounded up) and
gives streams beyond it back at their next message boundary, so a worker that joins a
backlog gets half of it instead of none. A lease round that fills the share asks again at
once, so a burst of newly due streams raises the share without waiting for a heartbeat.

Sends to one receiver host are bounded by ``max_in_flight_per_host``, each host with its
own bound, so a black-holed host only ever holds its own streams.

The worker also prunes events and delivery records older than ``retention_s`` (see
``retention``); several workers doing it at once is harmless.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import functools
import logging
import math
import random
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

from misthook.config import Config
from misthook.delivery import message, payload_ref
from misthook.delivery.attempts import Attempt, delivery_record, send_message
from misthook.delivery.message import MessageError, PreparedWebhook
from misthook.delivery.oauth2 import OAuth2Tokens
from misthook.delivery.progress import Progress
from misthook.delivery.recorder import Recorder
from misthook.delivery.retention import Retention
from misthook.delivery.sender import Sender
from misthook.domain import retry
from misthook.domain.retry import RetryPolicy
from misthook.domain.topics import wire_topic
from misthook.errors import StoreError
from misthook.outage import OutageLog
from misthook.store.base import (
    Doc,
    Filter,
    Query,
    SaveStream,
    Store,
    StoredEvent,
    Stream,
    event_body,
)

log = logging.getLogger(__name__)

# Events read per round trip for a single-event stream (a PostgreSQL segment's worth,
# see store.segments).
SINGLE_EVENT_READ = 500
# Longest time between heartbeats (lease renewals and fair-share updates).
HEARTBEAT_MAX_S = 1.0
# Shortest time between two asks of this worker for the others to rebalance (each makes
# every other worker run a heartbeat query).
REBALANCE_ASK_GAP_S = 0.25

OnDisable = Callable[[str, str], Awaitable[None]]


@dataclasses.dataclass(slots=True)
class _State:
    """A leased stream's progress, as it will be saved."""

    cursor: int
    attempt: int
    failing_since: float | None
    next_attempt_at: float = 0.0


@dataclasses.dataclass(frozen=True, slots=True)
class _Sent:
    events: list[StoredEvent]
    attempt: Attempt


class _NotSent(Exception):
    """A message built while others were in flight and not sent: the batched one before
    it failed, or the worker began to stop before its turn came."""


def _retrieve(future: asyncio.Future[Any]) -> None:
    """Consume the outcome of a read nobody waits for any more (no "never retrieved")."""
    if not future.cancelled():
        future.exception()


class Worker:
    def __init__(
        self,
        store: Store,
        sender: Sender,
        config: Config,
        *,
        owner: str | None = None,
        on_disable: OnDisable | None = None,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
        max_streams: int = 1024,
        lease_batch: int = 128,
        prune: bool = True,
    ) -> None:
        self.owner = owner or f"worker-{uuid.uuid4().hex[:12]}"
        self._store = store
        self._sender = sender
        self._config = config
        self._on_disable = on_disable
        self._clock = clock
        self._rng = rng or random.Random()
        self._max_streams = max_streams
        self._lease_batch = lease_batch
        self._policy = RetryPolicy(
            config.retry_schedule_s, retry_after_max_s=config.retry_after_max_s
        )
        self._tokens = OAuth2Tokens(sender)
        self.recorder = Recorder(store)
        self._retention = Retention(store, config.retention_s, clock=clock) if prune else None
        self._active: dict[tuple[str, str], asyncio.Task[None]] = {}
        self._leased_again: dict[tuple[str, str], Stream] = {}
        self._host_slots: dict[str, asyncio.Semaphore] = {}
        self._wakeup = asyncio.Event()
        self._running = False
        # Streams this worker may hold; None while no other worker is alive.
        self._share: int | None = None
        # Streams to give back at their next message boundary (held beyond the share).
        self._shed = 0
        self._rebalancing: asyncio.Task[None] | None = None
        self._asking: asyncio.Task[None] | None = None
        self._asked_at = -math.inf
        self._workers_alive = 1
        self.progress = Progress()
        self._leasing = OutageLog(log, "leasing streams")
        self._renewing = OutageLog(log, "renewing leases")
        self._beating = OutageLog(log, "the worker heartbeat")

    # --- the loop ----------------------------------------------------------------------

    def wake(self) -> None:
        """Look for due streams now (events were appended)."""
        self._wakeup.set()

    async def run(self, stop: asyncio.Event) -> None:
        """Deliver until ``stop`` is set; streams in work are saved and released."""
        self._running = True
        recorder_stop = asyncio.Event()
        recorder = asyncio.create_task(self.recorder.run(recorder_stop), name="recorder")
        heartbeat = asyncio.create_task(self._heartbeat(stop), name="lease-heartbeat")
        stopper = asyncio.create_task(self._wake_on(stop))
        background = [heartbeat, stopper]
        if self._retention is not None:
            background.append(asyncio.create_task(self._retention.run(stop), name="retention"))
        if self._config.progress_interval_s > 0:
            background.append(asyncio.create_task(self._report(stop), name="progress"))
        try:
            await self._store.listen(self.wake, self._workers_changed)
            await self._balance()
            while not stop.is_set():
                self._wakeup.clear()
                try:
                    await self._lease_and_start()
                    self._leasing.worked()
                except StoreError as exc:
                    self._leasing.failed(exc)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wakeup.wait(), self._config.poll_interval_s)
                # Let a burst of wake-ups (one per publish) become one lease query.
                await asyncio.sleep(0.001)
        finally:
            self._running = False
            # Streams send nothing new once stopping: let the messages in flight be
            # answered, so that a restart does not send them again; then cancel. Within
            # half a lease: the heartbeat has stopped renewing them.
            grace_s = min(self._config.stop_grace_s, self._config.lease_s / 2)
            if self._active and grace_s > 0:
                await asyncio.wait(list(self._active.values()), timeout=grace_s)
            for task in list(self._active.values()):
                task.cancel()
            await asyncio.gather(*self._active.values(), return_exceptions=True)
            for stream in self._leased_again.values():
                state = _State(stream.cursor, stream.attempt, stream.failing_since)
                state.next_attempt_at = stream.next_attempt_at
                self.recorder.save(self._save_op(stream, state, release=True))
            self._leased_again.clear()
            recorder_stop.set()
            self.recorder.wake()
            await asyncio.gather(recorder, return_exceptions=True)
            background += [t for t in (self._rebalancing, self._asking) if t is not None]
            for task in background:
                task.cancel()
            await asyncio.gather(*background, return_exceptions=True)
            with contextlib.suppress(StoreError):
                await self._store.worker_gone(self.owner)

    async def _wake_on(self, stop: asyncio.Event) -> None:
        await stop.wait()
        self.wake()

    async def _lease_and_start(self) -> None:
        room = self._room()
        if room <= 0:
            return
        now = self._clock()
        streams = await self._store.lease_streams(self.owner, now, self._config.lease_s, room)
        for stream in streams:
            key = (stream.webhook_id, stream.topic)
            if key in self._active:
                # Its task gave the lease back and this lease came right after, before the
                # task was done: drive it again once the task ends (else it would sit
                # leased, undriven, until the lease expired).
                self._leased_again[key] = stream
                continue
            self._start(key, stream)
        if self._share is not None and len(streams) == room and room < self._lease_batch:
            # The share is filled and more may be due: a stale share must not hold back a
            # burst of streams, so look at the load now (_balance wakes the loop if the
            # share grew).
            await self._balance()

    def _held(self) -> int:
        return len(self._active) + len(self._leased_again)

    def _room(self) -> int:
        room = min(self._lease_batch, self._max_streams - len(self._active))
        if self._share is not None:
            room = min(room, self._share - self._held())
        return room

    def _start(self, key: tuple[str, str], stream: Stream) -> None:
        task = asyncio.create_task(self._drive(stream), name=f"stream {key}")
        self._active[key] = task
        task.add_done_callback(functools.partial(self._finished, key))

    def _finished(self, key: tuple[str, str], _task: asyncio.Task[None]) -> None:
        self._active.pop(key, None)
        again = self._leased_again.pop(key, None)
        if again is not None and self._running:
            self._start(key, again)
        # Events may have arrived while the stream was giving its lease back.
        self.wake()
        if not self._held():
            self._ran_dry()

    def _ran_dry(self) -> None:
        """This worker holds no stream (its backlogs drained, their leases given back,
        saved): another may still hold more than its share of what is left. Ask the others
        to rebalance now, so that the rest is shared at once and not after their next
        heartbeat (a second of one worker draining alone, at the end of a backlog)."""
        now = self._clock()
        if (
            not self._running
            or self._workers_alive <= 1
            or now - self._asked_at < REBALANCE_ASK_GAP_S
            or (self._asking is not None and not self._asking.done())
        ):
            return
        self._asked_at = now
        self._asking = asyncio.create_task(self._ask_rebalance(), name="ask-rebalance")

    async def _ask_rebalance(self) -> None:
        with contextlib.suppress(StoreError):  # the heartbeat rebalances all the same
            await self._store.ask_rebalance()

    async def _heartbeat(self, stop: asyncio.Event) -> None:
        period = min(max(self._config.lease_s / 3.0, 0.05), HEARTBEAT_MAX_S)
        while not stop.is_set():
            await asyncio.sleep(period)
            keys = [*self._active, *self._leased_again]
            if keys:
                try:
                    await self._store.renew_leases(
                        self.owner, keys, self._clock() + self._config.lease_s
                    )
                    self._renewing.worked()
                except StoreError as exc:
                    self._renewing.failed(exc)
            await self._balance()

    async def _report(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self._config.progress_interval_s)
            line = self.progress.line(self._held(), self._workers_alive)
            if line is not None:
                log.info("%s: %s", self.owner, line)

    async def _balance(self) -> None:
        """Say this worker is alive and work out its share of the streams in play."""
        now = self._clock()
        try:
            load = await self._store.worker_heartbeat(self.owner, now, now + self._config.lease_s)
            self._beating.worked()
        except StoreError as exc:
            self._beating.failed(exc)  # the last share holds meanwhile
            return
        self._workers_alive = load.workers
        if load.workers <= 1:
            self._share, self._shed = None, 0
            return
        self._share = max(1, math.ceil(load.streams / load.workers))
        held = self._held()
        self._shed = max(0, held - self._share)
        if held < self._share:
            self.wake()

    def _workers_changed(self) -> None:
        """A worker joined or left: work out the share now, not at the next heartbeat."""
        if self._running and (self._rebalancing is None or self._rebalancing.done()):
            self._rebalancing = asyncio.create_task(self._balance(), name="rebalance")

    def _take_shed(self) -> bool:
        """True (once per stream beyond the share) when the calling stream should give its
        lease back now."""
        if self._shed <= 0:
            return False
        self._shed -= 1
        return True

    # --- one stream ----------------------------------------------------------------------

    async def _drive(self, stream: Stream) -> None:
        state = _State(stream.cursor, stream.attempt, stream.failing_since)
        try:
            webhook = await self._store.get("webhooks", stream.webhook_id)
            if webhook is None or not webhook.get("enabled", True):
                # The webhook service closes such streams; until then, do not spin on it.
                state.next_attempt_at = self._clock() + self._config.lease_s
                return
            await self._deliver(stream, webhook, state)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("stream %s/%s failed", stream.webhook_id, stream.topic)
            state.next_attempt_at = self._clock() + self._config.poll_interval_s
        finally:
            self.recorder.save(self._save_op(stream, state, release=True))
            with contextlib.suppress(StoreError):
                await asyncio.shield(self.recorder.sync())

    def _save_op(self, stream: Stream, state: _State, *, release: bool) -> SaveStream:
        return SaveStream(
            webhook_id=stream.webhook_id,
            topic=stream.topic,
            owner=self.owner,
            cursor=state.cursor,
            attempt=state.attempt,
            next_attempt_at=state.next_attempt_at,
            failing_since=state.failing_since,
            release=release,
        )

    async def _deliver(self, stream: Stream, webhook: Doc, state: _State) -> None:
        topic = wire_topic(stream.topic)
        single = bool(webhook.get("single_event_per_message"))
        # Messages in flight at once on this stream: batched, two, one sent and the next
        # built meanwhile, sent only once the one before it is answered (strict order; a
        # worker whose streams all wait for answers has the next messages' CPU work done,
        # so it is not idle while its receivers answer); single-event, as configured (order
        # may shuffle within that window unless it is 1).
        window = self._config.single_event_in_flight if single else 2
        read_limit = SINGLE_EVENT_READ if single else self._config.batch_max_events
        slot = self._slot(str(webhook.get("url", "")))
        try:
            prepared: PreparedWebhook | None = message.prepare(webhook)
        except MessageError:
            prepared = None  # each attempt records why it could not be sent
        frame = message.framing(prepared.type if prepared else "http-post", topic)
        buffer: collections.deque[StoredEvent] = collections.deque()
        read_after = state.cursor
        in_flight: collections.deque[asyncio.Task[_Sent]] = collections.deque()
        first_attempt_no = state.attempt + 1
        failed: _Sent | None = None
        # The next read runs while the messages already cut are being sent.
        reading: asyncio.Future[list[StoredEvent]] | None = None

        def read_next() -> asyncio.Future[list[StoredEvent]]:
            return asyncio.ensure_future(
                self._store.read_events(
                    stream.topic, stream.org_id, stream.site_id, read_after, read_limit
                )
            )

        shed = False  # give the lease back to another worker once what is in flight is done
        unsent = False  # a message was not sent as the worker stops: no cursor move past it
        try:
            while True:
                shed = shed or self._take_shed()
                while failed is None and len(in_flight) < window and self._running and not shed:
                    if not buffer:
                        events = await (reading or read_next())
                        reading = None
                        if not events:
                            break
                        buffer.extend(events)
                        read_after = events[-1].seq
                    batch = self._take(buffer, single, frame)
                    # Only the head message of a lease is a retry; the rest are first tries.
                    attempt_no, first_attempt_no = first_attempt_no, 1
                    after = in_flight[-1] if in_flight and not single else None
                    in_flight.append(
                        asyncio.create_task(
                            self._attempt(
                                stream, webhook, prepared, topic, batch, attempt_no, slot, after
                            )
                        )
                    )
                    if not buffer and reading is None:
                        reading = read_next()
                if not in_flight:
                    return
                task = in_flight.popleft()
                if failed is not None or unsent:
                    # Sent (its record is written, the cursor stays), or not sent after
                    # the failed or unsent one.
                    await asyncio.wait((task,))
                    _retrieve(task)
                    continue
                try:
                    sent = await task
                except _NotSent:
                    unsent = True  # the worker is stopping; the messages after wait too
                    continue
                if not self._acknowledge(stream, state, sent):
                    failed = sent
            # unreachable: the loop returns
        finally:
            # Messages already answered still move the cursor, even when this task is being
            # stopped while it waits for a read: a graceful stop must not send them again.
            while failed is None and not unsent and in_flight and in_flight[0].done():
                done = in_flight.popleft()
                if done.cancelled() or done.exception() is not None:
                    break
                if not self._acknowledge(stream, state, done.result()):
                    failed = done.result()
            for task in in_flight:
                task.cancel()
                task.add_done_callback(_retrieve)
            if reading is not None:
                reading.cancel()
                reading.add_done_callback(_retrieve)
            if failed is not None:
                await self._after_failure(stream, webhook, state, failed)

    def _acknowledge(self, stream: Stream, state: _State, sent: _Sent) -> bool:
        """Move the cursor past a message the receiver took; False if it did not."""
        if not sent.attempt.outcome.ok:
            return False
        state.cursor = sent.events[-1].seq
        state.attempt = 0
        state.failing_since = None
        self.recorder.save(self._save_op(stream, state, release=False))
        return True

    def _take(
        self, buffer: collections.deque[StoredEvent], single: bool, frame: message.Framing
    ) -> list[StoredEvent]:
        if single:
            return [buffer.popleft()]
        config = self._config
        return take_batch(buffer, config.batch_max_events, config.batch_max_bytes, frame)

    def _slot(self, url: str) -> asyncio.Semaphore:
        try:
            parts = urlsplit(url)
            host = f"{parts.hostname}:{parts.port or ''}"
        except ValueError:
            host = url
        slot = self._host_slots.get(host)
        if slot is None:
            slot = asyncio.Semaphore(self._config.max_in_flight_per_host)
            self._host_slots[host] = slot
        return slot

    async def _attempt(
        self,
        stream: Stream,
        webhook: Mapping[str, Any],
        prepared: PreparedWebhook | None,
        topic: str,
        events: list[StoredEvent],
        attempt_no: int,
        slot: asyncio.Semaphore,
        after: asyncio.Task[_Sent] | None = None,
    ) -> _Sent:
        """Build and send one message; ``after``: the message before it, whose success it
        waits for before it is sent (raises ``_NotSent`` if that failed)."""
        attempt = await send_message(
            self._sender,
            self._tokens,
            webhook,
            topic,
            list(map(event_body, events)),
            prepared=prepared,
            sending=self._turn(slot, after),
        )
        self.progress.sent(attempt.outcome.ok, len(events))
        # By reference: the body is rebuilt from the log when the record is read.
        ref = payload_ref.reference(stream, events, attempt.body_format, len(attempt.request.body))
        self.recorder.record(
            "deliveries",
            delivery_record(
                attempt,
                webhook,
                topic,
                (),
                attempt_no=attempt_no,
                now=self._clock(),
                resp_body_max_bytes=self._config.log_body_max_bytes,
                ref=ref,
            ),
        )
        return _Sent(events, attempt)

    @contextlib.asynccontextmanager
    async def _turn(
        self, slot: asyncio.Semaphore, after: asyncio.Task[_Sent] | None
    ) -> AsyncIterator[None]:
        """A built message's turn to be sent: once the one before it (``after``) succeeded,
        in a slot of its host (so a message waiting for its turn holds no slot), and only
        while the worker is not stopping (what it has in flight is answered, nothing new is
        sent)."""
        if after is not None:
            await asyncio.wait((after,))  # not `await after`: cancelling this must not end it
            if (
                after.cancelled()
                or after.exception() is not None
                or not after.result().attempt.outcome.ok
            ):
                raise _NotSent
        async with slot:
            if not self._running:
                raise _NotSent
            yield

    async def _after_failure(
        self, stream: Stream, webhook: Doc, state: _State, failed: _Sent
    ) -> None:
        now = self._clock()
        outcome = failed.attempt.outcome
        state.attempt += 1
        if state.failing_since is None:
            state.failing_since = now
        elif now - state.failing_since >= min(
            self._config.disable_after_failing_s, self._config.retention_s
        ):
            # Rare (failing for long): one success of the webhook since, on any topic or
            # a resend, restarts the clock (this stream's own clock may be stale).
            last_ok = await self._last_success(webhook["id"], state.failing_since)
            if last_ok is not None:
                state.failing_since = last_ok
            if now - state.failing_since > self._config.retention_s:
                await self._warn_if_behind_retention(stream, state)
        reason = None
        if outcome.status_code is not None and retry.disables_webhook(outcome.status_code):
            reason = f"the receiver answered {outcome.status_code} Gone"
        elif now - state.failing_since >= self._config.disable_after_failing_s:
            reason = f"every delivery failed for {_span(self._config.disable_after_failing_s)}"
        if reason is not None and self._on_disable is not None:
            log.warning("disabling webhook %s: %s", stream.webhook_id, reason)
            await self._on_disable(stream.webhook_id, reason)
            state.next_attempt_at = now + self._config.lease_s
            return
        delay = self._policy.next_delay_s(
            state.attempt,
            status_code=outcome.status_code,
            retry_after_s=outcome.retry_after_s,
            rng=self._rng,
        )
        if delay is not None:
            state.next_attempt_at = now + delay
            return
        parked = self._parked(webhook, wire_topic(stream.topic), failed, state, now)
        self.recorder.record("parked", parked)
        state.cursor = failed.events[-1].seq
        state.attempt = 0
        state.next_attempt_at = now

    async def _last_success(self, webhook_id: str, since: float) -> float | None:
        """Time of the webhook's latest successful delivery at or after ``since``, if any."""
        filters = (
            Filter("webhook_id", "eq", webhook_id),
            Filter("status", "eq", "success"),
            Filter("timestamp", "gte", since),
        )
        rows = await self._store.query("deliveries", Query(filters, sort="-timestamp", limit=1))
        return float(rows[0]["timestamp"]) if rows else None

    async def _warn_if_behind_retention(self, stream: Stream, state: _State) -> None:
        # Failing for longer than the retention; if the event after the cursor is gone,
        # it was pruned before it could be delivered.
        oldest = await self._store.oldest_seq()
        if state.cursor + 1 < oldest:
            log.warning(
                "stream %s/%s fell behind the retention (%gs): events after seq %d and "
                "before seq %d were pruned undelivered",
                stream.webhook_id,
                stream.topic,
                self._config.retention_s,
                state.cursor,
                oldest,
            )

    def _parked(self, webhook: Doc, topic: str, failed: _Sent, state: _State, now: float) -> Doc:
        outcome = failed.attempt.outcome
        status = f"status {outcome.status_code}" if outcome.status_code else "no answer"
        return {
            "id": str(uuid.uuid4()),
            "org_id": webhook.get("org_id"),
            "site_id": webhook.get("site_id"),
            "webhook_id": webhook["id"],
            "topic": topic,
            "event_ids": [e.id for e in failed.events],
            "first_seq": failed.events[0].seq,
            "last_seq": failed.events[-1].seq,
            "body": failed.attempt.request.body.decode("utf-8", errors="replace"),
            "attempts": state.attempt,
            "reason": f"retries exhausted after {state.attempt} attempts; last: {status}"
            + (f" ({outcome.error})" if outcome.error else ""),
            "timestamp": now,
        }


def take_batch(
    buffer: collections.deque[StoredEvent], max_events: int, max_bytes: int, frame: message.Framing
) -> list[StoredEvent]:
    """The next message's events, taken from ``buffer``: as many as fit ``max_events``
    and a body of ``max_bytes`` framed by ``frame``, and the first whatever its size."""
    room = max_bytes - frame.fixed + 1  # for the bodies, each with its per-event framing
    count = len(buffer)
    # The usual case (what one read brought, all of it due): the whole buffer if it fits,
    # found by one sum in C rather than a Python step per event.
    if count <= max_events and (
        sum(map(len, map(event_body, buffer))) + count * frame.per_event <= room
    ):
        batch = list(buffer)
        buffer.clear()
        return batch
    batch = [buffer.popleft()]
    room -= len(batch[0].body) + frame.per_event
    while buffer and len(batch) < max_events:
        size = len(buffer[0].body) + frame.per_event
        if size > room:
            break
        room -= size
        batch.append(buffer.popleft())
    return batch


def _span(seconds: float) -> str:
    """A duration for people: "5 days", "2 hours", "30 seconds"."""
    for unit, size in (("days", 86400.0), ("hours", 3600.0), ("minutes", 60.0)):
        if seconds >= size:
            return f"{seconds / size:g} {unit}"
    return f"{seconds:g} seconds"
