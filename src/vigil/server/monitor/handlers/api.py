"""The live monitor's API: runners' events in, processings, history, trends and streams out."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, time, timedelta

from fastapi import APIRouter, Depends, Header, Query, Request, Response
from fastapi.sse import EventSourceResponse, ServerSentEvent

from ...dependencies import base_url, factory_dependency, read_access, require_role
from ...domain import Role, User, parse_decimal
from ...exceptions import InvalidRequestError
from ...factory import Factory
from ...handlers._live import check_read_access, event_stream, live_feed
from ...handlers.api._common import ERRORS, Limit, page_limit, unprocessable
from ..domain import (
    CONDITIONS,
    EXPOSURE_SORTS,
    HISTORY_SORTS,
    Alert,
    Comment,
    ConditionPoint,
    EventBatch,
    ExposureSeen,
    HistoryFilter,
    PipelineInfo,
    TrendSeries,
)
from .models import (
    AlertModel,
    ClaimedModel,
    ClaimInModel,
    CommentInModel,
    CommentModel,
    ConditionPointModel,
    ConditionsModel,
    EventBatchModel,
    EventsAppliedModel,
    ExposureInModel,
    ExposureModel,
    ExposurePageModel,
    LiveModel,
    PipelineModel,
    ProcessingClearedModel,
    ProcessingDetailModel,
    ProcessingPageModel,
    ProcessingSummaryModel,
    StateInModel,
    TrendModel,
    TrendSeriesModel,
)

__all__ = [
    "PRESETS",
    "FromQuery",
    "ToQuery",
    "conditions_model",
    "history_filter",
    "live_state",
    "page_url",
    "preset_range",
    "router",
    "stream_router",
    "trend_model",
]

router = APIRouter(prefix="/api", tags=["monitor"], dependencies=[Depends(read_access)])
stream_router = APIRouter(prefix="/api", tags=["monitor"])
"""Streaming endpoints: no request-long database session, access checked at the start."""

PRESETS: dict[str, timedelta | None] = {
    "24h": timedelta(hours=24),
    "7d": timedelta(days=7),
    "30d": timedelta(days=30),
    "90d": timedelta(days=90),
    "1y": timedelta(days=365),
    "all": None,
}
"""Date presets of the trend and history pages."""


def _day(value: str | None, name: str) -> date | None:
    """A day typed in a form (empty: none)."""
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InvalidRequestError(
            f"{name}={value!r} is not a day; write it as YYYY-MM-DD.", field=name
        ) from None


def preset_range(
    preset: str | None,
    since: datetime | None,
    until: datetime | None,
    first_day: str | None = None,
    last_day: str | None = None,
) -> tuple[datetime | None, datetime | None]:
    """``since``/``until`` from a date preset (``24h``, ``7d``, ``30d``, ``90d``, ``1y``,
    ``all``), else from the days *first_day* to *last_day* (both included, UTC), else as
    given.

    Raises
    ------
    InvalidRequestError
        The preset is unknown, a day is not YYYY-MM-DD, or the range ends before it
        starts.
    """
    first, last = _day(first_day, "from"), _day(last_day, "to")
    if first is not None:
        since = datetime.combine(first, time.min, UTC)
    if last is not None:
        until = datetime.combine(last + timedelta(days=1), time.min, UTC)
    if since is not None and until is not None and until <= since:
        raise InvalidRequestError(
            "The date range ends before it starts; swap 'from' and 'to'.", field="to"
        )
    if preset is None or preset == "" or first is not None or last is not None:
        return since, until
    if preset not in PRESETS:
        raise InvalidRequestError(
            f"Unknown date preset {preset!r}; use one of {', '.join(PRESETS)}.", field="preset"
        )
    span = PRESETS[preset]
    return (None if span is None else datetime.now(UTC) - span), until


FromQuery = Query(None, alias="from", description="From this day (UTC, YYYY-MM-DD).")
ToQuery = Query(None, alias="to", description="To this day, included (UTC, YYYY-MM-DD).")
OrderQuery = Query("desc", pattern="^(asc|desc)$", description="asc or desc.")
CursorQuery = Query(
    None, description="``next_cursor`` of the previous page: the way to page (wins over offset)."
)
OffsetQuery = Query(
    0, ge=0, description="Rows to skip; kept for compatibility, page with ``cursor`` instead."
)


def page_url(request: Request, cursor: str | None) -> str | None:
    """The URL of the next page: this request's URL with ``cursor`` set and no ``offset``."""
    if cursor is None:
        return None
    url = request.url.remove_query_params("offset").include_query_params(cursor=cursor)
    return base_url(request) + url.path + ("?" + url.query if url.query else "")


