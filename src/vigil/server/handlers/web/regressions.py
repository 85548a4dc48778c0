"""The regression pages: ``/regressions``, ``/regressions/{id}`` with triage, and log-in.

Forms need a logged-in user: ``/login`` takes an API token and keeps it in an HttpOnly,
SameSite=Strict cookie. Every form carries a CSRF token that must equal the value of the
``vigil_csrf`` cookie (double submit, `vigil.server.handlers.web.csrf`), so a page of
another site cannot post them.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel, Field

from ...dependencies import base_url, factory_dependency, process_context
from ...domain import User
from ...domain.regressions import KINDS, STATUSES, RegressionFilter
from ...exceptions import AuthenticationError
from ...factory import Factory
from ..api.regressions import RegressionDetailModel, RegressionModel
from ._regression_plot import regression_plot
from ._render import NAV_ITEMS, NavItem, PageRoute, render, wants_json
from .csrf import check_csrf, csrf_token, secure_cookies, with_csrf_cookie

__all__ = ["SESSION_COOKIE", "router"]

SESSION_COOKIE = "vigil_session"
"""Holds the API token of the logged-in user (HttpOnly: scripts cannot read it)."""

_SESSION_DAYS = 30

if not any(item.key == "regressions" for item in NAV_ITEMS):
    NAV_ITEMS.append(NavItem("regressions", "Regressions", "/regressions"))


def session_user(request: Request, factory: Factory = Depends(factory_dependency)) -> User | None:
    """The user of the session cookie, or None (no cookie, or a token no longer valid)."""
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return None
    try:
        return factory.create_auth_service().authenticate(token)
    except AuthenticationError:
        return None


def page_read_access(request: Request, user: User | None = Depends(session_user)) -> None:
    """Allow reading the pages: anyone when ``public_read`` is on, else logged-in users."""
    if user is None and not process_context(request).settings.public_read:
        raise AuthenticationError(
            "Reading this server needs a log-in (VIGIL_PUBLIC_READ is off): log in at /login."
        )


router = APIRouter(
    route_class=PageRoute, include_in_schema=False, dependencies=[Depends(page_read_access)]
)


def _safe_next(target: str | None) -> str:
    # Only paths on this server: never '//host' or a full URL (an open redirect).
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/regressions"


# List ----------------------------------------------------------------------------------------


class RegressionListPageModel(BaseModel):
    """The JSON twin of ``/regressions``."""

    items: list[RegressionModel]
    status: str | None
    kind: str | None
    metric: str | None
    dataset: str | None
    include_dissolved: bool
    statuses: list[str]
    kinds: list[str]
    next_cursor: str | None = None
    next_url: str | None = Field(None, description="The next page.")


@router.get("/regressions")
def regressions_page(
    request: Request,
    status: str | None = Query(None),
    kind: str | None = Query(None),
    metric: str | None = Query(None),
    dataset: str | None = Query(None),
    include_dissolved: bool = Query(False),
    cursor: str | None = Query(None),
    factory: Factory = Depends(factory_dependency),
    user: User | None = Depends(session_user),
) -> Response:
    """Regressions, newest first, filtered by status, kind, metric and dataset."""
    filters = RegressionFilter(
        status=status or None,
        kind=kind or None,
        metric=metric or None,
        dataset=dataset or None,
        include_dissolved=include_dissolved,
    )
    page = factory.create_regression_service().list_regressions(filters, limit=100, cursor=cursor)
    base = base_url(request)
    model = RegressionListPageModel(
        items=[RegressionModel.from_domain(r, base) for r in page.items],
        status=filters.status,
        kind=filters.kind,
        metric=filters.metric,
        dataset=filters.dataset,
        include_dissolved=include_dissolved,
        statuses=list(STATUSES),
        kinds=list(KINDS),
        next_cursor=page.next_cursor,
        next_url=(
            str(request.url.include_query_params(cursor=page.next_cursor))
            if page.next_cursor
            else None
        ),
    )
    context = {"nav": "regressions", "user": user, "csrf_token": csrf_token(request)}
    return with_csrf_cookie(request, render(request, "regressions.html", context, model))


# Detail --------------------------------------------------------------------------------------


@router.get("/regressions/{regression_id}")
def regression_page(
    request: Request,
    regression_id: int,
    factory: Factory = Depends(factory_dependency),
    user: User | None = Depends(session_user),
) -> Response:
    """A regression: its plot with the change marked, suspects, status and history."""
    service = factory.create_regression_service()
    detail = service.get(regression_id)
    model = RegressionDetailModel.from_detail(detail, base_url(request))
    context: dict[str, Any] = {
        "nav": "regressions",
        "user": user,
        "csrf_token": csrf_token(request),
        "statuses": STATUSES,
    }
    if not wants_json(request):
        _, unit, values = service.series_values(detail.regression.series.series_key)
        context["plot"] = regression_plot(detail.regression, values, unit, "regression-plot")
        context["bokeh"] = True
    return with_csrf_cookie(request, render(request, "regression.html", context, model))


@router.post("/regressions/{regression_id}")
def regression_form(
    request: Request,
    regression_id: int,
    status: str | None = Form(None),
    note: str | None = Form(None),
    form_csrf: str | None = Form(None, alias="csrf_token"),
    factory: Factory = Depends(factory_dependency),
    user: User | None = Depends(session_user),
) -> Response:
    """The status form of the detail page (needs a log-in and the CSRF token)."""
    check_csrf(request, form_csrf)
    if user is None:
        raise AuthenticationError("Log in (at /login, with an API token) to change a status.")
    factory.create_regression_service().update_status(
        regression_id, user, status=status or None, note=note
    )
    return RedirectResponse(f"/regressions/{regression_id}", status_code=303)


# Log-in --------------------------------------------------------------------------------------


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
    """Check the token and keep it in the session cookie."""
    check_csrf(request, form_csrf)
    try:
        factory.create_auth_service().authenticate(token.strip())
    except AuthenticationError as exc:
        model = LoginPageModel(user=None, next=_safe_next(next))
        context = {"nav": None, "csrf_token": csrf_token(request), "error": exc.message}
        return render(request, "regressions_login.html", context, model, status_code=401)
    response = RedirectResponse(_safe_next(next), status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        token.strip(),
        max_age=_SESSION_DAYS * 86400,
        httponly=True,
        samesite="strict",
        secure=secure_cookies(request),
        path="/",
    )
    return response


@router.post("/logout")
def logout(request: Request, form_csrf: str | None = Form(None, alias="csrf_token")) -> Response:
    """Forget the session cookie."""
    check_csrf(request, form_csrf)
    response = RedirectResponse("/regressions", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response
