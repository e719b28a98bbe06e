"""The one entrance for events.

Producers (API changes, device reports, alarm rules, location ingest, the publish API,
ping) turn events into an ``AppendEvents`` operation with ``prepare`` and commit it,
together with whatever else changed, through ``commit``; the store appends them to the
event log in the same transaction. After the commit the local workers are woken (other
processes are woken by the store: PostgreSQL NOTIFY, or their polling).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import orjson

from misthook import ids
from misthook.domain.topics import envelope_fields
from misthook.store.base import AppendEvents, CommitResult, NewEvent, Op, Store

_dumps = orjson.dumps


class Bus:
    def __init__(self, store: Store, clock: Callable[[], float] = time.time) -> None:
        self._store = store
        self._clock = clock
        self._wakers: list[Callable[[], None]] = []

    def on_publish(self, waker: Callable[[], None]) -> None:
        """Register a callback run after every commit that appended events."""
        self._wakers.append(waker)

    def prepare(
        self,
        org_id: str,
        site_id: str | None,
        topic: str,
        events: Sequence[Mapping[str, Any]],
    ) -> AppendEvents:
        """Events as they will be delivered, serialized once, here.

        Every event gets a stable id in the log (the delivery log lists it). Of ``id``,
        ``org_id``, ``site_id`` and ``timestamp``, those the topic's Mist schema has are
        filled in when absent (most schemas forbid other fields)."""
        now = self._clock()
        fields = envelope_fields(topic)
        want_id = "id" in fields
        want_org = "org_id" in fields
        want_site = site_id is not None and "site_id" in fields
        want_ts = "timestamp" in fields
        fresh = ids.random_uuids(len(events))
        new: list[NewEvent] = []
        append = new.append
        for i, raw in enumerate(events):
            event = dict(raw)
            event_id = event.get("id") if want_id else None
            if not isinstance(event_id, str) or not event_id:
                event_id = fresh[i]
                if want_id:
                    event["id"] = event_id
            if want_org and "org_id" not in event:
                event["org_id"] = org_id
            if want_site and "site_id" not in event:
                event["site_id"] = site_id
            if want_ts:
                timestamp = event.get("timestamp")
                if type(timestamp) is not float and (
                    not isinstance(timestamp, int | float) or isinstance(timestamp, bool)
                ):
                    event["timestamp"] = now
            # the log keeps when the event entered it: retention prunes by that, whatever
            # clock or unit the producer's own timestamp uses
            append(NewEvent(event_id, org_id, site_id, topic, now, _dumps(event)))
        return AppendEvents(new)

    async def commit(self, ops: Sequence[Op]) -> CommitResult:
        """Apply ``ops`` in one transaction; wake the workers if events were appended."""
        result = await self._store.commit(ops)
        if any(isinstance(op, AppendEvents) and op.events for op in ops):
            for waker in self._wakers:
                waker()
        return result

    async def publish(
        self,
        org_id: str,
        site_id: str | None,
        topic: str,
        events: Sequence[Mapping[str, Any]],
    ) -> list[str]:
        """Append ``events`` durably and return their ids (stored before this returns)."""
        op = self.prepare(org_id, site_id, topic, events)
        await self.commit([op])
        return [e.id for e in op.events]
