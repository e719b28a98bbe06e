"""The alarm engine (topic ``alarms``) and the alarm API: search, count, ack and unack
(mist_api.md §6.3).

Producers hand incidents to ``Alarms.commit`` with the rest of their change; under one
lock the engine folds them into the open alarm of their site and type (or opens one, see
``misthook.domain.alarm_rules``) and commits everything in one transaction.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from misthook.bus import Bus
from misthook.domain import alarm_rules, paging, timerange
from misthook.domain.alarm_defs import ALARM_DEFS_BY_KEY
from misthook.domain.alarm_rules import Incident
from misthook.domain.privileges import Actor
from misthook.errors import BadRequestError, NotFoundError
from misthook.services.access import org_for, site_for
from misthook.services.audit import AuditLog
from misthook.store.base import Doc, Filter, Op, Put, Query, Store

SORTABLE = ("timestamp", "last_seen", "type", "severity", "count")
DISTINCT = ("type", "group", "severity", "acked", "site_id", "status")
ACK_BATCH_MAX = 1000  # "Batch size for multiple alarm ack and unack has to be <= 1000"


class Alarms:
    def __init__(
        self,
        store: Store,
        bus: Bus,
        audit: AuditLog,
        window_s: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._bus = bus
        self._audit = audit
        self._window_s = window_s
        self._clock = clock
        self._lock = asyncio.Lock()

    # --- the engine -------------------------------------------------------------------

    async def commit(
        self, ops: Sequence[Op], org_id: str, incidents: Sequence[Incident]
    ) -> list[Doc]:
        """Commit ``ops`` with the alarms ``incidents`` raise or update; the alarms."""
        async with self._lock:
            alarm_ops, alarms = await self._fold(org_id, incidents)
            await self._bus.commit([*ops, *alarm_ops])
        return alarms

    async def _fold(self, org_id: str, incidents: Sequence[Incident]) -> tuple[list[Op], list[Doc]]:
        ops: list[Op] = []
        alarms: list[Doc] = []
        for (site_id, key), items in alarm_rules.group_by_key(incidents).items():
            definition = ALARM_DEFS_BY_KEY.get(key)
            if definition is None:
                raise ValueError(f"unknown alarm type {key!r}")
            latest = await self._store.query(
                "alarms",
                Query(
                    (Filter("site_id", "eq", site_id), Filter("type", "eq", key)),
                    sort="-timestamp",
                    limit=1,
                ),
            )
            current = latest[0] if latest else None
            fresh: list[Incident] = []
            folding: list[Incident] = []
            for incident in items:
                if current is not None and alarm_rules.in_window(
                    current, incident.at, self._window_s
                ):
                    folding.append(incident)
                else:
                    fresh.append(incident)
            batches: list[tuple[Doc, bool]] = []
            if folding and current is not None:
                batches.append((alarm_rules.fold(current, folding), True))
            if fresh:
                site = await self._store.get("sites", site_id)
                batches.append(
                    (
                        alarm_rules.open_alarm(
                            definition,
                            alarm_id=str(uuid.uuid4()),
                            org_id=org_id,
                            site_name=site["name"] if site else "",
                            incidents=fresh,
                        ),
                        False,
                    )
                )
            for alarm, update in batches:
                event = alarm_rules.webhook_event(alarm, definition["fields"], update=update)
                ops += [Put("alarms", alarm), self._bus.prepare(org_id, site_id, "alarms", [event])]
                alarms.append(alarm)
        return ops, alarms

    # --- search and count -------------------------------------------------------------

    def _filters(
        self, scope: tuple[str, str], params: Mapping[str, str | None], window: tuple[float, float]
    ) -> tuple[Filter, ...]:
        filters = [
            Filter(scope[0], "eq", scope[1]),
            Filter("timestamp", "gte", window[0]),
            Filter("timestamp", "lte", window[1]),
        ]
        for name in ("type", "severity", "group", "ack_admin_name", "status", "site_id"):
            if params.get(name):
                values = [v.strip() for v in str(params[name]).split(",") if v.strip()]
                filters.append(Filter(name, "in", values))
        acked = (params.get("acked") or "").lower()
        if acked in ("true", "false"):
            filters.append(Filter("acked", "eq", acked == "true"))
        return tuple(filters)

    def _window(self, params: Mapping[str, str | None]) -> tuple[float, float]:
        return timerange.resolve_window(
            params.get("start"), params.get("end"), params.get("duration"), self._clock()
        )

    async def search(
        self, scope: tuple[str, str], params: Mapping[str, str | None], path: str
    ) -> dict[str, Any]:
        """``GET .../alarms/search``: ``{start, end, limit, total, results, next?}``."""
        start, end = self._window(params)
        limit, page = paging.page_params(params.get("limit"), params.get("page"))
        sort = timerange.parse_sort(params.get("sort"), SORTABLE, "-timestamp")
        filters = self._filters(scope, params, (start, end))
        total = await self._store.count("alarms", filters)
        rows = await self._store.query(
            "alarms", Query(filters, sort=sort, limit=limit, offset=(page - 1) * limit)
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

    async def count(
        self, scope: tuple[str, str], params: Mapping[str, str | None]
    ) -> dict[str, Any]:
        """``GET .../alarms/count``: counts by a distinct field (default type)."""
        start, end = self._window(params)
        limit, _ = paging.page_params(params.get("limit"), None)
        distinct = params.get("distinct") or "type"
        if distinct not in DISTINCT:
            raise BadRequestError(
                "invalid field: distinct", reason=f"distinct must be one of {', '.join(DISTINCT)}"
            )
        filters = self._filters(scope, params, (start, end))
        counts = await self._store.count_distinct("alarms", filters, distinct, limit)
        return {
            "distinct": distinct,
            "start": int(start),
            "end": int(end),
            "limit": limit,
            "total": sum(c for _, c in counts),
            "results": [{distinct: v, "count": c} for v, c in counts],
        }

    # --- ack and unack ----------------------------------------------------------------

    async def scope_of(
        self, actor: Actor, level: str, scope_id: str, *, write: bool = False
    ) -> tuple[str, Doc]:
        """``(org_id, org-or-site doc)`` of a request, after the access checks."""
        if level == "orgs":
            return scope_id, await org_for(self._store, actor, scope_id, write=write)
        site = await site_for(self._store, actor, scope_id, write=write)
        return site["org_id"], site

    async def set_acked(
        self,
        actor: Actor,
        level: str,
        scope_id: str,
        *,
        acked: bool,
        alarm_ids: Sequence[str] | None,
        note: str | None,
    ) -> dict[str, Any]:
        """Ack (or unack) the listed alarms, or all of the scope when ``alarm_ids`` is None.

        One audit entry per call; an id not in the scope is a 404 when it is the only one."""
        org_id, scope_doc = await self.scope_of(actor, level, scope_id, write=True)
        field = "org_id" if level == "orgs" else "site_id"
        filters: list[Filter] = [Filter(field, "eq", scope_id), Filter("acked", "eq", not acked)]
        if alarm_ids is not None:
            if len(alarm_ids) > ACK_BATCH_MAX:
                raise BadRequestError(f"at most {ACK_BATCH_MAX} alarm_ids per call")
            filters.append(Filter("id", "in", list(alarm_ids)))
        now = self._clock()
        async with self._lock:
            rows = await self._store.query("alarms", Query(tuple(filters), limit=100_000))
            if alarm_ids is not None and len(alarm_ids) == 1 and not rows:
                known = await self._store.get("alarms", alarm_ids[0])
                if known is None or known.get(field) != scope_id:
                    raise NotFoundError()
            ops: list[Op] = []
            for alarm in rows:
                updated = dict(alarm)
                if acked:
                    updated.update(
                        acked=True,
                        acked_time=int(now),
                        ack_admin_id=actor.admin_id,
                        ack_admin_name=actor.name,
                    )
                else:
                    updated["acked"] = False
                    for k in ("acked_time", "ack_admin_id", "ack_admin_name"):
                        updated.pop(k, None)
                if note is not None:
                    updated["note"] = note
                ops.append(Put("alarms", updated))
            verb = "Ack" if acked else "Unack"
            what = "all alarms" if alarm_ids is None else f"{len(rows)} alarm(s)"
            site_id = scope_id if level == "sites" else None
            ops += self._audit.record(
                actor,
                org_id=org_id,
                site_id=site_id,
                site_name=scope_doc["name"] if site_id else None,
                message=f"{verb} {what}",
            )
            await self._bus.commit(ops)
        return {"acked" if acked else "unacked": [a["id"] for a in rows]}