@router.post(
    "/monitor/events",
    response_model=EventsAppliedModel,
    summary="Apply a runner's batch of events",
    responses={**ERRORS, 422: unprocessable("An event is malformed; nothing was applied")},
)
def post_events(
    batch: EventBatchModel,
    user: User = Depends(require_role(Role.SUBMITTER)),
    factory: Factory = Depends(factory_dependency),
) -> EventsAppliedModel:
    """Apply the batch's events in order, once per ``(source, sequence)``."""
    domain = EventBatch(
        source=batch.source,
        sequence=batch.sequence,
        events=[event.to_domain() for event in batch.events],
    )
    result = factory.create_monitor_event_service().apply(domain, user)
    return EventsAppliedModel(
        applied=result.applied, duplicate=result.duplicate, control=result.control
    )


@router.get(
    "/monitor/pipelines",
    response_model=list[PipelineModel],
    summary="Monitored pipelines",
    responses=ERRORS,
)
def list_pipelines(factory: Factory = Depends(factory_dependency)) -> list[PipelineModel]:
    """Every pipeline a runner announced, with its wanted state."""
    return [PipelineModel.model_validate(p) for p in factory.create_monitor_service().pipelines()]


@router.get(
    "/monitor/pipelines/{name}",
    response_model=PipelineModel,
    summary="One pipeline",
    responses=ERRORS,
)
def get_pipeline(name: str, factory: Factory = Depends(factory_dependency)) -> PipelineModel:
    """A pipeline's description (units, steps per flavor, trends) and state."""
    return PipelineModel.model_validate(factory.create_monitor_service().get_pipeline(name))


@router.put(
    "/monitor/pipelines/{name}/state",
    response_model=PipelineModel,
    summary="Run or stop a pipeline",
    responses=ERRORS,
)
def put_state(
    name: str,
    body: StateInModel,
    user: User = Depends(require_role(Role.OPERATOR)),
    factory: Factory = Depends(factory_dependency),
) -> PipelineModel:
    """Ask the pipeline's runner to run or stop; it obeys at its next report (seconds)."""
    info: PipelineInfo = factory.create_monitor_service().set_state(name, body.state, user)
    return PipelineModel.model_validate(info)


@router.post(
    "/monitor/pipelines/{name}/claim",
    response_model=ClaimedModel,
    summary="Take queued exposures (runners)",
    responses={**ERRORS, 204: {"description": "Nothing queued"}},
)
def claim(
    name: str,
    body: ClaimInModel,
    user: User = Depends(require_role(Role.SUBMITTER)),
    factory: Factory = Depends(factory_dependency),
) -> ClaimedModel | Response:
    """The oldest queued exposures of the pipeline, each given to one runner only."""
    items = factory.create_monitor_service().claim(name, body.limit)
    if not items:
        return Response(status_code=204)
    return ClaimedModel(items=[ExposureModel.model_validate(e) for e in items])


@router.post(
    "/monitor/exposures",
    response_model=ExposureModel,
    status_code=201,
    summary="Queue an exposure",
    responses=ERRORS,
)
def post_exposure(
    body: ExposureInModel,
    user: User = Depends(require_role(Role.OPERATOR)),
    factory: Factory = Depends(factory_dependency),
) -> ExposureModel:
    """Queue an exposure for a runner configured with ``exposures.source: api``."""
    event = ExposureSeen(time=datetime.now(UTC), **body.model_dump())
    return ExposureModel.model_validate(factory.create_monitor_service().submit_exposure(event))


