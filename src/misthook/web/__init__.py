"""The web UI: server-rendered pages over the same services as the API.

``install(api, app)`` adds the pages, the sign-in and the static assets (hand-written
CSS and JS under ``static/``; nothing from a CDN).
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from misthook.app import App
from misthook.web import auth, bins, events, pages
from misthook.web.core import HERE
from misthook.web.session import SessionKey


def install(api: FastAPI, app: App) -> None:
    api.state.misthook_web_key = SessionKey(app.store)
    api.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")
    for router in (auth.router, bins.router, events.router, pages.router):
        api.include_router(router)
