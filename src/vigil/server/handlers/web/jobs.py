"""Job pages: the list (``/jobs``) and one job (``/jobs/{id}``)."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Depends, Query, Request, Response

from ...dependencies import factory_dependency, process_context
from ...domain import parse_decimal
from ...factory import Factory
from ...storage import JobFilter
from ._blob_plots import blob_drawings
from ._explore_links import drill_down_links
from ._format import repository_url
from ._render import PageRoute, render, wants_json
from .models import JobListPageModel, JobPageModel

__all__ = ["router"]

router = APIRouter(route_class=PageRoute)


def _text(value: str | None) -> str | None:
    return value.strip() or None if value is not None else None


@router.get("/jobs")
def job_list(
    request: Request,
    branch: str | None = Query(None),
    dataset: str | None = Query(None),
    environment: str | None = Query(None),
    instrument: str | None = Query(None),
    commit: str | None = Query(None, description="A commit SHA or its prefix."),
    pull_request: str | None = Query(None),
    since: datetime | None = Query(None),
    until: datetime | None = Query(None),
    limit: int = Query(50, ge=1, le=500),
    cursor: str | None = Query(None),
    factory: Factory = Depends(factory_dependency),
) -> Response:
    """Jobs, newest first (JSON clients without ``?format=`` get SQuaSH's job ids)."""
    pr = _text(pull_request)
    filters = JobFilter(
        branch=_text(branch),
        dataset=_text(dataset),
        environment=_text(environment),
        instrument=_text(instrument),
        commit=_text(commit),
        pull_request=parse_decimal(pr.lstrip("#")) if pr else None,
        since=since,
        until=until,
    )
    limit = min(limit, process_context(request).settings.page_size_max)
    view = factory.create_dashboard_service().job_list(filters, limit=limit, cursor=_text(cursor))
    state = {k: v for k, v in _fields(filters).items() if v is not None}
    model = JobListPageModel.from_domain(view, state)
    return render(request, "jobs.html", {"nav": "jobs", "view": view, "filters": state}, model)


def _fields(filters: JobFilter) -> dict[str, object]:
    return {name: getattr(filters, name) for name in JobFilter.__dataclass_fields__}


@router.get("/jobs/{job_id}")
def job_page(
    request: Request,
    job_id: int,
    factory: Factory = Depends(factory_dependency),
) -> Response:
    """A job: environment, links, code changes, verdicts, drill-down plots, artifacts.

    ``?blob_x.<identifier>=<datum>`` and ``?blob_y.<identifier>=<datum>`` choose the
    arrays a blob's plot shows.
    """
    view = factory.create_dashboard_service().job_view(job_id)
    if wants_json(request):
        # The twin carries the blobs' data, not their figures: nothing to draw.
        return render(request, "job.html", {}, JobPageModel.from_domain(view))
    choice = {
        b.identifier: (
            request.query_params.get(f"blob_x.{b.identifier}") or None,
            request.query_params.get(f"blob_y.{b.identifier}") or None,
        )
        for b in view.blobs
        if f"blob_x.{b.identifier}" in request.query_params
        or f"blob_y.{b.identifier}" in request.query_params
    }
    drawings = blob_drawings(view.detail.summary, view.blobs, choice, view.detail.measurements)
    context = {
        "nav": "jobs",
        "bokeh": drawings.has_plots,
        "view": view,
        "drawings": drawings,
        "repo_url": repository_url(view.detail.meta),
        "drill_links": drill_down_links(
            view.detail.meta,
            [(row.value.metric_name, row.value.data_id) for row in view.measurements],
            process_context(request).settings.explore_roots,
        ),
    }
    return render(request, "job.html", context, lambda: JobPageModel.from_domain(view))
