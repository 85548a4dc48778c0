"""The overview page (``/``): counts, latest jobs, failing specifications.

Other pages add a section to it by appending to `OVERVIEW_SECTIONS` a function that,
given the request's `Factory`, returns ``(template name, context)`` or None to skip;
the template is included below the counts, its context under ``section``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Depends, Request, Response

from ...dependencies import factory_dependency
from ...factory import Factory
from ._render import PageRoute, render
from .models import OverviewModel

__all__ = ["OVERVIEW_SECTIONS", "router"]

router = APIRouter(route_class=PageRoute)

OVERVIEW_SECTIONS: list[Callable[[Factory], tuple[str, dict[str, Any]] | None]] = []
"""Extra sections of the overview (open regressions...), in order."""


@router.get("/")
def overview(request: Request, factory: Factory = Depends(factory_dependency)) -> Response:
    """The overview (JSON clients without ``?format=json`` get the SQuaSH endpoint map)."""
    view = factory.create_dashboard_service().overview()
    sections = [s for s in (make(factory) for make in OVERVIEW_SECTIONS) if s is not None]
    context = {"nav": "overview", "view": view, "sections": sections}
    return render(request, "overview.html", context, OverviewModel.from_domain(view))
