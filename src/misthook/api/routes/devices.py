"""The devices of a site: list, get, configure, restart, upgrade."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request, Response

from misthook.api.deps import get_actor, get_app, json_body, page_headers, query_params
from misthook.app import App
from misthook.domain.privileges import Actor

router = APIRouter(prefix="/api/v1/sites/{site_id}/devices", tags=["Devices"])


@router.get("", summary="List the site's devices (type: ap (default), switch, gateway, all)")
async def list_devices(
    site_id: str,
    request: Request,
    response: Response,
    actor: Actor = Depends(get_actor),
    app: App = Depends(get_app),
) -> Any:
    rows, total, limit, page = await app.devices.list_site(actor, site_id, query_params(request))
    page_headers(response, total, limit, page)
    return rows


@router.get("/{device_id}", summary="Get a device")
async def get_device(
    site_id: str, device_id: str, actor: Actor = Depends(get_actor), app: App = Depends(get_app)
) -> Any:
    return await app.devices.get(actor, site_id, device_id)


@router.put("/{device_id}", summary="Change a device's name and config (sent to the device)")
async def update_device(
    site_id: str,
    device_id: str,
    body: Any = Depends(json_body),
    actor: Actor = Depends(get_actor),
    app: App = Depends(get_app),
) -> Any:
    return await app.devices.update(actor, site_id, device_id, body)


@router.post("/{device_id}/restart", summary="Restart a device")
async def restart_device(
    site_id: str, device_id: str, actor: Actor = Depends(get_actor), app: App = Depends(get_app)
) -> Any:
    return await app.devices.restart(actor, site_id, device_id)


@router.post("/{device_id}/upgrade", summary="Upgrade a device's firmware ({version, start_time?})")
async def upgrade_device(
    site_id: str,
    device_id: str,
    body: Any = Depends(json_body),
    actor: Actor = Depends(get_actor),
    app: App = Depends(get_app),
) -> Any:
    return await app.devices.upgrade(actor, site_id, device_id, body)
