"""The single mapping from misthook's errors to HTTP answers in Mist's shape."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from misthook.api.responses import OrjsonResponse
from misthook.errors import ApiError, StoreError

log = logging.getLogger("misthook.api")


def install(api: FastAPI) -> None:
    @api.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> OrjsonResponse:
        return OrjsonResponse(exc.body(), status_code=exc.status_code, headers=exc.headers())

    @api.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> OrjsonResponse:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
        detail = f"invalid field: {where}" if where else "invalid request"
        return OrjsonResponse(
            {"detail": detail, "reason": str(first.get("msg", ""))}, status_code=400
        )

    @api.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> OrjsonResponse:
        detail = "Not found." if exc.status_code == 404 else str(exc.detail)
        return OrjsonResponse({"detail": detail}, status_code=exc.status_code)

    @api.exception_handler(StoreError)
    async def _store(request: Request, exc: StoreError) -> OrjsonResponse:
        log.error("store error: %s", exc)
        return OrjsonResponse(
            {"detail": "The database is unavailable; try again shortly."}, status_code=503
        )
