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
from misthook.domain.privileges import Actor
from misthook.domain.webhook_rules import redact
from misthook.services.search import (
    Params,
    SearchSpec,
    Window,
    count_by,
    paged_search,
    window_filters,
)
from misthook.store.base import Doc, Filter, Op, Put, Store

SPEC = SearchSpec(
    collection="audit_logs",
    sortable=("timestamp", "admin_id", "site_id", "admin_name", "message"),
    default_sort="-timestamp",
    distinct=("admin_id", "admin_name", "message", "site_id"),
    default_distinct="admin_name",
)


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

    def _filters(self, org_id: str, params: Params, span: Window) -> tuple[Filter, ...]:
        filters = [Filter("org_id", "eq", org_id), *window_filters(span)]
        for name in ("site_id", "admin_id"):
            if params.get(name):
                filters.append(Filter(name, "eq", params[name]))
        for name in ("admin_name", "message"):
            if params.get(name):
                filters.append(Filter(name, "contains", params[name]))
        return tuple(filters)

    async def search(self, org_id: str, params: Params, path: str) -> dict[str, Any]:
        """`GET /orgs/{id}/logs`: ``{start, end, limit, total, results, next?}``."""
        return await paged_search(
            self._store,
            SPEC,
            params,
            path,
            self._clock(),
            lambda span: self._filters(org_id, params, span),
        )

    async def count(self, org_id: str, params: Params) -> dict[str, Any]:
        """`GET /orgs/{id}/logs/count`: counts by a distinct field."""
        return await count_by(
            self._store,
            SPEC,
            params,
            self._clock(),
            lambda span: self._filters(org_id, params, span),
        )
