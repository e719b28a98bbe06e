"""The OpenAPI document describes every API route the server answers."""

from __future__ import annotations

import importlib
import warnings

from fastapi.exceptions import FastAPIDeprecationWarning
from fastapi.routing import APIRoute

from misthook.api.asgi import ROUTE_MODULES, create_asgi
from misthook.app import App
from misthook.config import load_config


def test_every_api_route_is_in_the_openapi_document() -> None:
    """Each /api/v1 route and method appears in the document, with a summary."""
    api = create_asgi(App(load_config({}, database="memory://")))
    doc = api.openapi()
    routes = [
        r
        for name in ROUTE_MODULES
        for r in importlib.import_module(f"misthook.api.routes.{name}").router.routes
        if isinstance(r, APIRoute) and r.include_in_schema
    ]
    assert len(routes) > 60
    for route in routes:
        described = doc["paths"].get(route.path, {})
        for method in route.methods or ():
            operation = described.get(method.lower())
            assert operation is not None, f"{method} {route.path}"
            assert operation.get("summary"), f"{method} {route.path} has no summary"


def test_the_api_warns_of_nothing_deprecated() -> None:
    """No route uses a response class or parameter the installed FastAPI deprecates (it
    warns when the app is built, or when a response is made)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        api = create_asgi(App(load_config({}, database="memory://")))
        api.openapi()
        answer = api.router.default_response_class({"detail": "x"}, status_code=400)
    assert answer.body == b'{"detail":"x"}'
    deprecated = [
        w for w in caught if issubclass(w.category, DeprecationWarning | FastAPIDeprecationWarning)
    ]
    assert not deprecated, [str(w.message)[:120] for w in deprecated]
