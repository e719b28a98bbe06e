"""The ASGI application: the Mist REST API under /api/v1 and the web UI at /."""

from __future__ import annotations

import contextlib
import importlib
from collections.abc import AsyncIterator

from fastapi import FastAPI

from misthook import __version__, web
from misthook.api import errors
from misthook.api.responses import OrjsonResponse
from misthook.app import App

# Route modules under misthook.api.routes, each with a `router`.
ROUTE_MODULES = (
    "health",
    "self",
    "orgs",
    "tokens",
    "webhooks",
    "logs",
    "const",
    "deliveries",
    "events",
    "bins",
    "inventory",
    "device_events",
    "devices",
    "device_agent",
    "alarms",
    "maps",
    "location",
)


def create_asgi(app: App, *, workers: bool = False) -> FastAPI:
    """The FastAPI application over ``app``; its lifespan opens and closes ``app``."""

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        async with app.running(workers=workers):
            yield

    api = FastAPI(
        title="misthook",
        version=__version__,
        description="Self-hosted, Mist-compatible webhooks: the Mist REST API for webhooks "
        "and their event sources.",
        default_response_class=OrjsonResponse,
        lifespan=lifespan,
        openapi_url="/api/v1/docs/openapi.json",
        docs_url="/api/v1/docs",
        redoc_url=None,
    )
    api.state.misthook = app
    errors.install(api)
    for name in ROUTE_MODULES:
        module = importlib.import_module(f"misthook.api.routes.{name}")
        api.include_router(module.router)
    web.install(api, app)
    return api
