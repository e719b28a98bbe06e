"""Orgs and sites."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Depends, Response

from misthook.api.deps import get_actor, get_app, ok, page_headers
from misthook.app import App
from misthook.domain.privileges import Actor
from misthook.errors import BadRequestError

router = APIRouter(prefix="/api/v1", tags=["Orgs", "Sites"])


def _object(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise BadRequestError("JSON object expected")
    return body


@router.post("/orgs", summary="Create an org; its creator becomes its admin")
async def create_org(
    body: Any = Body(None), actor: Actor = Depends(get_actor), app: App = Depends(get_app)
) -> Any:
    return await app.orgs.create_org(actor, _object(body))


@router.get("/orgs", summary="List the orgs I can reach")
async def list_orgs(actor: Actor = Depends(get_actor), app: App = Depends(get_app)) -> Any:
    return await app.orgs.list_orgs(actor)


@router.get("/orgs/{org_id}", summary="Get an org")
async def get_org(
    org_id: str, actor: Actor = Depends(get_actor), app: App = Depends(get_app)
) -> Any:
    return await app.orgs.get_org(actor, org_id)


@router.put("/orgs/{org_id}", summary="Update an org")
async def update_org(
    org_id: str,
    body: Any = Body(None),
    actor: Actor = Depends(get_actor),
    app: App = Depends(get_app),
) -> Any:
    return await app.orgs.update_org(actor, org_id, _object(body))


@router.delete("/orgs/{org_id}", summary="Delete an org and everything in it")
async def delete_org(
    org_id: str, actor: Actor = Depends(get_actor), app: App = Depends(get_app)
) -> Response:
    await app.orgs.delete_org(actor, org_id)
    return ok()


@router.get("/orgs/{org_id}/sites", summary="List the sites of an org")
async def list_sites(
    org_id: str,
    response: Response,
    limit: str | None = None,
    page: str | None = None,
    actor: Actor = Depends(get_actor),
    app: App = Depends(get_app),
) -> Any:
    rows, total, lim, pg = await app.orgs.list_sites(actor, org_id, limit, page)
    page_headers(response, total, lim, pg)
    return rows


@router.post("/orgs/{org_id}/sites", summary="Create a site")
async def create_site(
    org_id: str,
    body: Any = Body(None),
    actor: Actor = Depends(get_actor),
    app: App = Depends(get_app),
) -> Any:
    return await app.orgs.create_site(actor, org_id, _object(body))


@router.get("/sites/{site_id}", summary="Get a site")
async def get_site(
    site_id: str, actor: Actor = Depends(get_actor), app: App = Depends(get_app)
) -> Any:
    return await app.orgs.get_site(actor, site_id)


@router.put("/sites/{site_id}", summary="Update a site")
async def update_site(
    site_id: str,
    body: Any = Body(None),
    actor: Actor = Depends(get_actor),
    app: App = Depends(get_app),
) -> Any:
    return await app.orgs.update_site(actor, site_id, _object(body))


@router.delete("/sites/{site_id}", summary="Delete a site and what belongs to it")
async def delete_site(
    site_id: str, actor: Actor = Depends(get_actor), app: App = Depends(get_app)
) -> Response:
    await app.orgs.delete_site(actor, site_id)
    return ok()
