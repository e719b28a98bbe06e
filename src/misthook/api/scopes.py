"""Webhook routes exist twice, under `/orgs/{org_id}` and `/sites/{site_id}`; this is how a
route module resolves its scope, with the access checks of the webhook service."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from misthook.app import App
from misthook.domain.privileges import Actor
from misthook.services.webhooks import Scope

# (app, caller, the id in the path, whether the call changes something) -> the scope
ScopeOf = Callable[[App, Actor, str, bool], Awaitable[Scope]]


async def org_scope(app: App, actor: Actor, scope_id: str, write: bool) -> Scope:
    return await app.webhooks.org_scope(actor, scope_id, write=write)


async def site_scope(app: App, actor: Actor, scope_id: str, write: bool) -> Scope:
    return await app.webhooks.site_scope(actor, scope_id, write=write)


# path segment, path parameter, resolver
WEBHOOK_SCOPES: tuple[tuple[str, str, ScopeOf], ...] = (
    ("orgs", "org_id", org_scope),
    ("sites", "site_id", site_scope),
)
