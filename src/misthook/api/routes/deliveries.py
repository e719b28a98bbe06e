"""Delivery logs of a webhook: search, count, resend one message, recover parked ones,
and (a misthook extra) the delivery state of its streams.

Same routes under ``/orgs/{org_id}`` and ``/sites/{site_id}``. Reading needs any role on
the scope; resend and recover need write or admin.

``GET .../webhooks/{id}/status``: ``{webhook_id, enabled, disabled_reason, streams}``, one
stream per topic (and ``ping``) with ``cursor, lag, lag_capped, attempt, next_attempt_at,
failing_since, behind_retention`` (see ``Deliveries.stream_status``); a disabled webhook
has no streams.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request

from misthook.api.deps import get_actor, get_app, json_body, query_params
from misthook.api.scopes import WEBHOOK_SCOPES, ScopeOf
from misthook.app import App
from misthook.domain.privileges import Actor
from misthook.errors import BadRequestError

router = APIRouter(prefix="/api/v1", tags=["Webhooks"])


def _add_routes(kind: str, param: str, scope_of: ScopeOf) -> None:
    base = f"/{kind}/{{{param}}}/webhooks/{{webhook_id}}"
    label = "org" if kind == "orgs" else "site"

    async def webhook_of(request: Request, app: App, actor: Actor, write: bool) -> Any:
        scope = await scope_of(app, actor, request.path_params[param], write)
        # 404 unless the webhook belongs to this scope; full document for writers
        return await app.webhooks.get(actor, scope, request.path_params["webhook_id"])

    async def search_deliveries(
        request: Request,
        webhook_id: str,
        actor: Actor = Depends(get_actor),
        app: App = Depends(get_app),
    ) -> Any:
        webhook = await webhook_of(request, app, actor, False)
        return await app.deliveries.search(webhook["id"], query_params(request), request.url.path)

    async def count_deliveries(
        request: Request,
        webhook_id: str,
        actor: Actor = Depends(get_actor),
        app: App = Depends(get_app),
    ) -> Any:
        webhook = await webhook_of(request, app, actor, False)
        return await app.deliveries.count(webhook["id"], query_params(request))

    async def resend_delivery(
        request: Request,
        webhook_id: str,
        delivery_id: str,
        actor: Actor = Depends(get_actor),
        app: App = Depends(get_app),
    ) -> Any:
        webhook = await webhook_of(request, app, actor, True)
        return await app.deliveries.resend(webhook, delivery_id)

    async def recover_deliveries(
        request: Request,
        webhook_id: str,
        body: Any = Depends(json_body),
        actor: Actor = Depends(get_actor),
        app: App = Depends(get_app),
    ) -> Any:
        webhook = await webhook_of(request, app, actor, True)
        if not isinstance(body, dict) or "since" not in body:
            raise BadRequestError("invalid field: since", reason='expected {"since": <epoch>}')
        return await app.deliveries.recover(webhook, body["since"])

    async def webhook_status(
        request: Request,
        webhook_id: str,
        actor: Actor = Depends(get_actor),
        app: App = Depends(get_app),
    ) -> Any:
        webhook = await webhook_of(request, app, actor, False)
        streams = await app.deliveries.stream_status(webhook["id"])
        return {
            "webhook_id": webhook["id"],
            "enabled": webhook.get("enabled", True),
            "disabled_reason": webhook.get("disabled_reason"),
            "streams": sorted(streams, key=lambda s: str(s["topic"])),
        }

    for func, method, path, summary in (
        (
            webhook_status,
            "GET",
            base + "/status",
            f"Delivery state of a {label} webhook per topic (misthook extra)",
        ),
        (search_deliveries, "GET", base + "/events/search", f"Search {label} webhook deliveries"),
        (count_deliveries, "GET", base + "/events/count", f"Count {label} webhook deliveries"),
        (
            resend_delivery,
            "POST",
            base + "/events/{delivery_id}/resend",
            f"Send the message of one {label} webhook delivery again",
        ),
        (
            recover_deliveries,
            "POST",
            base + "/recover",
            f"Send again the parked messages of a {label} webhook since a time",
        ),
    ):
        router.add_api_route(
            path, func, methods=[method], summary=summary, operation_id=f"{func.__name__}_{label}"
        )


for _kind, _param, _scope_of in WEBHOOK_SCOPES:
    _add_routes(_kind, _param, _scope_of)
