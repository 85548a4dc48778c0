"""Metric pages: the list (``/metrics``), one metric's history, its per-dataId values."""

from __future__ import annotations

from typing import Any, Literal
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Depends, Query, Request, Response

from ...dependencies import factory_dependency
from ...factory import Factory
from ...services.dashboard import PERIODS, MetricQuery
from .._params import parse_data_id
from ._format import data_id_text
from ._metric_point_model import MetricPointModel
from ._plots import dataid_plot, metric_plot
from ._render import PageRoute, render
from .models import (
    AnalysisSettingsModel,
    DataIdPageModel,
    MetricListPageModel,
    MetricPageModel,
)

__all__ = ["router"]

router = APIRouter(route_class=PageRoute)


def _text(value: str | None) -> str | None:
    """A query value; an empty form field means "any"."""
    return value.strip() or None if value is not None else None


def _data_id(text: str | None) -> dict[str, Any] | None:
    return parse_data_id(_text(text))


@router.get("/metrics")
def metric_list(
    request: Request,
    q: str | None = Query(None, description="Search in names, descriptions and tags."),
    factory: Factory = Depends(factory_dependency),
) -> Response:
    """Every metric, by package (JSON clients without ``?format=`` get SQuaSH's list)."""
    groups = factory.create_dashboard_service().metric_groups(_text(q))
    model = MetricListPageModel.from_domain(groups, _text(q))
    return render(request, "metrics.html", {"nav": "metrics"}, model)


@router.get("/metrics/{name}")
def metric_page(
    request: Request,
    name: str,
    dataset: str | None = Query(None),
    data_id: str | None = Query(None, description='A dataId as JSON: {"band": "i"}.'),
    band: str | None = Query(None),
    environment: str | None = Query(None),
    period: str = Query("1y", description=f"One of {', '.join(PERIODS)}."),
    x: Literal["time", "commit"] = Query("time"),
    view: Literal["time", "branch"] = Query("time"),
    branch: list[str] | None = Query(None, description="Branches to draw (default: all)."),
    spec: list[str] | None = Query(None, description="Specifications to draw."),
    last: int = Query(10, ge=1, le=500, description="By-branch view: points per branch."),
    factory: Factory = Depends(factory_dependency),
) -> Response:
    """A metric's history: plot, thresholds, filters."""
    query = MetricQuery(
        dataset=_text(dataset),
        data_id=_data_id(data_id),
        band=_text(band),
        environment=_text(environment),
        period=_text(period) or "1y",
        x=x,
        view=view,
        branches=[b for b in branch or [] if b.strip()] or None,
        specs=[s for s in spec or [] if s.strip()] or None,
        last=last,
    )
    result = factory.create_dashboard_service().metric_view(name, query)
    request, dropped = _without_stale_filters(request, query, result.query)
    context = {
        "nav": "metrics",
        "bokeh": True,
        "view": result,
        "periods": list(PERIODS),
        "plot_json": metric_plot(result),
        "dataids_url": _dataids_url(
            name, result.series.dataset if result.series else None, query.band
        ),
        "analysis": AnalysisSettingsModel.from_domain(result.analysis, result.metric.direction),
        "dropped": dropped,
        "page_url": str(request.url.path) + (f"?{request.url.query}" if request.url.query else ""),
        "point_url": _point_url(name, result.series.series_key if result.series else None),
    }
    return render(request, "metric.html", context, lambda: MetricPageModel.from_domain(result))


def _without_stale_filters(
    request: Request, asked: MetricQuery, used: MetricQuery
) -> tuple[Request, list[str]]:
    """The request without the filters the service dropped (a band, dataId or branch
    kept from another choice that this one makes impossible), so that the page's links
    and permalink leave them out, and what was dropped (``branch=(no branch)``)."""
    dropped = []
    if asked.band != used.band:
        dropped.append(f"band={asked.band}")
    if asked.data_id != used.data_id:
        dropped.append(f"dataId {data_id_text(asked.data_id)}")
    lost = [b for b in asked.branches or [] if b not in (used.branches or [])]
    dropped += [f"branch={b}" for b in lost]
    if not dropped:
        return request, []
    stale = {"band"} if asked.band != used.band else set()
    stale |= {"data_id"} if asked.data_id != used.data_id else set()
    params = [
        (k, v)
        for k, v in request.query_params.multi_items()
        if k not in stale and not (k == "branch" and v in lost)
    ]
    scope = {**request.scope, "query_string": urlencode(params).encode()}
    return Request(scope, request.receive), dropped


def _point_url(name: str, series_key: str | None) -> str:
    """Where the page fetches a selected point's panel (``&job=`` and ``&base=`` follow)."""
    return f"/metrics/{quote(name)}/point?" + urlencode({"series": series_key or ""})


@router.get("/metrics/{name}/point")
def metric_point(
    request: Request,
    name: str,
    job: int | None = Query(None, description="The point's job (default: the newest)."),
    base: int | None = Query(
        None, description="The previous point's job (default: the previous comparable job)."
    ),
    series: str | None = Query(None, description="The series key (default: any of the job's)."),
    factory: Factory = Depends(factory_dependency),
) -> Response:
    """A point of a metric's series: its job, value and the code changes since the
    previous point (the metric page shows it under the plot when a point is selected)."""
    point = factory.create_dashboard_service().metric_point(
        name, job, series_key=_text(series), base_id=base
    )
    context = {"nav": "metrics", "point": point}
    return render(request, "metric_point.html", context, MetricPointModel.from_domain(point))


def _dataids_url(name: str, dataset: str | None, band: str | None) -> str:
    params = urlencode({k: v for k, v in (("dataset", dataset), ("band", band)) if v})
    return f"/metrics/{quote(name)}/dataids" + (f"?{params}" if params else "")


@router.get("/metrics/{name}/dataids")
def dataid_page(
    request: Request,
    name: str,
    dataset: str | None = Query(None),
    band: str | None = Query(None),
    job: int | None = Query(None, description="The job (default: the newest measuring it)."),
    spec: list[str] | None = Query(None, description="The specification to colour against."),
    factory: Factory = Depends(factory_dependency),
) -> Response:
    """A metric's values per dataId in one job: table and grid."""
    result = factory.create_dashboard_service().dataid_view(
        name,
        dataset=_text(dataset),
        band=_text(band),
        job_id=job,
        specs=[s for s in spec or [] if s.strip()] or None,
    )
    context = {"nav": "metrics", "bokeh": True, "view": result, "plot_json": dataid_plot(result)}
    return render(request, "dataids.html", context, DataIdPageModel.from_domain(result))
