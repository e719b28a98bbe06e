"""Organization, its sites, Audit Logs, and the webhooks of an org or a site with their
delivery logs (Site Configuration > Webhooks)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response
from starlette.datastructures import FormData

from misthook.domain.privileges import org_role
from misthook.domain.topics import ORG_TOPICS, SITE_TOPICS, TOPICS
from misthook.domain.webhook_rules import WEBHOOK_TYPES
from misthook.errors import BadRequestError, NotFoundError
from misthook.services.access import org_for
from misthook.services.webhooks import Scope
from misthook.web.core import Web, field_errors, page, redirect

router = APIRouter(include_in_schema=False)

# How the topic checkboxes are grouped (first matching prefix wins).
TOPIC_GROUPS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Alarms and audits", ("alarms", "audits")),
    ("Devices", ("device-", "mxedge-", "minis-")),
    ("Clients", ("client-", "guest-", "nac-", "sdkclient-")),
    ("Location", ("location", "zone", "rssizone", "vbeacon", "occupancy-", "asset-")),
    ("Raw data", ("discovered-raw-rssi", "wifi-")),
)
LOG_FILTERS = ("site_id", "admin_name", "message", "duration", "start", "end", "limit", "page")
DELIVERY_FILTERS = ("status", "topic", "status_code", "error", "duration", "limit")


def topic_groups(scope_kind: str) -> list[dict[str, Any]]:
    """Checkbox groups of the subscribable topics; org webhooks get org topics only."""
    allowed = ORG_TOPICS if scope_kind == "org" else SITE_TOPICS
    groups: dict[str, list[dict[str, Any]]] = {name: [] for name, _ in TOPIC_GROUPS}
    groups["Other"] = []
    for key in sorted(SITE_TOPICS):
        group = next((n for n, prefixes in TOPIC_GROUPS if key.startswith(prefixes)), "Other")
        topic = TOPICS[key]
        groups[group].append(
            {
                "key": key,
                "allowed": key in allowed,
                "single": topic.allows_single_event_per_message,
            }
        )
    return [{"name": n, "topics": t} for n, t in groups.items() if t]


def _params(web: Web, names: tuple[str, ...]) -> dict[str, str | None]:
    return {k: v for k, v in web.request.query_params.items() if k in names and v}


# --- orgs and sites ----------------------------------------------------------------------


@page(router, "/")
async def home(web: Web) -> Response:
    orgs = await web.app.orgs.list_orgs(web.actor)
    if len(orgs) == 1:
        return redirect(f"/orgs/{orgs[0]['id']}")
    return web.render("home.html", orgs=orgs)


@page(router, "/orgs/{org_id}")
async def org_page(web: Web, org_id: str) -> Response:
    org = await web.app.orgs.get_org(web.actor, org_id)
    sites, total, _, _ = await web.app.orgs.list_sites(web.actor, org_id, "1000", "1")
    return web.render(
        "org.html",
        org=org,
        sites=sites,
        total=total,
        org_level=org_role(web.actor, org_id) is not None,
    )


@page(router, "/orgs/{org_id}/logs")
async def audit_logs(web: Web, org_id: str) -> Response:
    org = await web.app.orgs.get_org(web.actor, org_id)
    params = _params(web, LOG_FILTERS)
    error = None
    await org_for(web.app.store, web.actor, org_id)  # the audit log is org level
    try:
        result = await web.app.audit.search(org_id, params, f"/orgs/{org_id}/logs")
    except BadRequestError as exc:
        error = f"{exc.detail}: {exc.reason}" if exc.reason else exc.detail
        result = {"results": [], "total": 0}
    sites, _, _, _ = await web.app.orgs.list_sites(web.actor, org_id, "1000", "1")
    page_no = int(params.get("page") or 1) if str(params.get("page") or "1").isdigit() else 1
    return web.render(
        "logs.html",
        org=org,
        params=params,
        result=result,
        error=error,
        sites={s["id"]: s["name"] for s in sites},
        page_no=page_no,
    )


# --- webhooks ----------------------------------------------------------------------------


async def _scope(web: Web, kind: str, scope_id: str, write: bool = False) -> Scope:
    if kind == "orgs":
        return await web.app.webhooks.org_scope(web.actor, scope_id, write=write)
    if kind == "sites":
        return await web.app.webhooks.site_scope(web.actor, scope_id, write=write)
    raise NotFoundError()


def _writable(web: Web, scope: Scope) -> bool:
    if scope.site_id is None:
        return web.may_write_org(scope.org_id)
    return web.may_write_site(scope.org_id, scope.site_id)


def _base(kind: str, scope_id: str) -> str:
    return f"/{kind}/{scope_id}/webhooks"


async def _scope_context(web: Web, kind: str, scope_id: str, scope: Scope) -> dict[str, Any]:
    org = await web.app.orgs.get_org(web.actor, scope.org_id)
    return {
        "kind": kind,
        "scope_id": scope_id,
        "scope": scope,
        "org": org,
        "base": _base(kind, scope_id),
        "writable": _writable(web, scope),
        "title": scope.site_name if scope.site_id else org["name"],
    }


async def _last_delivery(web: Web, webhook_id: str) -> dict[str, Any] | None:
    found = await web.app.deliveries.search(
        webhook_id, {"limit": "1", "duration": "4w"}, f"/webhooks/{webhook_id}"
    )
    results: list[dict[str, Any]] = found["results"]
    return results[0] if results else None


async def _delivery_state(web: Web, webhook_id: str) -> dict[str, Any]:
    """What the list shows of a webhook's streams: events waiting, and whether some were
    pruned before they could be delivered (the API's ``.../status``, summed)."""
    streams = await web.app.deliveries.stream_status(webhook_id)
    return {
        "lag": sum(s["lag"] for s in streams),
        "capped": any(s["lag_capped"] for s in streams),
        "failing": any(s["failing_since"] is not None for s in streams),
        "behind": any(s["behind_retention"] for s in streams),
    }


for _kind in ("orgs", "sites"):

    def _routes(kind: str) -> None:
        prefix = f"/{kind}/{{scope_id}}/webhooks"

        @page(router, prefix)
        async def list_webhooks(web: Web, scope_id: str) -> Response:
            scope = await _scope(web, kind, scope_id)
            rows, _, _, _ = await web.app.webhooks.list(web.actor, scope, "1000", "1")
            last = {w["id"]: await _last_delivery(web, w["id"]) for w in rows}
            state = {w["id"]: await _delivery_state(web, w["id"]) for w in rows}
            ctx = await _scope_context(web, kind, scope_id, scope)
            return web.render("webhooks.html", webhooks=rows, last=last, state=state, **ctx)

        @page(router, prefix + "/new", methods=("GET", "POST"))
        async def new_webhook(web: Web, scope_id: str) -> Response:
            scope = await _scope(web, kind, scope_id, write=True)
            return await _webhook_form(web, kind, scope_id, scope, None)

        @page(router, prefix + "/delete", methods=("POST",))
        async def delete_webhooks(web: Web, scope_id: str) -> Response:
            scope = await _scope(web, kind, scope_id, write=True)
            form = await web.form()
            for webhook_id in form.getlist("ids"):
                await web.app.webhooks.delete(web.actor, scope, str(webhook_id))
            return redirect(_base(kind, scope_id))

        @page(router, prefix + "/{webhook_id}", methods=("GET", "POST"))
        async def edit_webhook(web: Web, scope_id: str, webhook_id: str) -> Response:
            scope = await _scope(web, kind, scope_id)
            current = await web.app.webhooks.get(web.actor, scope, webhook_id)
            return await _webhook_form(web, kind, scope_id, scope, current)

        @page(router, prefix + "/{webhook_id}/ping", methods=("POST",))
        async def ping_webhook(web: Web, scope_id: str, webhook_id: str) -> Response:
            scope = await _scope(web, kind, scope_id, write=True)
            await web.form()
            await web.app.webhooks.ping(web.actor, scope, webhook_id)
            return redirect(_base(kind, scope_id) + "?pinged=" + webhook_id)

        @page(router, prefix + "/{webhook_id}/deliveries")
        async def deliveries(web: Web, scope_id: str, webhook_id: str) -> Response:
            scope = await _scope(web, kind, scope_id)
            webhook = await web.app.webhooks.get(web.actor, scope, webhook_id)
            params = _params(web, DELIVERY_FILTERS)
            error = None
            try:
                path = f"{_base(kind, scope_id)}/{webhook_id}/deliveries"
                result = await web.app.deliveries.search(webhook_id, params, path)
            except BadRequestError as exc:
                error = f"{exc.detail}: {exc.reason}" if exc.reason else exc.detail
                result = {"results": [], "total": 0}
            ctx = await _scope_context(web, kind, scope_id, scope)
            return web.render(
                "deliveries.html",
                webhook=webhook,
                params=params,
                result=result,
                error=error,
                topics=[*sorted(webhook.get("topics", [])), "ping"],
                **ctx,
            )

        @page(router, prefix + "/{webhook_id}/deliveries/{delivery_id}/resend", methods=("POST",))
        async def resend(web: Web, scope_id: str, webhook_id: str, delivery_id: str) -> Response:
            scope = await _scope(web, kind, scope_id, write=True)
            await web.form()
            webhook = await web.app.webhooks.get(web.actor, scope, webhook_id)
            await web.app.deliveries.resend(webhook, delivery_id)
            return redirect(f"{_base(kind, scope_id)}/{webhook_id}/deliveries")

    _routes(_kind)


def parse_headers(text: str) -> dict[str, str]:
    """``Name: value`` per line into a dict; BadRequestError naming the bad line."""
    headers: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        name, sep, value = line.partition(":")
        if not sep or not name.strip():
            raise BadRequestError(
                "invalid field: headers", reason=f"line {number}: write it as Name: value"
            )
        headers[name.strip()] = value.strip()
    return headers


def body_of_form(form: FormData) -> dict[str, Any]:
    """The webhook body the API would get, from the form's fields."""
    body: dict[str, Any] = {
        "name": str(form.get("name", "")),
        "url": str(form.get("url", "")).strip(),
        "secret": str(form.get("secret", "")),
        "topics": [str(t) for t in form.getlist("topics")],
        "type": str(form.get("type", "http-post")),
        "enabled": "enabled" in form,
        "verify_cert": "verify_cert" in form,
        "single_event_per_message": "single_event_per_message" in form,
        "headers": parse_headers(str(form.get("headers", ""))),
    }
    for field in (
        "oauth2_grant_type",
        "oauth2_client_id",
        "oauth2_client_secret",
        "oauth2_username",
        "oauth2_password",
        "oauth2_token_url",
        "splunk_token",
    ):
        value = str(form.get(field, "")).strip()
        if value:
            body[field] = value
    scopes = str(form.get("oauth2_scopes", "")).split()
    if scopes:
        body["oauth2_scopes"] = scopes
    return body


def _headers_text(headers: object) -> str:
    if not isinstance(headers, dict):
        return ""
    return "\n".join(f"{k}: {v}" for k, v in headers.items())


async def _webhook_form(
    web: Web, kind: str, scope_id: str, scope: Scope, current: dict[str, Any] | None
) -> Response:
    ctx = await _scope_context(web, kind, scope_id, scope)
    values: dict[str, Any] = dict(current or {"enabled": True, "verify_cert": True})
    values["headers_text"] = _headers_text(values.get("headers"))
    errors: dict[str, str] = {}
    if web.request.method == "POST":
        if not ctx["writable"]:
            await _scope(web, kind, scope_id, write=True)  # raises 403
        form = await web.form()
        values = {**values, **{k: form.get(k) for k in form}, "topics": form.getlist("topics")}
        values["headers_text"] = str(form.get("headers", ""))
        for flag in ("enabled", "verify_cert", "single_event_per_message"):
            values[flag] = flag in form
        try:
            body = body_of_form(form)
            if current is None:
                await web.app.webhooks.create(web.actor, scope, body)
            else:
                await web.app.webhooks.update(web.actor, scope, current["id"], body)
            return redirect(ctx["base"])
        except BadRequestError as exc:
            errors = field_errors(exc)
    return web.render(
        "webhook_form.html",
        status_code=400 if errors else 200,
        webhook=current,
        values=values,
        errors=errors,
        groups=topic_groups(scope.kind),
        types=sorted(WEBHOOK_TYPES),
        **ctx,
    )
