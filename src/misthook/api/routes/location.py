"""The location ingest: batches of client and asset positions, raw asset RSSI readings
and client association reports of a site."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends

from misthook.api.deps import get_actor, get_app, json_body
from misthook.app import App
from misthook.domain.privileges import Actor

router = APIRouter(prefix="/api/v1/sites/{site_id}", tags=["Location"])


@router.post(
    "/location/ingest",
    summary="Ingest a batch of positions, RSSI readings and client associations",
    description='Body: {"positions": [{kind: wifi|sdk|asset|unconnected, mac | id, map_id, x, '
    'y, name?, timestamp?}], "rssi": [{mac, ap, map_id, rssi, beam?}], "associations": '
    "[{event: join|leave, mac, ap, ssid, band?, rssi?, termination_reason?, next_ap?}]}. "
    "Published in one commit; the answer counts the events per topic.",
)
async def ingest(
    site_id: str,
    body: Any = Depends(json_body),
    actor: Actor = Depends(get_actor),
    app: App = Depends(get_app),
) -> Any:
    return await app.location.ingest(actor, site_id, body)
