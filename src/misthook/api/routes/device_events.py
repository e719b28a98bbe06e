"""Search and count device events, per site and per org."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request

from misthook.api.deps import get_actor, get_app, query_params
from misthook.app import App
from misthook.domain.privileges import Actor
from misthook.services.access import org_for, site_for

router = APIRouter(prefix="/api/v1", tags=["Devices"])

_SEARCH_DOC = (
    "Filters: mac, model, text (substring), type (comma-separated), device_type (org: all, "
    "ap (default), switch, gateway), last_by, start, end, duration, sort, limit, page."
)


@router.get(
    "/sites/{site_id}/devices/events/search",
    summary="Search the site's device events",
    description=_SEARCH_DOC,
)
async def search_site(
    site_id: str, request: Request, actor: Actor = Depends(get_actor), app: App = Depends(get_app)
) -> Any:
    await site_for(app.store, actor, site_id)
    return await app.device_events.search(
        ("site_id", site_id), query_params(request), request.url.path, org=False
    )


@router.get("/sites/{site_id}/devices/events/count", summary="Count the site's device events")
async def count_site(
    site_id: str, request: Request, actor: Actor = Depends(get_actor), app: App = Depends(get_app)
) -> Any:
    await site_for(app.store, actor, site_id)
    return await app.device_events.count(("site_id", site_id), query_params(request), org=False)


@router.get(
    "/orgs/{org_id}/devices/events/search",
    summary="Search the org's device events",
    description=_SEARCH_DOC,
)
async def search_org(
    org_id: str, request: Request, actor: Actor = Depends(get_actor), app: App = Depends(get_app)
) -> Any:
    await org_for(app.store, actor, org_id)
    return await app.device_events.search(
        ("org_id", org_id), query_params(request), request.url.path, org=True
    )


@router.get("/orgs/{org_id}/devices/events/count", summary="Count the org's device events")
async def count_org(
    org_id: str, request: Request, actor: Actor = Depends(get_actor), app: App = Depends(get_app)
) -> Any:
    await org_for(app.store, actor, org_id)
    return await app.device_events.count(("org_id", org_id), query_params(request), org=True)
