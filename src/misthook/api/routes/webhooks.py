"""Org and site webhooks: the same routes under `/orgs/{org_id}` and `/sites/{site_id}`."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Depends, Request, Response

from misthook.api.deps import get_actor, get_app, ok, page_headers
from misthook.api.scopes import WEBHOOK_SCOPES, ScopeOf
from misthook.app import App
from misthook.domain.privileges import Actor

router = APIRouter(prefix="/api/v1", tags=["Webhooks"])


def _add_routes(kind: str, param: str, scope_of: ScopeOf) -> None:
    """Register the webhook routes of one scope (`orgs` + org_id, or `sites` + site_id)."""
    base = f"/{kind}/{{{param}}}/webhooks"
    label = "org" if kind == "orgs" else "site"

    async def list_webhooks(
        request: Request,
        response: Response,
        limit: str | None = None,
        page: str | None = None,
        actor: Actor = Depends(get_actor),
        app: App = Depends(get_app),
    ) -> Any:
        scope = await scope_of(app, actor, request.path_params[param], False)
        rows, total, lim, pg = await app.webhooks.list(actor, scope, limit, page)
        page_headers(response, total, lim, pg)
        return rows

    async def create_webhook(
        request: Request,
        body: Any = Body(None),
        actor: Actor = Depends(get_actor),
        app: App = Depends(get_app),
    ) -> Any:
        scope = await scope_of(app, actor, request.path_params[param], True)
        return await app.webhooks.create(actor, scope, body)

    async def get_webhook(
        request: Request,
        webhook_id: str,
        actor: Actor = Depends(get_actor),
        app: App = Depends(get_app),
    ) -> Any:
        scope = await scope_of(app, actor, request.path_params[param], False)
        return await app.webhooks.get(actor, scope, webhook_id)

    async def update_webhook(
        request: Request,
        webhook_id: str,
        body: Any = Body(None),
        actor: Actor = Depends(get_actor),
        app: App = Depends(get_app),
    ) -> Any:
        scope = await scope_of(app, actor, request.path_params[param], True)
        return await app.webhooks.update(actor, scope, webhook_id, body)

    async def delete_webhook(
        request: Request,
        webhook_id: str,
        actor: Actor = Depends(get_actor),
        app: App = Depends(get_app),
    ) -> Response:
        scope = await scope_of(app, actor, request.path_params[param], True)
        await app.webhooks.delete(actor, scope, webhook_id)
        return ok()

    async def ping_webhook(
        request: Request,
        webhook_id: str,
        actor: Actor = Depends(get_actor),
        app: App = Depends(get_app),
    ) -> Response:
        scope = await scope_of(app, actor, request.path_params[param], True)
        await app.webhooks.ping(actor, scope, webhook_id)
        return ok()

    for func, method, path, summary in (
        (list_webhooks, "GET", base, f"List {label} webhooks"),
        (create_webhook, "POST", base, f"Create a {label} webhook (200 with the object)"),
        (get_webhook, "GET", base + "/{webhook_id}", f"Get a {label} webhook"),
        (update_webhook, "PUT", base + "/{webhook_id}", f"Update a {label} webhook"),
        (delete_webhook, "DELETE", base + "/{webhook_id}", f"Delete a {label} webhook"),
        (ping_webhook, "POST", base + "/{webhook_id}/ping", f"Send a ping to a {label} webhook"),
    ):
        # the path parameter must be declared for the OpenAPI document
        router.add_api_route(
            path,
            func,
            methods=[method],
            summary=summary,
            operation_id=f"{func.__name__}_{label}",
        )


for _kind, _param, _scope_of in WEBHOOK_SCOPES:
    _add_routes(_kind, _param, _scope_of)
