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
from collections.abc import Callable, Sequence
from typing import Any

from misthook.bus import Bus
from misthook.domain import alarm_rules
from misthook.domain.alarm_defs import ALARM_DEFS_BY_KEY
from misthook.domain.alarm_rules import Incident
from misthook.domain.privileges import Actor
from misthook.errors import BadRequestError, NotFoundError
from misthook.services.access import org_for, site_for
from misthook.services.audit import AuditLog
from misthook.services.search import (
    Params,
    SearchSpec,
    Window,
    count_by,
    csv_values,
    paged_search,
    window_filters,
)
from misthook.store.base import Doc, Filter, Op, Put, Query, Store

SPEC = SearchSpec(
    collection="alarms",
    sortable=("timestamp", "last_seen", "type", "severity", "count"),
    default_sort="-timestamp",
    distinct=("type", "group", "severity", "acked", "site_id", "status"),
    default_distinct="type",
)
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

    def _filters(self, scope: tuple[str, str], params: Params, span: Window) -> tuple[Filter, ...]:
        filters = [Filter(scope[0], "eq", scope[1]), *window_filters(span)]
        for name in ("type", "severity", "group", "ack_admin_name", "status", "site_id"):
            if params.get(name):
                filters.append(Filter(name, "in", csv_values(params[name])))
        acked = (params.get("acked") or "").lower()
        if acked in ("true", "false"):
            filters.append(Filter("acked", "eq", acked == "true"))
        return tuple(filters)

    async def search(self, scope: tuple[str, str], params: Params, path: str) -> dict[str, Any]:
        """``GET .../alarms/search``: ``{start, end, limit, total, results, next?}``."""
        return await paged_search(
            self._store,
            SPEC,
            params,
            path,
            self._clock(),
            lambda span: self._filters(scope, params, span),
        )

    async def count(self, scope: tuple[str, str], params: Params) -> dict[str, Any]:
        """``GET .../alarms/count``: counts by a distinct field (default type)."""
        return await count_by(
            self._store,
            SPEC,
            params,
            self._clock(),
            lambda span: self._filters(scope, params, span),
        )

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
