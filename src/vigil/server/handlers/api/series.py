"""Series: find them, and read one series' history."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

import orjson
from fastapi import APIRouter, Depends, Query, Request, Response

from ...dependencies import base_url, factory_dependency
from ...factory import Factory
from ...services import SeriesColumnsHistory, SeriesQuery
from .._params import parse_data_id
from ._common import ERRORS, next_url, page_limit
from ._series_arrow import ARROW_STREAM, arrow_stream, wants_arrow
from .models import (
    ErrorModel,
    PageModel,
    SeriesModel,
    SeriesPointColumnsModel,
    SeriesPointsModel,
)

router = APIRouter(tags=["series"])

_DATA_ID = Query(
    None,
    description='A dataId as a JSON object, e.g. ``{"band": "i", "tract": 9813}``.',
)
_POINT_LIMIT = Query(1000, ge=1, description="Points per page (at most VIGIL_PAGE_SIZE_MAX).")


class _PointParams:
    """The filters of a series history, shared by both point endpoints."""

    def __init__(
        self,
        branch: str | None = Query(None, description="Only jobs of this branch."),
        environment: str | None = Query(None, description="Only jobs of this environment."),
        since: datetime | None = Query(None, description="Job time at or after (ISO 8601)."),
        until: datetime | None = Query(None, description="Job time before (ISO 8601)."),
        from_commit: str | None = Query(
            None, description="From the first job of this commit (SHA or prefix)."
        ),
        to_commit: str | None = Query(
            None, description="Up to the last job of this commit (SHA or prefix)."
        ),
        limit: int = _POINT_LIMIT,
        cursor: str | None = Query(None, description="``next_cursor`` of the previous page."),
        form: Literal["rows", "columns"] = Query(
            "rows",
            description="``rows``: ``items``, one object per point; ``columns``: ``columns``,"
            " one array per field. An ``Accept: application/vnd.apache.arrow.stream`` header"
            " gets an Apache Arrow IPC stream instead.",
        ),
    ) -> None:
        self.form = form
        self.query = SeriesQuery(
            branch=branch,
            environment=environment,
            since=since,
            until=until,
            from_commit=from_commit,
            to_commit=to_commit,
        )
        self.limit = limit
        self.cursor = cursor


_POINTS_RESPONSES: dict[int | str, dict[str, Any]] = {
    **ERRORS,
    200: {
        "description": "The page, in the form asked for",
        "content": {
            ARROW_STREAM: {
                "schema": {"type": "string", "format": "binary"},
            },
        },
    },
}


def _points_response(
    request: Request, history: SeriesColumnsHistory, params: _PointParams
) -> Response:
    # Rendered by orjson (or pyarrow) straight from the columns the database gave: a
    # page holds up to thousands of points, and building a pydantic model or a
    # datetime per point would cost more than the query.
    base = base_url(request)
    envelope: dict[str, Any] = {
        "series": SeriesModel.from_domain(history.series, base).model_dump(mode="json"),
        "unit": history.unit,
    }
    tail = {
        "next_cursor": history.next_cursor,
        "next_url": next_url(request, history.next_cursor),
    }
    columns = history.columns
    if wants_arrow(request.headers.get("accept")):
        return Response(arrow_stream(columns, {**envelope, **tail}), media_type=ARROW_STREAM)
    if params.form == "columns":
        body = {**envelope, "columns": columns.as_dict(), **tail}
    else:
        body = {**envelope, "items": columns.records(), **tail}
    return Response(orjson.dumps(body), media_type="application/json")


@router.get(
    "/series", response_model=PageModel[SeriesModel], summary="Find series", responses=ERRORS
)
def list_series(
    request: Request,
    metric: str | None = Query(None, description="Only series of this metric."),
    dataset: str | None = Query(None, description="Only series on this dataset."),
    instrument: str | None = Query(None, description="Only series of this instrument."),
    data_id: str | None = _DATA_ID,
    limit: int = Query(100, ge=1, description="Items per page."),
    cursor: str | None = Query(None, description="``next_cursor`` of the previous page."),
    factory: Factory = Depends(factory_dependency),
) -> PageModel[SeriesModel]:
    """Series matching the filters; ``data_id`` matches series whose dataId contains it."""
    page = factory.create_series_service().list_series(
        metric=metric,
        dataset=dataset,
        instrument=instrument,
        data_id=parse_data_id(data_id),
        limit=page_limit(request, limit),
        cursor=cursor,
    )
    base = base_url(request)
    return PageModel[SeriesModel](
        items=[SeriesModel.from_domain(s, base) for s in page.items],
        next_cursor=page.next_cursor,
        next_url=next_url(request, page.next_cursor),
    )


@router.get(
    "/series/points",
    response_model=SeriesPointsModel | SeriesPointColumnsModel,
    summary="History of the series of a metric, dataset and dataId",
    responses={
        **_POINTS_RESPONSES,
        409: {"model": ErrorModel, "description": "Several series match"},
    },
)
def get_points_by_identity(
    request: Request,
    metric: str = Query(..., description="The metric (``package.metric``)."),
    dataset: str | None = Query(None, description="The dataset."),
    instrument: str | None = Query(None, description="The instrument."),
    data_id: str | None = _DATA_ID,
    params: _PointParams = Depends(),
    factory: Factory = Depends(factory_dependency),
) -> Response:
    """Like ``/series/{key}/points``, choosing the series by what it measures."""
    service = factory.create_series_service()
    series = service.resolve(
        metric, dataset=dataset, instrument=instrument, data_id=parse_data_id(data_id)
    )
    history = service.history_columns(
        series.series_key,
        params.query,
        limit=page_limit(request, params.limit),
        cursor=params.cursor,
    )
    return _points_response(request, history, params)


@router.get(
    "/series/{series_key}", response_model=SeriesModel, summary="One series", responses=ERRORS
)
def get_series(
    request: Request, series_key: str, factory: Factory = Depends(factory_dependency)
) -> SeriesModel:
    """A series and how many points it has."""
    series = factory.create_series_service().get(series_key)
    return SeriesModel.from_domain(series, base_url(request))


@router.get(
    "/series/{series_key}/points",
    response_model=SeriesPointsModel | SeriesPointColumnsModel,
    summary="History of one series",
    responses=_POINTS_RESPONSES,
)
def get_points(
    request: Request,
    series_key: str,
    params: _PointParams = Depends(),
    factory: Factory = Depends(factory_dependency),
) -> Response:
    """Points of a series in job order, filtered by branch, environment, time or commits.

    Three forms of the same page: rows (default), ``form=columns``, or an Arrow IPC
    stream for ``Accept: application/vnd.apache.arrow.stream``.
    """
    history = factory.create_series_service().history_columns(
        series_key,
        params.query,
        limit=page_limit(request, params.limit),
        cursor=params.cursor,
    )
    return _points_response(request, history, params)
