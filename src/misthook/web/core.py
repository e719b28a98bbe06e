"""What every web page shares: the signed-in caller, templates, forms, CSRF, and turning
the services' errors into pages.

Pages call the same services as the API with the same ``Actor``, so a page can never
do more than the caller's API token could; templates only hide what would be refused.
"""

from __future__ import annotations

import dataclasses
import datetime
import functools
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import Any
from urllib.parse import quote

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from starlette.datastructures import FormData

from misthook.app import App
from misthook.domain.privileges import Actor, can_write, org_role, site_role
from misthook.errors import ApiError, BadRequestError, ForbiddenError, UnauthorizedError
from misthook.web import session

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=str(HERE / "templates"))


def _when(ts: object) -> str:
    if not isinstance(ts, int | float) or isinstance(ts, bool):
        return ""
    return datetime.datetime.fromtimestamp(ts, datetime.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _pretty(raw: object) -> str:
    """JSON text indented, or the text as it is when it is not JSON."""
    if isinstance(raw, str):
        try:
            return str(orjson.dumps(orjson.loads(raw), option=orjson.OPT_INDENT_2).decode())
        except orjson.JSONDecodeError:
            return raw
    return str(orjson.dumps(raw, option=orjson.OPT_INDENT_2).decode())


templates.env.filters["when"] = _when
templates.env.filters["pretty"] = _pretty


class SignInRequired(Exception):
    """No valid session: the page sends the browser to the sign-in form."""


@dataclasses.dataclass
class Web:
    """One web request: the app, the caller, its session cookie and CSRF token."""

    request: Request
    app: App
    actor: Actor
    cookie: str
    csrf: str
    _form: FormData | None = None

    def render(self, name: str, status_code: int = 200, **context: Any) -> HTMLResponse:
        context.update(request=self.request, actor=self.actor, csrf=self.csrf)
        return templates.TemplateResponse(self.request, name, context, status_code=status_code)

    async def form(self) -> FormData:
        """The posted form, after checking its CSRF token."""
        if self._form is None:
            form = await self.request.form()
            key = await web_key(self.request).get()
            if not session.csrf_ok(key, self.cookie, str(form.get("csrf", ""))):
                raise ForbiddenError("The form has expired; reload the page and try again.")
            self._form = form
        return self._form

    async def check_csrf_header(self) -> None:
        key = await web_key(self.request).get()
        if not session.csrf_ok(key, self.cookie, self.request.headers.get("x-csrf-token", "")):
            raise ForbiddenError("The page has expired; reload it.")

    def may_write_org(self, org_id: str) -> bool:
        return can_write(org_role(self.actor, org_id))

    def may_write_site(self, org_id: str, site_id: str) -> bool:
        return can_write(site_role(self.actor, org_id, site_id))


def web_key(request: Request) -> session.SessionKey:
    key: session.SessionKey = request.app.state.misthook_web_key
    return key


def app_of(request: Request) -> App:
    app: App = request.app.state.misthook
    return app


def client_ip(request: Request) -> str:
    return request.client.host if request.client else ""


async def actor_of(request: Request) -> tuple[Actor, str]:
    """The signed-in caller and the cookie; SignInRequired when there is none."""
    cookie = request.cookies.get(session.COOKIE_NAME, "")
    key = await web_key(request).get()
    claims = session.read_cookie(key, cookie) if cookie else None
    if claims is None:
        raise SignInRequired()
    app = app_of(request)
    meta = {"src_ip": client_ip(request), "user_agent": request.headers.get("user-agent", "")}
    try:
        if "token" in claims:
            return await app.identity.authenticate(str(claims["token"]), **meta), cookie
        return await app.identity.actor_for_admin_id(str(claims.get("admin", "")), **meta), cookie
    except UnauthorizedError:
        raise SignInRequired() from None


PageFunc = Callable[..., Awaitable[Response]]


def page(
    router: APIRouter, path: str, methods: Iterable[str] = ("GET",)
) -> Callable[[PageFunc], PageFunc]:
    """Register a page: it gets a ``Web`` and the path parameters; errors become pages."""

    def register(func: PageFunc) -> PageFunc:
        @functools.wraps(func)
        async def endpoint(request: Request) -> Response:
            try:
                actor, cookie = await actor_of(request)
            except SignInRequired:
                if request.method != "GET":
                    return error_page(request, UnauthorizedError("Sign in again."), None)
                target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                return RedirectResponse(f"/signin?next={quote(target)}", status_code=303)
            key = await web_key(request).get()
            web = Web(request, app_of(request), actor, cookie, session.csrf_token(key, cookie))
            try:
                return await func(web, **request.path_params)
            except ApiError as exc:
                return error_page(request, exc, web)

        router.add_route(path, endpoint, methods=list(methods), include_in_schema=False)
        return func

    return register


def error_page(request: Request, exc: ApiError, web: Web | None) -> HTMLResponse:
    context: dict[str, Any] = {
        "request": request,
        "actor": web.actor if web else None,
        "csrf": web.csrf if web else "",
        "status": exc.status_code,
        "detail": exc.detail,
        "reason": exc.reason,
    }
    return templates.TemplateResponse(request, "error.html", context, status_code=exc.status_code)


def field_errors(exc: BadRequestError) -> dict[str, str]:
    """``{"field": "why"}`` from a Mist-style 400 (``invalid field: <name>``)."""
    field = (
        exc.detail.removeprefix("invalid field: ")
        if exc.detail.startswith("invalid field: ")
        else ""
    )
    message = exc.reason or exc.detail
    return {field or "_form": message}


def redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)
