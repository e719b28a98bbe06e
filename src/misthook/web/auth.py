"""Sign-in (email + password of an admin, or an API token) and sign-out."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from misthook.errors import UnauthorizedError
from misthook.web import session
from misthook.web.core import Web, app_of, client_ip, page, redirect, templates, web_key

router = APIRouter(include_in_schema=False)


def _safe_next(target: str) -> str:
    # only paths of this site: no scheme, no "//host"
    return target if target.startswith("/") and not target.startswith("//") else "/"


def _signin_form(request: Request, status: int = 200, **context: object) -> HTMLResponse:
    context.setdefault("next", _safe_next(request.query_params.get("next", "/")))
    context.update(request=request, actor=None, csrf="")
    return templates.TemplateResponse(request, "signin.html", context, status_code=status)


@router.get("/signin")
async def signin_form(request: Request) -> Response:
    return _signin_form(request)


@router.post("/signin")
async def signin(request: Request) -> Response:
    form = await request.form()
    app = app_of(request)
    meta = {"src_ip": client_ip(request), "user_agent": request.headers.get("user-agent", "")}
    target = _safe_next(str(form.get("next", "/")))
    email = str(form.get("email", "")).strip()
    token = str(form.get("token", "")).strip()
    claims: dict[str, object]
    try:
        if token:
            await app.identity.authenticate(token, **meta)
            claims = {"token": token}
        else:
            actor = await app.identity.sign_in(email, str(form.get("password", "")), **meta)
            claims = {"admin": actor.id}
    except UnauthorizedError as exc:
        which = "token" if token else "password"
        return _signin_form(request, 401, email=email, next=target, errors={which: exc.detail})
    key = await web_key(request).get()
    response = redirect(target)
    response.set_cookie(
        session.COOKIE_NAME,
        session.make_cookie(key, claims),
        max_age=int(session.SESSION_TTL_S),
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
    )
    return response


@page(router, "/signout", methods=("POST",))
async def signout(web: Web) -> Response:
    await web.form()
    response = redirect("/signin")
    response.delete_cookie(session.COOKIE_NAME)
    return response
