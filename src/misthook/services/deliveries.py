"""The delivery log of a webhook and what an admin can do with it.

- ``search`` / ``count``: Mist's ``.../webhooks/{id}/events/search`` and ``.../events/count``
  over the ``deliveries`` collection (one record per attempt, see
  ``misthook.delivery.attempts``).
- ``resend``: POST the message of one record again, now, and log a new attempt.
  A record stored by reference (``misthook.delivery.payload_ref``) is rebuilt from the event
  log and the new record is a reference too; one whose events retention pruned cannot be
  sent again (400). Search answers build ``req_payload``/``event_ids`` the same way, one
  read per record of the page, and never show the reference itself.
- ``recover``: POST again every parked message (retries exhausted) since a time, oldest
  first; stops at the first failure, since the receiver is evidently still down, and says
  how many remain.
- ``stream_status``: per topic, how far the webhook lags behind the event log and whether
  events were pruned before it could deliver them (``behind_retention``).

Paging of ``search`` follows Mist's ``search_after``: ``next`` carries an opaque cursor
``[timestamp, skip]`` (the last timestamp returned and how many records with that exact
timestamp were already returned), so a page boundary between equal timestamps loses
nothing.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

import orjson

from misthook.bus import Bus
from misthook.config import Config
from misthook.delivery import payload_ref
from misthook.delivery.attempts import bodies_of_payload, delivery_record, send_message
from misthook.delivery.oauth2 import OAuth2Tokens
from misthook.delivery.sender import Sender
from misthook.domain import paging, timerange
from misthook.errors import BadRequestError, NotFoundError
from misthook.services.search import (
    Params,
    SearchSpec,
    count_by,
    search_body,
    window,
    window_filters,
)
from misthook.store.base import Delete, Doc, Filter, Put, Query, Store

SPEC = SearchSpec(
    collection="deliveries",
    sortable=("timestamp",),
    default_sort="-timestamp",
    distinct=("status", "status_code", "topic", "webhook_id"),
    default_distinct="status",
)
# Events counted at most per stream by stream_status (the lag is "at least" beyond it).
LAG_COUNT_MAX = 1000
# Parked messages sent again at most by one recover call.
RECOVER_MAX = 1000


class Deliveries:
    def __init__(
        self,
        store: Store,
        bus: Bus,
        sender: Sender,
        config: Config,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._bus = bus
        self._sender = sender
        self._config = config
        self._clock = clock
        self._tokens = OAuth2Tokens(sender)

    # --- the log -------------------------------------------------------------------------

    def _filters(
        self, webhook_id: str, params: Mapping[str, str | None], span: tuple[float, float]
    ) -> list[Filter]:
        filters = [Filter("webhook_id", "eq", webhook_id), *window_filters(span)]
        status = params.get("status")
        if status:
            if status not in ("success", "failure"):
                raise BadRequestError(
                    f"invalid status: {status}", reason="status is success or failure"
                )
            filters.append(Filter("status", "eq", status))
        if params.get("topic"):
            filters.append(Filter("topic", "eq", params["topic"]))
        code = params.get("status_code")
        if code:
            try:
                filters.append(Filter("status_code", "eq", int(code)))
            except ValueError:
                raise BadRequestError(
                    f"invalid status_code: {code}", reason="expected an integer"
                ) from None
        if params.get("error"):
            filters.append(Filter("error", "contains", params["error"]))
        return filters

    async def search(
        self, webhook_id: str, params: Mapping[str, str | None], path: str
    ) -> dict[str, Any]:
        """``{start, end, limit, total, results, next?}``; ``path`` is the request's path."""
        start, end = window(params, self._clock())
        limit, _ = paging.page_params(params.get("limit"), None)
        sort = timerange.parse_sort(params.get("sort"), SPEC.sortable, SPEC.default_sort)
        descending = sort.startswith("-")
        filters = self._filters(webhook_id, params, (start, end))
        total = await self._store.count("deliveries", tuple(filters))
        after_ts, skip = _search_after(params.get("search_after"))
        if after_ts is not None:
            filters.append(Filter("timestamp", "lte" if descending else "gte", after_ts))
        rows = await self._store.query(
            "deliveries", Query(tuple(filters), sort=sort, limit=limit + 1, offset=skip)
        )
        more = len(rows) > limit
        rows = [await payload_ref.hydrate(self._store, row) for row in rows[:limit]]
        body = search_body((start, end), limit, total, rows)
        if more and rows:
            last = rows[-1]["timestamp"]
            same = sum(1 for r in rows if r["timestamp"] == last)
            cursor = [last, same + (skip if last == after_ts else 0)]
            nxt: dict[str, object] = {
                k: v for k, v in params.items() if v is not None and k != "search_after"
            }
            nxt.update(start=str(start), end=str(end), limit=str(limit), search_after=cursor)
            body["next"] = paging.search_next(path, nxt)
        return body

    async def count(self, webhook_id: str, params: Params) -> dict[str, Any]:
        """``{distinct, start, end, limit, total, results: [{<distinct>, count}]}``."""
        return await count_by(
            self._store,
            SPEC,
            params,
            self._clock(),
            lambda span: tuple(self._filters(webhook_id, params, span)),
        )

    # --- sending again ---------------------------------------------------------------------

    async def _send_again(
        self,
        webhook: Mapping[str, Any],
        topic: str,
        bodies: list[bytes],
        attempt_no: int,
        *,
        event_ids: list[str] | None = None,
        ref: Mapping[str, Any] | None = None,
    ) -> Doc:
        """POST a message again and return its record: by reference when ``ref`` (the
        old record's) is given, else literal with ``event_ids``."""
        attempt = await send_message(self._sender, self._tokens, webhook, topic, bodies)
        # The webhook may have changed type since: the format is the new attempt's.
        new_ref = (
            None
            if ref is None
            else {**ref, "format": attempt.body_format, "bytes": len(attempt.request.body)}
        )
        return delivery_record(
            attempt,
            webhook,
            topic,
            event_ids or (),
            attempt_no=attempt_no,
            now=self._clock(),
            resp_body_max_bytes=self._config.log_body_max_bytes,
            ref=new_ref,
        )

    async def resend(self, webhook: Mapping[str, Any], delivery_id: str) -> Doc:
        """Send the message of delivery ``delivery_id`` again; returns the new record as
        search shows it."""
        old = await self._store.get("deliveries", delivery_id)
        if old is None or old.get("webhook_id") != webhook["id"]:
            raise NotFoundError()
        attempt_no = old.get("attempt", 0) + 1
        ref = old.get(payload_ref.REF_FIELD)
        if ref is not None:
            events = await payload_ref.read_run(self._store, ref)
            if events is None:
                raise BadRequestError(
                    "the events of this delivery were pruned; its message cannot be sent again",
                    reason="events are kept for the retention period (MISTHOOK_RETENTION_S)",
                )
            bodies = [e.body for e in events]
            record = await self._send_again(webhook, str(old["topic"]), bodies, attempt_no, ref=ref)
        else:
            topic, bodies = bodies_of_payload(old["req_payload"])
            ids = list(old.get("event_ids") or [])
            record = await self._send_again(webhook, topic, bodies, attempt_no, event_ids=ids)
        record["resend_of"] = delivery_id
        await self._store.commit([Put("deliveries", record)])
        return await payload_ref.hydrate(self._store, record)

    async def recover(self, webhook: Mapping[str, Any], since: object) -> dict[str, Any]:
        """Send again the parked messages of ``webhook`` parked at or after ``since``."""
        if isinstance(since, bool) or not isinstance(since, int | float):
            raise BadRequestError("invalid field: since", reason="expected epoch seconds")
        filters = (
            Filter("webhook_id", "eq", webhook["id"]),
            Filter("timestamp", "gte", float(since)),
        )
        total = await self._store.count("parked", filters)
        parked = await self._store.query(
            "parked", Query(filters, sort="timestamp", limit=RECOVER_MAX)
        )
        resent = 0
        failed = 0
        for doc in parked:
            topic, bodies = bodies_of_payload(doc["body"])
            record = await self._send_again(
                webhook,
                topic,
                bodies,
                doc.get("attempts", 0) + 1,
                event_ids=list(doc.get("event_ids") or []),
            )
            record["recovered_from"] = doc["id"]
            if record["status"] == "success":
                await self._store.commit([Put("deliveries", record), Delete("parked", doc["id"])])
                resent += 1
            else:
                await self._store.commit([Put("deliveries", record)])
                failed += 1
                break
        return {"parked": total, "resent": resent, "failed": failed, "remaining": total - resent}

    # --- streams -------------------------------------------------------------------------

    async def stream_status(self, webhook_id: str) -> list[dict[str, Any]]:
        """Per topic of the webhook: cursor, lag (events not yet delivered, counted up to
        ``LAG_COUNT_MAX``), retry state, and ``behind_retention``: the receiver has failed
        for longer than the retention, so events after its last success were pruned."""
        now = self._clock()
        oldest = await self._store.oldest_seq()
        status: list[dict[str, Any]] = []
        for stream in await self._store.list_streams(webhook_id):
            pending = await self._store.read_events(
                stream.topic, stream.org_id, stream.site_id, stream.cursor, LAG_COUNT_MAX + 1
            )
            failing_for = None if stream.failing_since is None else now - stream.failing_since
            status.append(
                {
                    "topic": stream.topic.partition(":")[0],
                    "cursor": stream.cursor,
                    "lag": min(len(pending), LAG_COUNT_MAX),
                    "lag_capped": len(pending) > LAG_COUNT_MAX,
                    "attempt": stream.attempt,
                    "next_attempt_at": stream.next_attempt_at or None,
                    "failing_since": stream.failing_since,
                    "behind_retention": failing_for is not None
                    and failing_for > self._config.retention_s
                    and stream.cursor + 1 < oldest,
                }
            )
        return status


def _search_after(raw: str | None) -> tuple[float | None, int]:
    """``(timestamp, skip)`` of a ``search_after`` cursor written by ``search``."""
    if not raw:
        return None, 0
    try:
        value = orjson.loads(raw)
        ts, skip = float(value[0]), int(value[1]) if len(value) > 1 else 0
    except (orjson.JSONDecodeError, TypeError, ValueError, IndexError, KeyError):
        raise BadRequestError(
            f"invalid search_after: {raw}", reason="use the next link of the previous page"
        ) from None
    if skip < 0:
        raise BadRequestError(f"invalid search_after: {raw}")
    return ts, skip
