"""What route handlers depend on: the App, the authenticated caller, the JSON body,
and Mist's list headers."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import Request, Response

from misthook.app import App
from misthook.domain.privileges import Actor
from misthook.errors import BadRequestError, UnauthorizedError

SESSION_ACTOR_KEY = "misthook.actor"


def get_app(request: Request) -> App:
    app: App = request.app.state.misthook
    return app


def client_ip(request: Request) -> str:
    return request.client.host if request.client else ""


async def get_actor(request: Request) -> Actor:
    """The caller, from ``Authorization: Token <key>`` (or a web UI session, which the
    web layer resolves first); counts the call against the token's hourly budget."""
    preset = request.scope.get(SESSION_ACTOR_KEY)
    if isinstance(preset, Actor):
        return preset
    app = get_app(request)
    header = request.headers.get("authorization", "")
    scheme, _, key = header.partition(" ")
    if scheme.lower() != "token" or not key.strip():
        raise UnauthorizedError()
    actor = await app.identity.authenticate(
        key.strip(),
        src_ip=client_ip(request),
        user_agent=request.headers.get("user-agent", ""),
    )
    app.rate_limiter.hit(actor.token_id or actor.id)
    return actor


async def json_body(request: Request) -> Any:
    """The request's JSON, or a Mist-style 400 saying why it could not be read."""
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise BadRequestError(f"JSON parse error - {exc}") from exc


def page_headers(response: Response, total: int, limit: int, page: int) -> None:
    response.headers["X-Page-Total"] = str(total)
    response.headers["X-Page-Limit"] = str(limit)
    response.headers["X-Page-Page"] = str(page)


def query_params(request: Request) -> dict[str, str | None]:
    return {k: v for k, v in request.query_params.items()}


def ok() -> Response:
    """The answer of DELETE, ping and the like. Mist declares it without content, but its
    own SDK logs an error on an empty body, so answer an empty JSON object."""
    return Response(b"{}", media_type="application/json")
