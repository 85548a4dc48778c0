"""The regression pages: ``/regressions``, ``/regressions/{id}`` with triage.

Forms need a logged-in user with the role of what they change (the status form: triager;
see `vigil.server.handlers.web.login`). Every form carries a CSRF token that must equal
the value of the ``vigil_csrf`` cookie (double submit, `vigil.server.handlers.web.csrf`),
so a page of another site cannot post them.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel, Field

from ...dependencies import SESSION_COOKIE, base_url, factory_dependency, require_role, session_user
from ...domain import Role, User
from ...domain.regressions import GROUPINGS, KINDS, STATUSES
from ...factory import Factory
from ..api.regressions import (
    RegressionDetailModel,
    RegressionGroupModel,
    RegressionModel,
    regression_filter,
)
from ._regression_plot import regression_plot
from ._render import NAV_ITEMS, NavItem, PageRoute, render, wants_json
from .csrf import check_csrf, csrf_token, with_csrf_cookie
from .login import page_read_access

__all__ = ["SESSION_COOKIE", "page_read_access", "router", "session_user"]

if not any(item.key == "regressions" for item in NAV_ITEMS):
    NAV_ITEMS.append(NavItem("regressions", "Regressions", "/regressions"))


router = APIRouter(
    route_class=PageRoute, include_in_schema=False, dependencies=[Depends(page_read_access)]
)


# List ----------------------------------------------------------------------------------------


class RegressionListPageModel(BaseModel):
    """The JSON twin of ``/regressions``."""

    items: list[RegressionModel]
    status: str | None
    kind: str | None
    metric: str | None
    dataset: str | None
    include_dissolved: bool
    job: int | None = None
    group: str | None = Field(None, description="commit or job when grouped.")
    groups: list[RegressionGroupModel] | None = None
    truncated: bool = False
    statuses: list[str]
    kinds: list[str]
    groupings: list[str] = Field(default_factory=lambda: list(GROUPINGS))
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
    job: int | None = Query(None),
    group: str | None = Query(None),
    cursor: str | None = Query(None),
    factory: Factory = Depends(factory_dependency),
    user: User | None = Depends(session_user),
) -> Response:
    """Regressions, newest first (or grouped by commit or job), filtered by status, kind,
    metric, dataset and job."""
    filters = regression_filter(status, kind, metric, dataset, None, include_dissolved, job)
    service = factory.create_regression_service()
    base = base_url(request)
    groups = None
    truncated = False
    next_cursor = None
    if group:
        found, truncated = service.group_regressions(filters, group)
        groups = [RegressionGroupModel.from_domain(g, base) for g in found]
        items = [r for g in found for r in g.regressions]
    else:
        page = service.list_regressions(filters, limit=100, cursor=cursor)
        items, next_cursor = page.items, page.next_cursor
    model = RegressionListPageModel(
        items=[RegressionModel.from_domain(r, base) for r in items],
        status=filters.status,
        kind=filters.kind,
        metric=filters.metric,
        dataset=filters.dataset,
        include_dissolved=include_dissolved,
        job=job,
        group=group or None,
        groups=groups,
        truncated=truncated,
        statuses=list(STATUSES),
        kinds=list(KINDS),
        next_cursor=next_cursor,
        next_url=(
            str(request.url.include_query_params(cursor=next_cursor)) if next_cursor else None
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
    user: User = Depends(require_role(Role.TRIAGER, session=True)),
) -> Response:
    """The status form of the detail page (needs a triager's log-in and the CSRF token)."""
    check_csrf(request, form_csrf)
    factory.create_regression_service().update_status(
        regression_id, user, status=status or None, note=note
    )
    return RedirectResponse(f"/regressions/{regression_id}", status_code=303)