@router.get(
    "/monitor/exposures",
    response_model=ExposurePageModel,
    summary="Observing history",
    responses=ERRORS,
)
def list_exposures(
    request: Request,
    pipeline: str | None = Query(None, description="Only this pipeline's exposures."),
    flavor: str | None = Query(None, description="science, arc, flat..."),
    program: str | None = Query(None, description="dark, bright..."),
    preset: str | None = Query(None, description="24h, 7d, 30d, 90d, 1y or all."),
    since: datetime | None = Query(None, description="Observed at or after."),
    until: datetime | None = Query(None, description="Observed before."),
    first_day: str | None = FromQuery,
    last_day: str | None = ToQuery,
    sort: str = Query("id", description="Column: " + ", ".join(EXPOSURE_SORTS) + "."),
    order: str = OrderQuery,
    limit: int = Limit,
    cursor: str | None = CursorQuery,
    offset: int = OffsetQuery,
    factory: Factory = Depends(factory_dependency),
) -> ExposurePageModel:
    """Every exposure seen with its most recent processing's QA, newest first or sorted by
    a column (NULLs last, then by id), a page at a time."""
    since, until = preset_range(preset, since, until, first_day, last_day)
    limit = page_limit(request, limit)
    page = factory.create_monitor_service().exposures(
        pipeline=pipeline,
        flavor=flavor,
        program=program,
        since=since,
        until=until,
        limit=limit,
        cursor=cursor,
        offset=offset,
        sort=sort,
        descending=order == "desc",
    )
    return ExposurePageModel.from_page(
        page, limit=limit, next_url=page_url(request, page.next_cursor)
    )


def history_filter(
    pipeline: str | None = Query(None, description="Only this pipeline."),
    status: str | None = Query(None, description="running, succeeded, failed or stopped."),
    qa_status: str | None = Query(None, description="normal, warning, alarm or missing."),
    flavor: str | None = Query(None, description="science, arc, flat..."),
    program: str | None = Query(None, description="dark, bright..."),
    exposure: str | None = Query(None, description="Exposure id or part of it."),
    preset: str | None = Query(None, description="24h, 7d, 30d, 90d, 1y or all."),
    since: datetime | None = Query(None, description="Started at or after."),
    until: datetime | None = Query(None, description="Started before."),
    first_day: str | None = FromQuery,
    last_day: str | None = ToQuery,
) -> HistoryFilter:
    """The history's filters, from the query string."""
    since, until = preset_range(preset, since, until, first_day, last_day)
    return HistoryFilter(
        pipeline=pipeline or None,
        status=status or None,
        qa_status=qa_status or None,
        flavor=flavor or None,
        program=program or None,
        exposure=exposure or None,
        since=since,
        until=until,
    )


SortQuery = Query("id", description="Column: " + ", ".join(HISTORY_SORTS) + ".")


@router.get(
    "/monitor/processings",
    response_model=ProcessingPageModel,
    summary="Processing history",
    responses=ERRORS,
)
def list_processings(
    request: Request,
    filters: HistoryFilter = Depends(history_filter),
    sort: str = SortQuery,
    order: str = OrderQuery,
    limit: int = Limit,
    cursor: str | None = CursorQuery,
    offset: int = OffsetQuery,
    factory: Factory = Depends(factory_dependency),
) -> ProcessingPageModel:
    """Processings, filtered, sorted by any column (NULLs last, then by id), a page at a
    time."""
    limit = page_limit(request, limit)
    page = factory.create_monitor_service().history(
        filters,
        sort=sort,
        descending=order == "desc",
        limit=limit,
        cursor=cursor,
        offset=offset,
    )
    return ProcessingPageModel.from_page(
        page, limit=limit, next_url=page_url(request, page.next_cursor), sort=sort, order=order
    )


@router.get(
    "/monitor/processings/{processing_id}",
    response_model=ProcessingDetailModel,
    summary="One processing",
    responses=ERRORS,
)
def get_processing(
    processing_id: int, factory: Factory = Depends(factory_dependency)
) -> ProcessingDetailModel:
    """A processing with its units, steps, QA values (with ranges) and comments."""
    detail = factory.create_monitor_service().get_processing(processing_id)
    return ProcessingDetailModel.from_domain(detail)


