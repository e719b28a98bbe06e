"""``/healthz``: whether this process serves and reaches its database, for load balancers
and orchestrators (misthook's own; Mist has none). No token: it tells nothing but that."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from fastapi import APIRouter, Depends

from misthook import __version__
from misthook.api.deps import get_app
from misthook.api.responses import OrjsonResponse
from misthook.app import App
from misthook.errors import StoreError
from misthook.outage import OutageLog

router = APIRouter(tags=["Health"])
log = logging.getLogger(__name__)
# A check every few seconds through an outage: one line when it starts, one at its end.
_OUTAGE = OutageLog(log, "the health check's database query")

# Longest wait for the database's answer: a check that hangs is a failed check.
HEALTH_TIMEOUT_S = 2.0


@router.get(
    "/healthz",
    summary="200 while this process serves and its database answers, 503 otherwise",
)
async def healthz(app: App = Depends(get_app)) -> Any:
    try:
        schema = await asyncio.wait_for(app.store.schema_version(), HEALTH_TIMEOUT_S)
    except (StoreError, TimeoutError) as exc:
        # The reason goes to the log, not to a caller with no token.
        _OUTAGE.failed(exc if str(exc) else TimeoutError(f"no answer in {HEALTH_TIMEOUT_S:g} s"))
        return OrjsonResponse(
            {"status": "unavailable", "detail": "the database does not answer: see the log"},
            status_code=503,
        )
    _OUTAGE.worked()
    return {"status": "ok", "version": __version__, "schema_version": schema}
