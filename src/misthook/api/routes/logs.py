"""Organization > Audit Logs."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request

from misthook.api.deps import get_actor, get_app, query_params
from misthook.app import App
from misthook.domain.privileges import Actor
from misthook.services.access import org_for

router = APIRouter(prefix="/api/v1/orgs/{org_id}/logs", tags=["Audit Logs"])

_PARAMS_DOC = (
    "Filters: site_id, admin_name, message (substrings), start, end, duration, sort "
    "(timestamp, -timestamp, admin_id, site_id), limit, page."
)


async def _search(org_id: str, request: Request, actor: Actor, app: App) -> Any:
    await org_for(app.store, actor, org_id)
    return await app.audit.search(org_id, query_params(request), request.url.path)


@router.get("", summary="List the org's audit logs", description=_PARAMS_DOC)
async def list_logs(
    org_id: str, request: Request, actor: Actor = Depends(get_actor), app: App = Depends(get_app)
) -> Any:
    return await _search(org_id, request, actor, app)


@router.get("/search", summary="Search the org's audit logs", description=_PARAMS_DOC)
async def search_logs(
    org_id: str, request: Request, actor: Actor = Depends(get_actor), app: App = Depends(get_app)
) -> Any:
    return await _search(org_id, request, actor, app)


@router.get("/count", summary="Count audit logs by a distinct field")
async def count_logs(
    org_id: str, request: Request, actor: Actor = Depends(get_actor), app: App = Depends(get_app)
) -> Any:
    await org_for(app.store, actor, org_id)
    return await app.audit.count(org_id, query_params(request))
