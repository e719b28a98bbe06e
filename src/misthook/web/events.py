"""Alarms (search with the API's filters, ack and unack) and device events pages, for an
org or a site."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response

from misthook.errors import BadRequestError
from misthook.services.access import org_for, site_for
from misthook.web.core import Web, page, redirect

router = APIRouter(include_in_schema=False)

ALARM_FILTERS = ("type", "severity", "group", "acked", "status", "site_id", "duration", "limit")
EVENT_FILTERS = ("type", "mac", "model", "text", "device_type", "duration", "limit")


def _params(web: Web, names: tuple[str, ...]) -> dict[str, str | None]:
    return {k: v for k, v in web.request.query_params.items() if k in names and v}


async def _context(web: Web, level: str, scope_id: str) -> dict[str, Any]:
    if level == "orgs":
        org = await org_for(web.app.store, web.actor, scope_id)
        return {"org": org, "scope": None, "writable": web.may_write_org(scope_id)}
    site = await site_for(web.app.store, web.actor, scope_id)
    org = await web.app.orgs.get_org(web.actor, site["org_id"])
    scope = {"site_id": site["id"], "site_name": site["name"]}
    return {"org": org, "scope": scope, "writable": web.may_write_site(org["id"], site["id"])}


def _routes(level: str) -> None:
    field = "org_id" if level == "orgs" else "site_id"
    base = f"/{level}/{{scope_id}}"

    @page(router, base + "/alarms")
    async def alarms(web: Web, scope_id: str) -> Response:
        ctx = await _context(web, level, scope_id)
        params = _params(web, ALARM_FILTERS)
        error = None
        try:
            path = f"/{level}/{scope_id}/alarms"
            result = await web.app.alarms.search((field, scope_id), params, path)
        except BadRequestError as exc:
            error = f"{exc.detail}: {exc.reason}" if exc.reason else exc.detail
            result = {"results": [], "total": 0}
        return web.render(
            "alarms.html", params=params, result=result, error=error, base=path, **ctx
        )

    @page(router, base + "/alarms/ack", methods=("POST",))
    async def ack(web: Web, scope_id: str) -> Response:
        form = await web.form()
        acked = form.get("action") != "unack"
        ids = [str(i) for i in form.getlist("ids")]
        note = str(form.get("note", "")) or None
        await web.app.alarms.set_acked(
            web.actor, level, scope_id, acked=acked, alarm_ids=ids or None, note=note
        )
        return redirect(f"/{level}/{scope_id}/alarms")

    @page(router, base + "/device_events")
    async def device_events(web: Web, scope_id: str) -> Response:
        ctx = await _context(web, level, scope_id)
        params = _params(web, EVENT_FILTERS)
        error = None
        try:
            path = f"/{level}/{scope_id}/device_events"
            result = await web.app.device_events.search(
                (field, scope_id), params, path, org=level == "orgs"
            )
        except BadRequestError as exc:
            error = f"{exc.detail}: {exc.reason}" if exc.reason else exc.detail
            result = {"results": [], "total": 0}
        return web.render("device_events.html", params=params, result=result, error=error, **ctx)


_routes("orgs")
_routes("sites")
