"""Request bins: `/api/v1/bins` to manage them (any signed-in caller), and the capture URL
`/bins/{bin_id}[/...]` that accepts any method without auth, as RequestBin does."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Depends, Request, Response

from misthook.api.deps import client_ip, get_actor, get_app, ok
from misthook.app import App
from misthook.domain.privileges import Actor
from misthook.errors import BadRequestError
from misthook.services.bins import BODY_MAX_BYTES, capture_path

router = APIRouter(tags=["Request Bins"])

CAPTURE_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]


def bin_view(request: Request, doc: dict[str, Any]) -> dict[str, Any]:
    """The bin with its absolute capture URL, as the caller reaches this server."""
    base = str(request.base_url).rstrip("/")
    return {**doc, "url": base + capture_path(doc["id"])}


@router.post("/api/v1/bins", summary="Create a request bin")
async def create_bin(
    request: Request,
    body: Any = Body(None),
    actor: Actor = Depends(get_actor),
    app: App = Depends(get_app),
) -> Any:
    name = body.get("name", "") if isinstance(body, dict) else ""
    if not isinstance(name, str):
        raise BadRequestError("invalid field: name", reason="name must be a string")
    return bin_view(request, await app.bins.create(actor, name))


@router.get("/api/v1/bins", summary="List my request bins")
async def list_bins(
    request: Request, actor: Actor = Depends(get_actor), app: App = Depends(get_app)
) -> Any:
    return [bin_view(request, b) for b in await app.bins.list_for(actor)]


@router.get("/api/v1/bins/{bin_id}", summary="Get a request bin")
async def get_bin(
    request: Request, bin_id: str, actor: Actor = Depends(get_actor), app: App = Depends(get_app)
) -> Any:
    return bin_view(request, await app.bins.get(bin_id))


@router.delete("/api/v1/bins/{bin_id}", summary="Delete a request bin and what it caught")
async def delete_bin(
    bin_id: str, actor: Actor = Depends(get_actor), app: App = Depends(get_app)
) -> Response:
    await app.bins.delete(bin_id)
    return ok()


@router.get("/api/v1/bins/{bin_id}/requests", summary="What a bin caught, newest first")
async def list_bin_requests(
    bin_id: str,
    limit: int = 0,
    actor: Actor = Depends(get_actor),
    app: App = Depends(get_app),
) -> Any:
    return await app.bins.requests(bin_id, limit=max(0, limit))


@router.delete("/api/v1/bins/{bin_id}/requests", summary="Clear a bin")
async def clear_bin(
    bin_id: str, actor: Actor = Depends(get_actor), app: App = Depends(get_app)
) -> Response:
    await app.bins.clear(bin_id)
    return ok()


@router.post(
    "/api/v1/bins/{bin_id}/requests/{request_id}/verify",
    summary="Check a caught request's X-Mist-Signature(-v2) against a secret",
)
async def verify_bin_request(
    bin_id: str,
    request_id: str,
    body: Any = Body(None),
    actor: Actor = Depends(get_actor),
    app: App = Depends(get_app),
) -> Any:
    secret = body.get("secret") if isinstance(body, dict) else None
    if not isinstance(secret, str):
        raise BadRequestError("invalid field: secret", reason="secret must be a string")
    return await app.bins.verify(bin_id, request_id, secret)


async def _read_capped(request: Request) -> tuple[bytes, int]:
    chunks: list[bytes] = []
    kept = size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if kept < BODY_MAX_BYTES:
            part = chunk[: BODY_MAX_BYTES - kept]
            chunks.append(part)
            kept += len(part)
    return b"".join(chunks), size


async def capture(request: Request, app: App = Depends(get_app)) -> Response:
    bin_id = request.path_params["bin_id"]
    body, size = await _read_capped(request)
    await app.bins.capture(
        bin_id,
        method=request.method,
        path=request.url.path,
        query=request.url.query,
        headers=list(request.headers.items()),
        body=body,
        size=size,
        src_ip=client_ip(request),
    )
    return Response(b"ok", media_type="text/plain")


for _path in ("/bins/{bin_id}", "/bins/{bin_id}/{rest:path}"):
    for _method in CAPTURE_METHODS:  # a route per method: each its own operation id
        router.add_api_route(
            _path,
            capture,
            methods=[_method],
            summary="A bin's capture URL (and any path below it): no auth; answers 200",
            # one documented path; the sub-path twin behaves the same
            include_in_schema="rest" not in _path,
        )
