"""Orgs and their sites."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from misthook.bus import Bus
from misthook.domain.privileges import Actor, Privilege, site_ids_in
from misthook.errors import BadRequestError, ForbiddenError
from misthook.services.access import org_for, site_for
from misthook.services.audit import AuditLog
from misthook.services.identity import Identity
from misthook.services.search import list_page
from misthook.store.base import (
    COLLECTIONS,
    CloseStreams,
    Delete,
    DeleteWhere,
    Doc,
    Filter,
    Op,
    Put,
    Query,
    Store,
    where,
)

ORG_FIELDS = ("name", "alarmtemplate_id", "allow_mist", "session_expiry")
SITE_FIELDS = (
    "name",
    "timezone",
    "country_code",
    "address",
    "latlng",
    "notes",
    "sitegroup_ids",
    "device_updown_threshold",
)
# Collections whose documents belong to one site and go with it; the audit log stays.
SITE_OWNED = tuple(
    c
    for c in COLLECTIONS
    if c not in ("orgs", "sites", "admins", "tokens", "audit_logs", "bins", "bin_requests")
)


def _name(body: Mapping[str, Any], required: bool) -> str | None:
    name = body.get("name")
    if name is None and not required:
        return None
    if not isinstance(name, str) or not name.strip():
        raise BadRequestError("invalid field: name", reason="name is required")
    if len(name) > 128:
        raise BadRequestError("invalid field: name", reason="at most 128 characters")
    return name.strip()


def _site_fields(body: Mapping[str, Any]) -> dict[str, Any]:
    fields = {k: body[k] for k in SITE_FIELDS if k in body and k != "name"}
    if "device_updown_threshold" in fields:
        value = fields["device_updown_threshold"]
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise BadRequestError(
                "invalid field: device_updown_threshold",
                reason="minutes from 0 to 30",
            )
        if value > 30:  # Mist resets thresholds over 30 minutes to 0
            fields["device_updown_threshold"] = 0
    return fields


class Orgs:
    def __init__(
        self,
        store: Store,
        bus: Bus,
        audit: AuditLog,
        identity: Identity,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._bus = bus
        self._audit = audit
        self._identity = identity
        self._clock = clock

    # --- orgs ------------------------------------------------------------------------

    async def create_org(self, actor: Actor, body: Mapping[str, Any]) -> Doc:
        if actor.kind != "admin":
            raise ForbiddenError("Org tokens cannot create orgs.")
        name = _name(body, required=True)
        now = self._clock()
        org: Doc = {
            "id": str(uuid.uuid4()),
            "name": name,
            **{k: body[k] for k in ORG_FIELDS if k in body and k != "name"},
            "created_time": now,
            "modified_time": now,
        }
        ops: list[Op] = [
            Put("orgs", org),
            *self._audit.record(actor, org_id=org["id"], message=f'Add Org "{name}"', after=org),
        ]
        await self._bus.commit(ops)
        if not actor.superuser:
            await self._identity.grant(actor.id, Privilege("org", "admin", org["id"]))
        return org

    async def list_orgs(self, actor: Actor) -> list[Doc]:
        orgs = await self._store.query("orgs", Query(sort="created_time"))
        return [
            o for o in orgs if actor.superuser or any(p.org_id == o["id"] for p in actor.privileges)
        ]

    async def get_org(self, actor: Actor, org_id: str) -> Doc:
        return await org_for(self._store, actor, org_id, org_level=False)

    async def update_org(self, actor: Actor, org_id: str, body: Mapping[str, Any]) -> Doc:
        org = await org_for(self._store, actor, org_id, write=True)
        name = _name(body, required=False)
        updated = {**org, **{k: body[k] for k in ORG_FIELDS if k in body}}
        if name is not None:
            updated["name"] = name
        updated["modified_time"] = self._clock()
        await self._bus.commit(
            [
                Put("orgs", updated),
                *self._audit.record(
                    actor,
                    org_id=org_id,
                    message=f'Update Org "{org["name"]}"',
                    before=org,
                    after=updated,
                ),
            ]
        )
        return updated

    async def delete_org(self, actor: Actor, org_id: str) -> None:
        """The org and everything of it, in one transaction."""
        org = await org_for(self._store, actor, org_id, write=True)
        webhooks = await self._store.query("webhooks", Query(where(org_id=org_id)))
        ops: list[Op] = [CloseStreams(w["id"]) for w in webhooks]
        ops += [
            DeleteWhere(c, where(org_id=org_id)) for c in COLLECTIONS if c not in ("orgs", "admins")
        ]
        ops.append(Delete("orgs", org_id))
        ops += self._audit.record(actor, org_id=org_id, message=f'Delete Org "{org["name"]}"')
        await self._bus.commit(ops)

    # --- sites -----------------------------------------------------------------------

    async def create_site(self, actor: Actor, org_id: str, body: Mapping[str, Any]) -> Doc:
        await org_for(self._store, actor, org_id, write=True)
        name = _name(body, required=True)
        now = self._clock()
        site: Doc = {
            "id": str(uuid.uuid4()),
            "org_id": org_id,
            "name": name,
            "timezone": "UTC",
            "device_updown_threshold": 0,
            **_site_fields(body),
            "created_time": now,
            "modified_time": now,
        }
        await self._bus.commit(
            [
                Put("sites", site),
                *self._audit.record(
                    actor,
                    org_id=org_id,
                    site_id=site["id"],
                    site_name=name,
                    message=f'Add Site "{name}"',
                    after=site,
                ),
            ]
        )
        return site

    async def list_sites(
        self, actor: Actor, org_id: str, limit: str | None, page: str | None
    ) -> tuple[list[Doc], int, int, int]:
        await org_for(self._store, actor, org_id, org_level=False)
        filters: tuple[Filter, ...] = where(org_id=org_id)
        reachable = site_ids_in(actor, org_id)
        if reachable is not None:
            filters = (*filters, Filter("id", "in", sorted(reachable)))
        return await list_page(self._store, "sites", filters, limit, page)

    async def get_site(self, actor: Actor, site_id: str) -> Doc:
        return await site_for(self._store, actor, site_id)

    async def update_site(self, actor: Actor, site_id: str, body: Mapping[str, Any]) -> Doc:
        site = await site_for(self._store, actor, site_id, write=True)
        name = _name(body, required=False)
        updated = {**site, **_site_fields(body)}
        if name is not None:
            updated["name"] = name
        updated["modified_time"] = self._clock()
        await self._bus.commit(
            [
                Put("sites", updated),
                *self._audit.record(
                    actor,
                    org_id=site["org_id"],
                    site_id=site_id,
                    site_name=updated["name"],
                    message=f'Update Site "{site["name"]}"',
                    before=site,
                    after=updated,
                ),
            ]
        )
        return updated

    async def delete_site(self, actor: Actor, site_id: str) -> None:
        """The site and what belongs to it (its webhooks too), in one transaction."""
        site = await site_for(self._store, actor, site_id, write=True)
        webhooks = await self._store.query("webhooks", Query(where(site_id=site_id)))
        ops: list[Op] = [CloseStreams(w["id"]) for w in webhooks]
        ops += [DeleteWhere(c, where(site_id=site_id)) for c in SITE_OWNED]
        ops.append(Delete("sites", site_id))
        ops += self._audit.record(
            actor,
            org_id=site["org_id"],
            site_id=site_id,
            site_name=site["name"],
            message=f'Delete Site "{site["name"]}"',
        )
        await self._bus.commit(ops)
