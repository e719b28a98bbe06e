"""The org inventory: claim, list, assign / unassign, release."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request, Response

from misthook.api.deps import get_actor, get_app, json_body, page_headers, query_params
from misthook.app import App
from misthook.domain.privileges import Actor
from misthook.errors import BadRequestError

router = APIRouter(prefix="/api/v1/orgs/{org_id}/inventory", tags=["Inventory"])


@router.post("", summary="Claim devices by claim code or by {mac, model, serial, type}")
async def claim(
    org_id: str,
    body: Any = Depends(json_body),
    actor: Actor = Depends(get_actor),
    app: App = Depends(get_app),
) -> Any:
    return await app.devices.claim(actor, org_id, body)


@router.get("", summary="List the org's inventory (type, mac, serial, model, site_id, unassigned)")
async def list_inventory(
    org_id: str,
    request: Request,
    response: Response,
    actor: Actor = Depends(get_actor),
    app: App = Depends(get_app),
) -> Any:
    rows, total, limit, page = await app.devices.list_inventory(
        actor, org_id, query_params(request)
    )
    page_headers(response, total, limit, page)
    return rows


@router.put("", summary="Assign devices to a site, unassign them, or release them (op)")
async def update_inventory(
    org_id: str,
    body: Any = Depends(json_body),
    actor: Actor = Depends(get_actor),
    app: App = Depends(get_app),
) -> Any:
    return await app.devices.update_inventory(actor, org_id, body)


@router.delete("", summary="Release devices from the org ({macs} body or ?macs=a,b)")
async def release(
    org_id: str,
    request: Request,
    body: Any = Depends(json_body),
    actor: Actor = Depends(get_actor),
    app: App = Depends(get_app),
) -> Any:
    macs = body.get("macs") if isinstance(body, dict) else None
    if macs is None and request.query_params.get("macs"):
        macs = [m for m in request.query_params["macs"].split(",") if m]
    if not isinstance(macs, list) or not macs:
        raise BadRequestError("invalid field: macs", reason="a list of device MACs")
    return await app.devices.update_inventory(actor, org_id, {"op": "delete", "macs": macs})