@router.post(
    "/monitor/processings/{processing_id}/comments",
    response_model=CommentModel,
    status_code=201,
    summary="Comment on a processing",
    responses=ERRORS,
)
def post_comment(
    processing_id: int,
    body: CommentInModel,
    user: User = Depends(require_role(Role.TRIAGER)),
    factory: Factory = Depends(factory_dependency),
) -> CommentModel:
    """Add a comment (signed with the token's user)."""
    comment: Comment = factory.create_monitor_service().add_comment(processing_id, body.text, user)
    return CommentModel.model_validate(comment)


@router.post(
    "/monitor/processings/{processing_id}/clear",
    response_model=ProcessingClearedModel,
    summary="Clear a processing's logs and reduction files",
    responses=ERRORS,
)
def clear_processing(
    processing_id: int,
    user: User = Depends(require_role(Role.ADMIN)),
    factory: Factory = Depends(factory_dependency),
) -> ProcessingClearedModel:
    """Delete an ended processing's log lines and processes, and its units' reduction
    folders when they lie under ``VIGIL_MONITOR_OUTPUT_ROOTS`` and name the exposure
    (``cleared.files_note`` says why others are kept); the processing, its QA values and
    comments stay. Recorded in the audit log as ``processing.clear``."""
    done = factory.create_monitor_service().clear_processing(processing_id, user)
    return ProcessingClearedModel.from_domain(done)


def live_state(request: Request, factory: Factory, pipeline: str | None) -> LiveModel:
    """The live page's data (shared by the API and the page)."""
    service = factory.create_monitor_service()
    last_id = live_feed(request).last_id
    pipelines = service.pipelines()
    if pipeline is None and len(pipelines) == 1:
        pipeline = pipelines[0].name
    current = service.latest(pipeline)
    alerts: list[Alert] = service.alerts(pipeline)
    return LiveModel(
        pipeline=pipeline,
        pipelines=[PipelineModel.model_validate(p) for p in pipelines],
        current=None if current is None else ProcessingDetailModel.from_domain(current),
        recent=[ProcessingSummaryModel.model_validate(p) for p in service.recent(pipeline)],
        alerts=[AlertModel.model_validate(a) for a in alerts],
        last_event_id=last_id,
    )


@router.get("/monitor/live", response_model=LiveModel, summary="Live state", responses=ERRORS)
def get_live(
    request: Request,
    pipeline: str | None = Query(None, description="The pipeline (default: the only one)."),
    factory: Factory = Depends(factory_dependency),
) -> LiveModel:
    """The current processing, alerts and the live event id they are current to."""
    return live_state(request, factory, pipeline)


def trend_model(
    factory: Factory,
    *,
    pipeline: str | None,
    key: str,
    units: list[str],
    element: int | None,
    since: datetime | None,
    until: datetime | None,
) -> TrendModel:
    """QA values over time (shared by the API and the page)."""
    series: list[TrendSeries] = factory.create_monitor_service().trend(
        pipeline=pipeline, key=key, units=units, element=element, since=since, until=until
    )
    return TrendModel(
        key=key,
        element=element,
        since=since,
        until=until,
        series=[TrendSeriesModel.model_validate(s) for s in series],
    )


@router.get("/monitor/trends", response_model=TrendModel, summary="QA trends", responses=ERRORS)
def get_trends(
    key: str = Query(..., description="QA key, e.g. NOISE_AMP."),
    pipeline: str | None = Query(None, description="Only this pipeline."),
    unit: list[str] = Query([], description="Units (repeat); default all."),
    element: int | None = Query(None, ge=0, description="Element (amplifier 0-3...)."),
    preset: str | None = Query("30d", description="24h, 7d, 30d, 90d, 1y or all."),
    since: datetime | None = Query(None, description="From (overrides the preset)."),
    until: datetime | None = Query(None, description="Until."),
    factory: Factory = Depends(factory_dependency),
) -> TrendModel:
    """A QA key's values over time, one series per unit (or one element of each value)."""
    since, until = (since, until) if since else preset_range(preset, since, until)
    return trend_model(
        factory,
        pipeline=pipeline,
        key=key,
        units=unit,
        element=element,
        since=since,
        until=until,
    )


