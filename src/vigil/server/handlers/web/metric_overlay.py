"""The overlay page: several series of one metric on one plot (``/metrics/{name}/overlay``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal, cast
from urllib.parse import quote

import orjson
from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, Field

from vigil.plots.overlay import (
    EXPECTED_WIDTH,
    EXPECTED_WINDOW,
    OVERLAY_COLOURS,
    overlay_data,
    overlay_figure,
)

from ...dependencies import factory_dependency
from ...factory import Factory
from ...services.dashboard import PERIODS
from ...services.metric_overlay import (
    BY_DATASET,
    BY_SERIES,
    MATCH_LIMIT,
    MAX_LINES,
    OverlayLine,
    OverlayQuery,
    OverlayView,
)
from .._params import parse_data_id
from ..api.models import MetricModel, SeriesModel
from ._format import series_url
from ._plots import layout_item
from ._render import PageRoute, render
from .models import PointsModel

__all__ = ["OverlayPageModel", "router"]

router = APIRouter(route_class=PageRoute)

_TARGET = "overlay-plot"


@router.get("/metrics/{name}/overlay")
def overlay_page(
    request: Request,
    name: str,
    by: str = Query(
        "band",
        max_length=256,
        description=f"A dataId key (band, patch, tract...), {BY_DATASET} or {BY_SERIES}.",
    ),
    dataset: str | None = Query(None, description="Default: the one with the most series."),
    data_id: str | None = Query(
        None, description='A partial dataId as JSON: {"patch": 40} matches every patch 40.'
    ),
    x: Literal["time", "commit"] = Query("time"),
    period: str = Query("1y", description=f"One of {', '.join(PERIODS)}."),
    branch: str | None = Query(None, description="The branch drawn (default: the main line)."),
    factory: Factory = Depends(factory_dependency),
) -> Response:
    """Series of a metric grouped by a dataId key or dataset, one line each, with their
    expected ranges."""
    query = OverlayQuery(
        by=by.strip() or "band",
        dataset=_text(dataset),
        data_id=parse_data_id(_text(data_id)),
        x=x,
        period=_text(period) or "1y",
        branch=_text(branch),
    )
    view = factory.create_overlay_service().overlay(name, query)
    context = {
        "nav": "metrics",
        "bokeh": True,
        "view": view,
        "periods": list(PERIODS),
        "plot_json": overlay_figure_json(view),
        "data_id_text": _json_text(query.data_id) if query.data_id else "",
        "metric_url": f"/metrics/{quote(name, safe='')}",
        "line_urls": [_metric_url(name, line) for line in view.lines],
        "point_count": sum(len(line.frame) for line in view.lines),
        "colours": OVERLAY_COLOURS,
        "expected_window": EXPECTED_WINDOW,
        "expected_width": f"{EXPECTED_WIDTH:g}",
    }
    return render(
        request, "metric_overlay.html", context, lambda: OverlayPageModel.from_domain(view)
    )


def _text(value: str | None) -> str | None:
    """A query value; an empty form field means "any"."""
    return value.strip() or None if value is not None else None


def _json_text(value: Any) -> str:
    return orjson.dumps(value).decode()


def _metric_url(name: str, line: OverlayLine) -> str:
    """The metric page of one line's series."""
    return series_url(name, line.series.dataset, line.series.data_id)


def overlay_figure_json(view: OverlayView) -> str | None:
    """The overlay's figure as a Bokeh JSON item, or None when no line has a value."""
    if not any(line.frame["value"].notna().any() for line in view.lines):
        return None
    unit = view.metric.unit or None
    data = overlay_data(
        {line.label: line.frame for line in view.lines}, x=view.query.x, main=view.main_branch
    )
    labels = {
        "unit": unit,
        "title": f"{view.metric.name} by {view.query.by}",
        "y_label": f"{view.metric.name} [{unit}]" if unit else None,
    }
    return layout_item(data, overlay_figure, labels, _TARGET)


class ExpectedRangeModel(BaseModel):
    """The robust range of a line's recent main-line values."""

    centre: float = Field(..., description="The median of the recent values.")
    spread: float = Field(..., description="Their robust standard deviation.")
    low: float
    high: float
    count: int = Field(..., description="How many values it summarises.")


class OverlayLineModel(BaseModel):
    """One line of the overlay."""

    label: str
    series: SeriesModel
    url: str = Field(..., description="The metric page of this series.")
    expected: ExpectedRangeModel | None = Field(
        ..., description="Null without main-line values (or when another branch is drawn)."
    )
    others: int = Field(..., description="Series of the same group not drawn.")
    truncated: bool = Field(..., description="More points than a line draws.")
    points: PointsModel


class OverlayStateModel(BaseModel):
    """The page's state, defaults filled in."""

    by: str
    dataset: str | None
    data_id: dict[str, Any] | None
    x: str
    period: str
    branch: str | None


class OverlayPageModel(BaseModel):
    """An overlay page."""

    metric: MetricModel
    state: OverlayStateModel
    lines: list[OverlayLineModel]
    main_branch: str
    matched: int = Field(..., description="Series whose dataId contains the query's.")
    matched_truncated: bool = Field(
        ..., description=f"More than {MATCH_LIMIT:,} series matched; the first were grouped."
    )
    without_key: int = Field(..., description="Matching series without the grouping key.")
    omitted: list[str] = Field(..., description=f"Groups beyond the first {MAX_LINES}, not drawn.")
    since: datetime | None
    message: str | None
    options: dict[str, list[Any]] = Field(
        ..., description="Values the filters offer: keys (by), datasets, data_ids."
    )

    @classmethod
    def from_domain(cls, v: OverlayView) -> OverlayPageModel:
        """Build from the service's view."""
        q = v.query
        name = v.metric.name
        return cls(
            metric=MetricModel.from_domain(v.metric),
            state=OverlayStateModel(
                by=q.by,
                dataset=q.dataset,
                data_id=q.data_id,
                x=q.x,
                period=q.period,
                branch=q.branch,
            ),
            lines=[
                OverlayLineModel(
                    label=line.label,
                    series=SeriesModel.from_domain(line.series, ""),
                    url=_metric_url(name, line),
                    expected=(
                        ExpectedRangeModel(
                            centre=e.centre, spread=e.spread, low=e.low, high=e.high, count=e.count
                        )
                        if (e := line.expected) is not None
                        else None
                    ),
                    others=line.others,
                    truncated=line.truncated,
                    points=_points(line),
                )
                for line in v.lines
            ],
            main_branch=v.main_branch,
            matched=v.matched,
            matched_truncated=v.matched_truncated,
            without_key=v.without_key,
            omitted=v.omitted,
            since=v.since,
            message=v.message,
            options={"keys": v.keys, "datasets": v.datasets, "data_ids": v.data_ids},
        )


def _points(line: OverlayLine) -> PointsModel:
    frame = line.frame

    def column(name: str) -> list[Any]:
        values = frame[name]
        return cast("list[Any]", values.astype(object).where(values.notna(), None).tolist())

    return PointsModel(
        job_id=column("job_id"),
        time=column("time"),
        value=column("value"),
        branch=column("branch"),
        commit_sha=column("commit_sha"),
        pull_request=column("pull_request"),
        environment=column("environment"),
        packages_changed=column("packages_changed"),
    )
