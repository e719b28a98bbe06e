"""Org and site webhooks: CRUD, ping, and disabling by the delivery engine.

A stream (one webhook x one topic) exists exactly while the webhook is enabled and has
the topic; it opens at the newest event, so a webhook never receives history. Every
webhook also has a private ``ping:<id>`` stream, so a ping reaches only its webhook.

Secrets are stored as given (they key the signatures) and returned to roles that may
manage the webhook, as Mist does; read-only roles get them masked.
"""

from __future__ import annotations

import dataclasses
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Literal

from misthook.bus import Bus
from misthook.domain.privileges import Actor, can_write, org_role, site_role
from misthook.domain.topics import PING_STREAM_PREFIX
from misthook.domain.webhook_rules import USER_FIELDS, redact, validate_webhook
from misthook.errors import BadRequestError, ForbiddenError, NotFoundError
from misthook.services.access import org_for, site_for
from misthook.services.audit import AuditLog
from misthook.services.search import list_page
from misthook.store.base import (
    CloseStreams,
    Delete,
    Doc,
    Op,
    OpenStream,
    Put,
    Store,
    where,
)

NULL_UUID = "00000000-0000-0000-0000-000000000000"
SYSTEM_ACTOR = Actor(kind="admin", id="", name="misthook", privileges=(), superuser=True)

# Given a URL, a reason deliveries to it would be refused, or None (the egress guard).
DestinationCheck = Callable[[str], Awaitable[str | None]]


def ping_topic(webhook_id: str) -> str:
    return PING_STREAM_PREFIX + webhook_id


@dataclasses.dataclass(frozen=True, slots=True)
class Scope:
    """Where a webhook lives: an org, or one site of it."""

    kind: Literal["org", "site"]
    org_id: str
    site_id: str | None = None
    site_name: str | None = None


def stream_ops(webhook: Mapping[str, Any]) -> list[Op]:
    """The streams an (enabled) webhook needs, opened; the others closed."""
    enabled = webhook.get("enabled", True)
    keep = (*webhook["topics"], ping_topic(webhook["id"])) if enabled else ()
    ops: list[Op] = [CloseStreams(webhook["id"], keep_topics=keep)]
    ops += [OpenStream(webhook["id"], t, webhook["org_id"], webhook.get("site_id")) for t in keep]
    return ops