def conditions_model(
    factory: Factory,
    *,
    pipeline: str | None,
    x: str,
    y: str,
    flavor: str | None,
    since: datetime | None,
    until: datetime | None,
) -> ConditionsModel:
    """Observing conditions and the fit of y against x (shared by the API and the page).

    Raises
    ------
    InvalidRequestError
        x or y is not a condition.
    """
    from ..domain import linear_fit

    for name, value in (("x", x), ("y", y)):
        if value not in CONDITIONS:
            raise InvalidRequestError(
                f"{name}={value!r} is not a condition; use one of {', '.join(CONDITIONS)}.",
                field=name,
            )
    points: list[ConditionPoint] = factory.create_monitor_service().conditions(
        pipeline=pipeline, since=since, until=until, flavor=flavor
    )
    pairs = [(p.get(x), p.get(y)) for p in points]
    xs = [float(a) for a, b in pairs if a is not None and b is not None]
    ys = [float(b) for a, b in pairs if a is not None and b is not None]
    fit = linear_fit(xs, ys)
    return ConditionsModel(
        x=x,
        y=y,
        since=since,
        until=until,
        points=[ConditionPointModel.model_validate(p) for p in points],
        fit=None
        if fit is None
        else {"slope": fit.slope, "intercept": fit.intercept, "r": fit.r, "n": fit.n},
    )


@router.get(
    "/monitor/conditions",
    response_model=ConditionsModel,
    summary="Observing conditions",
    responses=ERRORS,
)
def get_conditions(
    pipeline: str | None = Query(None, description="Only this pipeline."),
    x: str = Query("airmass", description="One of " + ", ".join(CONDITIONS) + "."),
    y: str = Query("seeing", description="One of " + ", ".join(CONDITIONS) + "."),
    flavor: str | None = Query(None, description="Only this flavor."),
    preset: str | None = Query("30d", description="24h, 7d, 30d, 90d, 1y or all."),
    since: datetime | None = Query(None, description="From (overrides the preset)."),
    until: datetime | None = Query(None, description="Until."),
    factory: Factory = Depends(factory_dependency),
) -> ConditionsModel:
    """Airmass, seeing, sky brightness and exposure time per exposure; y fitted against x."""
    since, until = (since, until) if since else preset_range(preset, since, until)
    return conditions_model(
        factory, pipeline=pipeline, x=x, y=y, flavor=flavor, since=since, until=until
    )


def _start_id(since: int | None, last_event_id: str | None) -> int | None:
    if since is not None:
        return since
    return parse_decimal(last_event_id)


@stream_router.get(
    "/monitor/stream",
    response_class=EventSourceResponse,
    # Checked before the stream starts: a refused token is a 401, not a broken stream.
    dependencies=[Depends(check_read_access)],
    summary="Live events (server-sent events)",
    responses=ERRORS,
)
async def stream(
    request: Request,
    pipeline: str | None = Query(None, description="Only this pipeline's events."),
    run: int | None = Query(None, description="Also the log lines of this log run."),
    unit: str | None = Query(None, description="Only the log lines of this unit."),
    logs: bool = Query(False, description="Also every log line of the pipeline's processings."),
    since: int | None = Query(None, description="Replay events after this id first."),
    last_event_id: str | None = Header(None, description="Sent by EventSource on reconnect."),
) -> AsyncIterator[ServerSentEvent]:
    """``text/event-stream`` of pipeline, exposure, processing, unit, step, qa, alert and
    log events; ``reset`` tells the client to reload its state."""
    check_read_access(request)
    topics = {f"monitor:{pipeline}"} if pipeline else {"monitor"}
    if logs and pipeline:
        topics.add(f"monitor-log:{pipeline}")
    if run is not None:
        topics.add(f"log:{run}:{unit}" if unit else f"log:{run}")
    async for item in event_stream(request, topics, _start_id(since, last_event_id)):
        yield item
