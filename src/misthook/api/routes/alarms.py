"""Alarms of a site or an org: search, count, ack and unack (single, multiple, all)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request

from misthook.api.deps import get_actor, get_app, json_body, query_params
from misthook.app import App
from misthook.domain.privileges import Actor
from misthook.errors import BadRequestError

router = APIRouter(prefix="/api/v1", tags=["Alarms"])


def _note(body: Any) -> str | None:
    if not isinstance(body, dict):
        raise BadRequestError("JSON object expected")
    note = body.get("note")
    if note is not None and not isinstance(note, str):
        raise BadRequestError("invalid field: note", reason="a string")
    return note


def _ids(body: Any) -> list[str]:
    ids = body.get("alarm_ids") if isinstance(body, dict) else None
    if not isinstance(ids, list) or not ids or not all(isinstance(i, str) for i in ids):
        raise BadRequestError("invalid field: alarm_ids", reason="a list of alarm ids")
    return ids


def _slug(path: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in path).strip("_")


def _add_routes(level: str, key: str) -> None:
    base = f"/{level}/{{{key}}}/alarms"
    field = "org_id" if level == "orgs" else "site_id"

    async def search(
        request: Request, actor: Actor = Depends(get_actor), app: App = Depends(get_app)
    ) -> Any:
        scope_id = request.path_params[key]
        await app.alarms.scope_of(actor, level, scope_id)
        return await app.alarms.search((field, scope_id), query_params(request), request.url.path)

    async def count(
        request: Request, actor: Actor = Depends(get_actor), app: App = Depends(get_app)
    ) -> Any:
        scope_id = request.path_params[key]
        await app.alarms.scope_of(actor, level, scope_id)
        return await app.alarms.count((field, scope_id), query_params(request))

    def setter(acked: bool, which: str) -> Any:
        async def handler(
            request: Request,
            body: Any = Depends(json_body),
            actor: Actor = Depends(get_actor),
            app: App = Depends(get_app),
        ) -> Any:
            ids: list[str] | None
            if which == "one":
                ids = [request.path_params["alarm_id"]]
            elif which == "many":
                ids = _ids(body)
            else:
                ids = None
            return await app.alarms.set_acked(
                actor, level, request.path_params[key], acked=acked, alarm_ids=ids, note=_note(body)
            )

        handler.__name__ = f"{'ack' if acked else 'unack'}_{which}_{level}"
        return handler

    routes: list[tuple[Any, str, str, str]] = [
        (search, "GET", "/search", "Search alarms"),
        (count, "GET", "/count", "Count alarms by a distinct field"),
        (setter(True, "many"), "POST", "/ack", "Ack alarms {alarm_ids, note?}"),
        (setter(False, "many"), "POST", "/unack", "Unack alarms {alarm_ids, note?}"),
        (setter(True, "all"), "POST", "/ack_all", "Ack all alarms {note?}"),
        (setter(False, "all"), "POST", "/unack_all", "Unack all alarms {note?}"),
        (setter(True, "one"), "POST", "/{alarm_id}/ack", "Ack an alarm {note?}"),
        (setter(False, "one"), "POST", "/{alarm_id}/unack", "Unack an alarm {note?}"),
    ]
    for func, method, path, summary in routes:
        router.add_api_route(
            base + path,
            func,
            methods=[method],
            summary=f"{summary} ({level[:-1]})",
            operation_id=f"{func.__name__}_{level}_{method.lower()}_{_slug(path)}",
        )


_add_routes("sites", "site_id")
_add_routes("orgs", "org_id")
