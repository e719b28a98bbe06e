"""Request bin pages: the list, one bin with its requests as they arrive (short polling),
signature checks against a typed secret, and a one-click webhook pointing at the bin."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter
from fastapi.responses import Response

from misthook.domain.privileges import can_write, org_role, site_role
from misthook.errors import BadRequestError
from misthook.services.bins import capture_path, may_create_bins, request_body, signature_verdicts
from misthook.services.webhooks import Scope
from misthook.web.core import Web, field_errors, page, redirect
from misthook.web.pages import topic_groups

router = APIRouter(include_in_schema=False)


def _capture_url(web: Web, bin_id: str) -> str:
    return str(web.request.base_url).rstrip("/") + capture_path(bin_id)


async def _writable_scopes(web: Web) -> list[dict[str, str]]:
    """Where the caller may create a webhook: ``[{value: "org:<id>"|"site:<id>", label}]``."""
    scopes: list[dict[str, str]] = []
    for org in await web.app.orgs.list_orgs(web.actor):
        if can_write(org_role(web.actor, org["id"])):
            scopes.append({"value": f"org:{org['id']}", "label": f"Org {org['name']}"})
        sites, _, _, _ = await web.app.orgs.list_sites(web.actor, org["id"], "1000", "1")
        for site in sites:
            if can_write(site_role(web.actor, org["id"], site["id"])):
                scopes.append({"value": f"site:{site['id']}", "label": f"Site {site['name']}"})
    return scopes


@page(router, "/requestbins", methods=("GET", "POST"))
async def bins_page(web: Web) -> Response:
    if web.request.method == "POST":
        form = await web.form()
        doc = await web.app.bins.create(web.actor, str(form.get("name", "")))
        return redirect(f"/requestbins/{doc['id']}")
    bins = await web.app.bins.list_for(web.actor)
    return web.render("bins.html", bins=bins, may_create=may_create_bins(web.actor))


@page(router, "/requestbins/{bin_id}")
async def bin_page(web: Web, bin_id: str, errors: dict[str, str] | None = None) -> Response:
    doc = await web.app.bins.get(bin_id)
    scopes = await _writable_scopes(web)
    return web.render(
        "bin.html",
        status_code=400 if errors else 200,
        bin=doc,
        capture_url=_capture_url(web, bin_id),
        scopes=scopes,
        groups=topic_groups("site"),
        errors=errors or {},
        may_create=may_create_bins(web.actor),
    )


def _request_view(doc: dict[str, Any], secret: str) -> dict[str, Any]:
    body = request_body(doc)
    view = {k: doc.get(k) for k in ("id", "timestamp", "src_ip", "method", "path", "query")}
    view.update(headers=doc.get("headers", []), size=doc.get("size"), body=doc.get("body"))
    view["binary"] = doc.get("body_encoding") == "base64"
    view["truncated"] = bool(doc.get("truncated"))
    try:
        view["json"] = orjson.loads(body)
    except orjson.JSONDecodeError:
        view["json"] = None
    if secret:
        headers = {str(k): str(v) for k, v in doc.get("headers", [])}
        view["verdicts"] = signature_verdicts(body, headers, secret)
    return view


@page(router, "/requestbins/{bin_id}/poll", methods=("POST",))
async def poll(web: Web, bin_id: str) -> Response:
    """JSON for the page's script: the caught requests, newest first, with verdicts."""
    await web.check_csrf_header()
    try:
        asked = orjson.loads(await web.request.body() or b"{}")
    except orjson.JSONDecodeError:
        asked = {}
    secret = str(asked.get("secret") or "") if isinstance(asked, dict) else ""
    caught = await web.app.bins.requests(bin_id)
    return Response(
        orjson.dumps({"requests": [_request_view(r, secret) for r in caught]}),
        media_type="application/json",
    )


@page(router, "/requestbins/{bin_id}/clear", methods=("POST",))
async def clear(web: Web, bin_id: str) -> Response:
    await web.form()
    await web.app.bins.clear(bin_id)
    return redirect(f"/requestbins/{bin_id}")


@page(router, "/requestbins/{bin_id}/delete", methods=("POST",))
async def delete(web: Web, bin_id: str) -> Response:
    await web.form()
    await web.app.bins.delete(bin_id)
    return redirect("/requestbins")


@page(router, "/requestbins/{bin_id}/webhook", methods=("POST",))
async def make_webhook(web: Web, bin_id: str) -> Response:
    """One click: a webhook of the chosen org or site and topics, to this bin."""
    form = await web.form()
    await web.app.bins.get(bin_id)
    kind, _, scope_id = str(form.get("scope", "")).partition(":")
    scope: Scope
    if kind == "org":
        scope = await web.app.webhooks.org_scope(web.actor, scope_id, write=True)
    elif kind == "site":
        scope = await web.app.webhooks.site_scope(web.actor, scope_id, write=True)
    else:
        return await bin_page(web, bin_id, errors={"scope": "choose an org or a site"})
    body = {
        "name": str(form.get("name", "")) or f"bin {bin_id[:8]}",
        "url": web.app.own_bins.base_url() + capture_path(bin_id),
        "secret": str(form.get("secret", "")),
        "topics": [str(t) for t in form.getlist("topics")],
        # the server's own certificate may be self-signed
        "verify_cert": not web.app.config.tls_self_signed,
    }
    try:
        await web.app.webhooks.create(web.actor, scope, body)
    except BadRequestError as exc:
        return await bin_page(web, bin_id, errors=field_errors(exc))
    path = "orgs" if kind == "org" else "sites"
    return redirect(f"/{path}/{scope_id}/webhooks")
