"""Log-in and log-out of the web pages: ``/login`` and ``/logout``.

``/login`` checks an API token and opens a web session of its user and roles, lasting
``VIGIL_SESSION_HOURS`` (never past the token's expiry); the HttpOnly, SameSite=Strict
cookie holds the session's random key (stored hashed), never the API token. ``/logout``
ends the session on the server. Both forms carry a CSRF token that must equal the value
of the ``vigil_csrf`` cookie (double submit, `vigil.server.handlers.web.csrf`).
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel, Field

from ...dependencies import SESSION_COOKIE, factory_dependency, process_context, session_user
from ...domain import User
from ...exceptions import AuthenticationError
from ...factory import Factory
from ._render import PageRoute, render
from .csrf import check_csrf, csrf_token, secure_cookies, with_csrf_cookie

__all__ = ["LoginPageModel", "page_read_access", "router"]


def page_read_access(request: Request, user: User | None = Depends(session_user)) -> None:
    """Allow reading the pages: anyone when ``public_read`` is on, else logged-in users.

    The log-in and log-out pages do not ask it: they are how one becomes a logged-in user.
    """
    if user is None and not process_context(request).settings.public_read:
        raise AuthenticationError(
            "Reading this server needs a log-in (VIGIL_PUBLIC_READ is off): log in at /login."
        )


router = APIRouter(route_class=PageRoute, include_in_schema=False)


def _safe_next(target: str | None) -> str:
    # Only paths on this server: never '//host' or a full URL (an open redirect).
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/regressions"


class LoginPageModel(BaseModel):
    """The JSON twin of ``/login``."""

    user: str | None = Field(None, description="Who is logged in, if anyone.")
    next: str


@router.get("/login")
def login_page(
    request: Request,
    next: str | None = Query(None),
    user: User | None = Depends(session_user),
) -> Response:
    """Log in with an API token (``vigil token create``)."""
    model = LoginPageModel(user=user.name if user else None, next=_safe_next(next))
    context = {"nav": None, "csrf_token": csrf_token(request), "error": None}
    return with_csrf_cookie(request, render(request, "regressions_login.html", context, model))


@router.post("/login")
def login(
    request: Request,
    token: str = Form(""),
    next: str | None = Form(None),
    form_csrf: str | None = Form(None, alias="csrf_token"),
    factory: Factory = Depends(factory_dependency),
) -> Response:
    """Check the token and open a web session; the cookie holds the session's key."""
    check_csrf(request, form_csrf)
    try:
        opened, _ = factory.create_auth_service().open_session(token.strip())
    except AuthenticationError as exc:
        model = LoginPageModel(user=None, next=_safe_next(next))
        context = {"nav": None, "csrf_token": csrf_token(request), "error": exc.message}
        return render(request, "regressions_login.html", context, model, status_code=401)
    lifetime = opened.session.expires_at - opened.session.created_at
    response = RedirectResponse(_safe_next(next), status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        opened.key,
        max_age=max(1, int(lifetime.total_seconds())),
        httponly=True,
        samesite="strict",
        secure=secure_cookies(request),
        path="/",
    )
    return response


@router.post("/logout")
def logout(
    request: Request,
    form_csrf: str | None = Form(None, alias="csrf_token"),
    factory: Factory = Depends(factory_dependency),
) -> Response:
    """End the session on the server and forget its cookie."""
    check_csrf(request, form_csrf)
    key = request.cookies.get(SESSION_COOKIE)
    if key:
        factory.create_auth_service().close_session(key)
    response = RedirectResponse("/regressions", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response
