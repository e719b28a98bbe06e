"""The device-facing endpoints: a device (or the simulator) reports itself with its MAC
and the per-device secret it got when it was claimed. No API token: the secret is it."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends

from misthook.api.deps import get_app, json_body
from misthook.app import App

router = APIRouter(prefix="/api/v1/agent", tags=["Device agent"])


@router.post("/connect", summary="A device connects: {mac, secret, uptime, version}")
async def connect(body: Any = Depends(json_body), app: App = Depends(get_app)) -> Any:
    return await app.connectivity.heartbeat(body, connect=True)


@router.post("/heartbeat", summary="A device is alive: {mac, secret, uptime, version}")
async def heartbeat(body: Any = Depends(json_body), app: App = Depends(get_app)) -> Any:
    return await app.connectivity.heartbeat(body)


@router.post("/ack", summary="A command's outcome: {mac, secret, command_id, ok, reason?}")
async def ack(body: Any = Depends(json_body), app: App = Depends(get_app)) -> Any:
    return await app.connectivity.ack(body)


@router.post("/report", summary="What a device sees: {mac, secret, kind: rogue|bad_cable|rrm}")
async def report(body: Any = Depends(json_body), app: App = Depends(get_app)) -> Any:
    return await app.connectivity.report(body)
