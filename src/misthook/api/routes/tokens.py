"""Org API tokens (`/api/v1/orgs/{org_id}/apitokens`)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Depends, Response

from misthook.api.deps import get_actor, get_app, ok, page_headers
from misthook.api.routes.orgs import _object
from misthook.app import App
from misthook.domain.privileges import Actor
from misthook.services.identity import public_token

router = APIRouter(prefix="/api/v1/orgs/{org_id}/apitokens", tags=["Org API Tokens"])


@router.get("", summary="List the org's API tokens")
async def list_org_tokens(
    org_id: str,
    response: Response,
    limit: str | None = None,
    page: str | None = None,
    actor: Actor = Depends(get_actor),
    app: App = Depends(get_app),
) -> Any:
    rows, total, lim, pg = await app.identity.list_org_tokens(actor, org_id, limit, page)
    page_headers(response, total, lim, pg)
    return rows


@router.post("", summary="Create an org API token; the answer carries its key, once")
async def create_org_token(
    org_id: str,
    body: Any = Body(None),
    actor: Actor = Depends(get_actor),
    app: App = Depends(get_app),
) -> Any:
    return await app.identity.create_org_token(actor, org_id, _object(body))


@router.get("/{apitoken_id}", summary="Get an org API token")
async def get_org_token(
    org_id: str,
    apitoken_id: str,
    actor: Actor = Depends(get_actor),
    app: App = Depends(get_app),
) -> Any:
    return public_token(await app.identity.get_org_token(actor, org_id, apitoken_id))


@router.put("/{apitoken_id}", summary="Update an org API token's name or privileges")
async def update_org_token(
    org_id: str,
    apitoken_id: str,
    body: Any = Body(None),
    actor: Actor = Depends(get_actor),
    app: App = Depends(get_app),
) -> Any:
    return await app.identity.update_org_token(actor, org_id, apitoken_id, _object(body))


@router.delete("/{apitoken_id}", summary="Delete an org API token")
async def delete_org_token(
    org_id: str,
    apitoken_id: str,
    actor: Actor = Depends(get_actor),
    app: App = Depends(get_app),
) -> Response:
    await app.identity.delete_org_token(actor, org_id, apitoken_id)
    return ok()
