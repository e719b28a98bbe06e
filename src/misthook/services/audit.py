"""The audit log (Organization > Audit Logs) and its `audits` topic.

Every change made through the API calls ``AuditLog.record`` to get the operations that
store the entry and publish its event; the caller commits them together with the change
itself, so both land in one transaction or neither does.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any

import orjson

from misthook.bus import Bus
from misthook.domain import paging, timerange
from misthook.domain.privileges import Actor
from misthook.domain.webhook_rules import redact
from misthook.errors import BadRequestError
from misthook.store.base import Doc, Filter, Op, Put, Query, Store

SORTABLE = ("timestamp", "admin_id", "site_id", "admin_name", "message")
DISTINCT = ("admin_id", "admin_name", "message", "site_id")


def changed_fields(
    before: Mapping[str, Any] | None, after: Mapping[str, Any] | None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The top-level fields that differ, secrets redacted (what Mist's log shows)."""
    b = redact(before or {})
    a = redact(after or {})
    keys = [k for k in {**b, **a} if b.get(k) != a.get(k) and k != "modified_time"]
    return {k: b[k] for k in keys if k in b}, {k: a[k] for k in keys if k in a}


class AuditLog:
    def __init__(self, store: Store, bus: Bus, clock: Callable[[], float] = time.time) -> None:
        self._store = store
        self._bus = bus
        self._clock = clock

    def record(
        self,
        actor: Actor,
        *,
        org_id: str,
        message: str,
        site_id: str | None = None,
        site_name: str | None = None,
        before: Mapping[str, Any] | None = None,
        after: Mapping[str, Any] | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> list[Op]:
        """Operations storing the entry and appending its `audits` event."""
        before_doc, after_doc = changed_fields(before, after)
        entry: Doc = {
            "id": str(uuid.uuid4()),
            "org_id": org_id,
            "site_id": site_id,
            "admin_id": actor.admin_id,
            "admin_name": actor.name,
            "message": message,
            "src_ip": actor.src_ip,
            "user_agent": actor.user_agent,
            "for_site": site_id is not None,
            "timestamp": self._clock(),
        }
        if before_doc:
            entry["before"] = before_doc
        if after_doc:
            entry["after"] = after_doc
        if extra:
            entry.update(extra)
        # The webhook event differs from the REST entry as Mist's does: before/after are
        # JSON strings, site_name is added, admin_id is not sent.
        event: dict[str, Any] = {
            k: v for k, v in entry.items() if k not in ("admin_id", "for_site", "before", "after")
        }
        if site_name is not None:
            event["site_name"] = site_name
        if before_doc:
            event["before"] = orjson.dumps(before_doc).decode()
        if after_doc:
            event["after"] = orjson.dumps(after_doc).decode()
        return [Put("audit_logs", entry), self._bus.prepare(org_id, site_id, "audits", [event])]

    def _filters(
        self, org_id: str, params: Mapping[str, str | None], window: tuple[float, float]
    ) -> tuple[Filter, ...]:
        filters = [
            Filter("org_id", "eq", org_id),
            Filter("timestamp", "gte", window[0]),
            Filter("timestamp", "lte", window[1]),
        ]
        if params.get("site_id"):
            filters.append(Filter("site_id", "eq", params["site_id"]))
        if params.get("admin_id"):
            filters.append(Filter("admin_id", "eq", params["admin_id"]))
        if params.get("admin_name"):
            filters.append(Filter("admin_name", "contains", params["admin_name"]))
        if params.get("message"):
            filters.append(Filter("message", "contains", params["message"]))
        return tuple(filters)

    async def search(
        self, org_id: str, params: Mapping[str, str | None], path: str
    ) -> dict[str, Any]:
        """`GET /orgs/{id}/logs`: ``{start, end, limit, total, results, next?}``."""
        start, end = timerange.resolve_window(
            params.get("start"), params.get("end"), params.get("duration"), self._clock()
        )
        limit, page = paging.page_params(params.get("limit"), params.get("page"))
        sort = timerange.parse_sort(params.get("sort"), SORTABLE, "-timestamp")
        filters = self._filters(org_id, params, (start, end))
        total = await self._store.count("audit_logs", filters)
        rows = await self._store.query(
            "audit_logs", Query(filters, sort=sort, limit=limit, offset=(page - 1) * limit)
        )
        body: dict[str, Any] = {
            "start": int(start),
            "end": int(end),
            "limit": limit,
            "total": total,
            "results": rows,
        }
        if page * limit < total:
            nxt = {k: v for k, v in params.items() if v is not None and k != "page"}
            nxt.update(start=str(start), end=str(end), limit=str(limit), page=str(page + 1))
            body["next"] = paging.search_next(path, nxt)
        return body

    async def count(self, org_id: str, params: Mapping[str, str | None]) -> dict[str, Any]:
        """`GET /orgs/{id}/logs/count`: counts by a distinct field."""
        start, end = timerange.resolve_window(
            params.get("start"), params.get("end"), params.get("duration"), self._clock()
        )
        limit, _ = paging.page_params(params.get("limit"), None)
        distinct = params.get("distinct") or "admin_name"
        if distinct not in DISTINCT:
            raise BadRequestError(
                "invalid field: distinct", reason=f"distinct must be one of {', '.join(DISTINCT)}"
            )
        filters = self._filters(org_id, params, (start, end))
        counts = await self._store.count_distinct("audit_logs", filters, distinct, limit)
        return {
            "distinct": distinct,
            "start": int(start),
            "end": int(end),
            "limit": limit,
            "total": sum(c for _, c in counts),
            "results": [{distinct: v, "count": c} for v, c in counts],
        }