class Webhooks:
    def __init__(
        self,
        store: Store,
        bus: Bus,
        audit: AuditLog,
        check_destination: DestinationCheck,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._bus = bus
        self._audit = audit
        self._check_destination = check_destination
        self._clock = clock

    # --- scope and access --------------------------------------------------------------

    async def org_scope(self, actor: Actor, org_id: str, *, write: bool = False) -> Scope:
        await org_for(self._store, actor, org_id, write=write)
        return Scope("org", org_id)

    async def site_scope(self, actor: Actor, site_id: str, *, write: bool = False) -> Scope:
        site = await site_for(self._store, actor, site_id, write=write)
        return Scope("site", site["org_id"], site_id, site["name"])

    def _may_manage(self, actor: Actor, scope: Scope) -> bool:
        if scope.site_id is None:
            return can_write(org_role(actor, scope.org_id))
        return can_write(site_role(actor, scope.org_id, scope.site_id))

    def view(self, actor: Actor, scope: Scope, webhook: Doc) -> dict[str, Any]:
        """The webhook as this actor may see it."""
        return dict(webhook) if self._may_manage(actor, scope) else redact(webhook)

    async def _get(self, scope: Scope, webhook_id: str) -> Doc:
        webhook = await self._store.get("webhooks", webhook_id)
        if (
            webhook is None
            or webhook["org_id"] != scope.org_id
            or webhook.get("site_id") != scope.site_id
        ):
            raise NotFoundError()
        return webhook

    async def _vet_url(self, url: str) -> None:
        reason = await self._check_destination(url)
        if reason is not None:
            raise BadRequestError("invalid field: url", reason=reason)

    # --- CRUD ----------------------------------------------------------------------------

    async def list(
        self, actor: Actor, scope: Scope, limit: str | None, page: str | None
    ) -> tuple[list[dict[str, Any]], int, int, int]:
        filters = where(org_id=scope.org_id, site_id=scope.site_id)
        rows, total, lim, pg = await list_page(self._store, "webhooks", filters, limit, page)
        return [self.view(actor, scope, w) for w in rows], total, lim, pg

    async def get(self, actor: Actor, scope: Scope, webhook_id: str) -> dict[str, Any]:
        return self.view(actor, scope, await self._get(scope, webhook_id))

    async def create(self, actor: Actor, scope: Scope, body: object) -> Doc:
        fields = validate_webhook(body, scope=scope.kind)
        await self._vet_url(fields["url"])
        now = self._clock()
        webhook: Doc = {
            "id": str(uuid.uuid4()),
            **fields,
            "org_id": scope.org_id,
            "for_site": scope.kind == "site",
            "created_time": now,
            "modified_time": now,
        }
        if scope.site_id is not None:
            webhook["site_id"] = scope.site_id
        ops: list[Op] = [Put("webhooks", webhook), *stream_ops(webhook)]
        ops += self._audit.record(
            actor,
            org_id=scope.org_id,
            site_id=scope.site_id,
            site_name=scope.site_name,
            message=f'Add Webhook "{webhook["name"]}"',
            after=webhook,
        )
        await self._bus.commit(ops)
        return webhook

    async def update(self, actor: Actor, scope: Scope, webhook_id: str, body: object) -> Doc:
        current = await self._get(scope, webhook_id)
        fields = validate_webhook(body, scope=scope.kind, current=current)
        if fields["url"] != current["url"]:
            await self._vet_url(fields["url"])
        # the user fields are replaced as a whole: fields of another type do not linger
        kept = {k: v for k, v in current.items() if k not in USER_FIELDS}
        updated: Doc = {**kept, **fields, "modified_time": self._clock()}
        if fields.get("enabled"):
            updated.pop("disabled_reason", None)
        ops: list[Op] = [Put("webhooks", updated), *stream_ops(updated)]
        ops += self._audit.record(
            actor,
            org_id=scope.org_id,
            site_id=scope.site_id,
            site_name=scope.site_name,
            message=f'Update Webhook "{current["name"]}"',
            before=current,
            after=updated,
        )
        await self._bus.commit(ops)
        return updated

    async def delete(self, actor: Actor, scope: Scope, webhook_id: str) -> None:
        webhook = await self._get(scope, webhook_id)
        ops: list[Op] = [Delete("webhooks", webhook_id), CloseStreams(webhook_id)]
        ops += self._audit.record(
            actor,
            org_id=scope.org_id,
            site_id=scope.site_id,
            site_name=scope.site_name,
            message=f'Delete Webhook "{webhook["name"]}"',
            before=webhook,
        )
        await self._bus.commit(ops)

    async def ping(self, actor: Actor, scope: Scope, webhook_id: str) -> str:
        """Send the ping event to this webhook only; returns the event id."""
        if not self._may_manage(actor, scope):
            raise ForbiddenError()
        webhook = await self._get(scope, webhook_id)
        event = {
            "id": webhook_id,
            "name": "webhook event delivery test",
            "site_id": scope.site_id or NULL_UUID,
            "timestamp": self._clock(),
        }
        op = self._bus.prepare(webhook["org_id"], scope.site_id, ping_topic(webhook_id), [event])
        # the event's id is the webhook's (as Mist's ping); make the log id unique
        op = dataclasses.replace(
            op, events=[dataclasses.replace(e, id=str(uuid.uuid4())) for e in op.events]
        )
        await self._bus.commit([op])
        return op.events[0].id

    async def disable(self, webhook_id: str, reason: str) -> None:
        """Called by the delivery engine (410 Gone, or failing for too long)."""
        webhook = await self._store.get("webhooks", webhook_id)
        if webhook is None or not webhook.get("enabled", True):
            return
        updated: Doc = {
            **webhook,
            "enabled": False,
            "disabled_reason": reason,
            "modified_time": self._clock(),
        }
        site_id = webhook.get("site_id")
        site = await self._store.get("sites", site_id) if site_id else None
        ops: list[Op] = [Put("webhooks", updated), *stream_ops(updated)]
        ops += self._audit.record(
            SYSTEM_ACTOR,
            org_id=webhook["org_id"],
            site_id=site_id,
            site_name=site["name"] if site else None,
            message=f'Disable Webhook "{webhook["name"]}": {reason}',
            before=webhook,
            after=updated,
        )
        await self._bus.commit(ops)
