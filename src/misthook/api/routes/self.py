"""`/api/v1/self`: who am I, and my user tokens."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Depends, Response

from misthook.api.deps import get_actor, get_app, ok
from misthook.app import App
from misthook.domain.privileges import Actor
from misthook.errors import BadRequestError, ForbiddenError

router = APIRouter(prefix="/api/v1/self", tags=["Self"])


@router.get("", summary="Who the token belongs to, with its privileges")
async def get_self(actor: Actor = Depends(get_actor), app: App = Depends(get_app)) -> Any:
    return await app.identity.self_view(actor)


@router.get("/apitokens", summary="List my API tokens (keys are never shown again)")
async def list_apitokens(actor: Actor = Depends(get_actor), app: App = Depends(get_app)) -> Any:
    return await app.identity.list_user_tokens(actor)


@router.post("/apitokens", summary="Create an API token; the answer carries its key, once")
async def create_apitoken(
    body: Any = Body(None), actor: Actor = Depends(get_actor), app: App = Depends(get_app)
) -> Any:
    if actor.kind != "admin":
        raise ForbiddenError("Org tokens cannot create user tokens.")
    name = (body or {}).get("name", "") if isinstance(body, dict) else ""
    if not isinstance(name, str):
        raise BadRequestError("invalid field: name", reason="name must be a string")
    return await app.identity.create_user_token(actor.id, name)


@router.delete("/apitokens/{apitoken_id}", summary="Delete one of my API tokens")
async def delete_apitoken(
    apitoken_id: str, actor: Actor = Depends(get_actor), app: App = Depends(get_app)
) -> Response:
    await app.identity.delete_user_token(actor, apitoken_id)
    return ok()
