"""The overview page (``/``): key metrics, open regressions, failures, latest jobs.

Other pages add a section to it by appending to `OVERVIEW_SECTIONS` a function that,
given the request's `Factory`, returns ``(template name, context)`` or None to skip;
the template is included below the counts, its context under ``section``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Depends, Request, Response

from ...dependencies import factory_dependency
from ...domain.regressions import RegressionFilter, RegressionStatus
from ...factory import Factory
from ._overview_models import OVERVIEW_REGRESSIONS, key_metric_url, metric_url
from ._overview_plots import sparkline
from ._render import PageRoute, render, wants_json
from .models import OverviewModel

__all__ = ["OVERVIEW_SECTIONS", "router"]

router = APIRouter(route_class=PageRoute)

OVERVIEW_SECTIONS: list[Callable[[Factory], tuple[str, dict[str, Any]] | None]] = []
"""Extra sections of the overview, in order."""


@router.get("/")
def overview(request: Request, factory: Factory = Depends(factory_dependency)) -> Response:
    """The overview (JSON clients without ``?format=json`` get the SQuaSH endpoint map)."""
    view = factory.create_dashboard_service().overview()
    # Read on every request: triage changes a record's status without any new job.
    groups, truncated = factory.create_regression_service().group_regressions(
        RegressionFilter(status=RegressionStatus.OPEN), "commit", limit=OVERVIEW_REGRESSIONS
    )
    model = OverviewModel.from_domain(view, groups, truncated)
    context: dict[str, Any] = {"nav": "overview", "view": view}
    if not wants_json(request):
        context["sections"] = [
            s for s in (make(factory) for make in OVERVIEW_SECTIONS) if s is not None
        ]
        context["sparks"] = [(k, sparkline(k), key_metric_url(k)) for k in view.key_metrics]
        context["metric_url"] = metric_url
    return render(request, "overview.html", context, model)
