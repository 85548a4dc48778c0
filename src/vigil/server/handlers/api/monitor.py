"""The live monitor's API: runners' events in, processings, history, trends and streams out."""

from __future__ import annotations

import os
import threading
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, Query, Request, Response
from fastapi.sse import EventSourceResponse, ServerSentEvent
from pydantic import BaseModel, ConfigDict, Field
from starlette.datastructures import State

from ...dependencies import factory_dependency, process_context, read_access, require_role
from ...domain import Role, User, parse_decimal
from ...domain.monitor import (
    CONDITIONS,
    HISTORY_SORTS,
    Alert,
    Comment,
    ConditionPoint,
    EventBatch,
    ExposureSeen,
    Heartbeat,
    HistoryFilter,
    MonitorEvent,
    PipelineAnnounced,
    PipelineInfo,
    ProcessingDetail,
    ProcessingEnded,
    ProcessingStarted,
    QaReported,
    StepChanged,
    TrendSeries,
    UnitEnded,
    UnitLogLine,
    UnitStarted,
    UnitView,
)
from ...exceptions import InvalidRequestError
from ...factory import Factory
from ...services.live import LiveFeed
from ._common import ERRORS, Limit, page_limit, unprocessable

__all__ = [
    "PRESETS",
    "AlertModel",
    "CommentModel",
    "ConditionsModel",
    "ExposureModel",
    "ExposurePageModel",
    "LiveModel",
    "PipelineModel",
    "ProcessingDetailModel",
    "ProcessingPageModel",
    "ProcessingSummaryModel",
    "TrendModel",
    "check_read_access",
    "live_broker",
    "preset_range",
    "router",
    "stream_router",
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

_broker_lock = threading.Lock()


def _end_streams_on_shutdown() -> None:
    """Make uvicorn's graceful shutdown end the live streams first.

    Uvicorn waits for open responses to finish before it stops, and a server-sent-events
    stream never finishes by itself: without this, ``vigil serve`` would wait for every
    open live page to go away. The hook closes the broker of the application being
    stopped; browsers reconnect to the next server by themselves.
    """
    try:
        from uvicorn.server import Server
    except ImportError:  # pragma: no cover - another ASGI server
        return
    original = Server.shutdown
    if getattr(original, "_vigil_ends_streams", False):
        return

    async def shutdown(self: Any, *args: Any, **kwargs: Any) -> None:
        # The application, or (``--workers``: built from its import string) the one the
        # loaded middleware stack wraps.
        app = getattr(self.config, "loaded_app", None) or getattr(self.config, "app", None)
        for _ in range(10):
            if app is None or isinstance(getattr(app, "state", None), State):
                break
            app = getattr(app, "app", None)
        feed = getattr(getattr(app, "state", None), "live_feed", None)
        if isinstance(feed, LiveFeed):
            feed.close()
        await original(self, *args, **kwargs)

    shutdown._vigil_ends_streams = True  # type: ignore[attr-defined]
    Server.shutdown = shutdown  # type: ignore[method-assign]


_end_streams_on_shutdown()


def live_broker(request: Request) -> LiveFeed:
    """The application's live event feed (created on first use): services wake it after
    committing live events, streams subscribe to it."""
    state = request.app.state
    feed: LiveFeed | None = getattr(state, "live_feed", None)
    if feed is None:
        with _broker_lock:
            feed = getattr(state, "live_feed", None)
            if feed is None:
                context = process_context(request)
                history = context.settings.live_history
                feed = LiveFeed(
                    context.session_maker, history=history, queue_size=max(1000, history // 2)
                )
                state.live_feed = feed
    return feed


def check_read_access(request: Request) -> None:
    """`read_access` for endpoints that must not hold a session: check, then let go."""
    context = process_context(request)
    with context.session_maker() as session:
        from ...dependencies.auth import optional_user

        user = optional_user(request, Factory(context, session))
        read_access(request, user)


def preset_range(
    preset: str | None, since: datetime | None, until: datetime | None
) -> tuple[datetime | None, datetime | None]:
    """``since``/``until`` from a date preset (``24h``, ``7d``, ``30d``, ``90d``, ``1y``, ``all``).

    Raises
    ------
    InvalidRequestError
        The preset is unknown.
    """
    if preset is None or preset == "":
        return since, until
    if preset not in PRESETS:
        raise InvalidRequestError(
            f"Unknown date preset {preset!r}; use one of {', '.join(PRESETS)}.", field="preset"
        )
    span = PRESETS[preset]
    return (None if span is None else datetime.now(UTC) - span), until


# Event models (what runners send) ------------------------------------------------------


class _EventModel(BaseModel):
    model_config = ConfigDict(extra="ignore")

    time: datetime = Field(..., description="When it happened (ISO 8601).")


class PipelineEventModel(_EventModel):
    type: Literal["pipeline"]
    pipeline: str = Field(..., min_length=1, max_length=128)
    description: dict[str, Any] = Field(default_factory=dict)

    def to_domain(self) -> MonitorEvent:
        return PipelineAnnounced(self.pipeline, self.time, self.description)


class HeartbeatEventModel(_EventModel):
    type: Literal["heartbeat"]
    pipeline: str = Field(..., min_length=1, max_length=128)

    def to_domain(self) -> MonitorEvent:
        return Heartbeat(self.pipeline, self.time)


class ExposureValuesModel(BaseModel):
    """An exposure and the values read from its header."""

    pipeline: str = Field(..., min_length=1, max_length=128)
    exposure: str = Field(..., min_length=1, max_length=64)
    path: str | None = Field(None, max_length=2048)
    night: str | None = Field(None, max_length=16)
    flavor: str | None = Field(None, max_length=32)
    program: str | None = Field(None, max_length=64)
    airmass: float | None = None
    seeing: float | None = None
    sky_brightness: float | None = None
    exposure_time: float | None = None
    ra: float | None = None
    dec: float | None = None
    observed_at: datetime | None = None
    header: dict[str, Any] = Field(default_factory=dict)


class ExposureEventModel(_EventModel, ExposureValuesModel):
    type: Literal["exposure"]

    def to_domain(self) -> MonitorEvent:
        return ExposureSeen(**self.model_dump(exclude={"type"}))


class ProcessingStartedModel(_EventModel):
    type: Literal["processing_started"]
    pipeline: str = Field(..., min_length=1, max_length=128)
    processing: str = Field(..., min_length=1, max_length=64)
    exposure: str = Field(..., min_length=1, max_length=64)
    flavor: str | None = Field(None, max_length=32)
    units: list[Annotated[str, Field(min_length=1, max_length=64)]] = Field(..., min_length=1)
    steps: list[dict[str, Any]] = Field(default_factory=list)

    def to_domain(self) -> MonitorEvent:
        return ProcessingStarted(**self.model_dump(exclude={"type"}))


class _UnitEventModel(_EventModel):
    processing: str = Field(..., min_length=1, max_length=64)
    unit: str = Field(..., min_length=1, max_length=64)


class UnitStartedModel(_UnitEventModel):
    type: Literal["unit_started"]
    command: list[str] = Field(default_factory=list)

    def to_domain(self) -> MonitorEvent:
        return UnitStarted(self.processing, self.unit, self.time, self.command)


class StepEventModel(_UnitEventModel):
    type: Literal["step"]
    step: str = Field(..., min_length=1, max_length=128)
    state: Literal["pending", "running", "succeeded", "failed", "skipped"]

    def to_domain(self) -> MonitorEvent:
        return StepChanged(self.processing, self.unit, self.step, self.state, self.time)


class LogEventModel(_UnitEventModel):
    type: Literal["log"]
    level: int = Field(20, ge=0, le=100)
    message: str
    stream: str | None = Field(None, max_length=64)
    checkpoint: str | None = Field(None, max_length=128)

    def to_domain(self) -> MonitorEvent:
        return UnitLogLine(
            self.processing,
            self.unit,
            self.time,
            self.level,
            self.message,
            self.stream,
            self.checkpoint,
        )


class QaEventModel(_UnitEventModel):
    type: Literal["qa"]
    step: str = Field(..., min_length=1, max_length=128)
    key: str = Field(..., min_length=1, max_length=128)
    display_name: str | None = Field(None, max_length=128)
    status: Literal["normal", "warning", "alarm", "missing"]
    value: float | None = None
    values: list[float | None] = Field(default_factory=list)
    statuses: list[str] = Field(default_factory=list)
    normal: list[float | None] | None = None
    warning: list[float | None] | None = None
    reference: Any = None

    def to_domain(self) -> MonitorEvent:
        return QaReported(**self.model_dump(exclude={"type"}))


class UnitEndedModel(_UnitEventModel):
    type: Literal["unit_ended"]
    status: Literal["succeeded", "failed", "stopped"]
    exit_status: int | None = None
    message: str | None = None
    last_lines: list[str] = Field(default_factory=list)

    def to_domain(self) -> MonitorEvent:
        return UnitEnded(**self.model_dump(exclude={"type"}))


class ProcessingEndedModel(_EventModel):
    type: Literal["processing_ended"]
    processing: str = Field(..., min_length=1, max_length=64)
    status: Literal["succeeded", "failed", "stopped"]

    def to_domain(self) -> MonitorEvent:
        return ProcessingEnded(self.processing, self.time, self.status)


EventModel = Annotated[
    PipelineEventModel
    | HeartbeatEventModel
    | ExposureEventModel
    | ProcessingStartedModel
    | UnitStartedModel
    | StepEventModel
    | LogEventModel
    | QaEventModel
    | UnitEndedModel
    | ProcessingEndedModel,
    Field(discriminator="type"),
]


class EventBatchModel(BaseModel):
    """Events of a runner, numbered within its source; a batch is applied once."""

    source: str = Field(..., min_length=1, max_length=128, description="The sender's id.")
    sequence: int = Field(..., ge=1, description="The batch's number within its source.")
    events: list[EventModel]


class EventsAppliedModel(BaseModel):
    """What the server did with a batch, and the state each pipeline should be in."""

    applied: int
    duplicate: bool
    control: dict[str, str] = Field(
        default_factory=dict, description="Pipeline -> running or stopped."
    )


# Read models ---------------------------------------------------------------------------


class _FromDomain(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class PipelineModel(_FromDomain):
    """A monitored pipeline."""

    name: str
    desired_state: str
    state_changed_by: str | None
    state_changed_at: datetime | None
    last_seen_at: datetime | None
    description: dict[str, Any]


class ProcessingSummaryModel(_FromDomain):
    """A row of the processing history."""

    id: int
    key: str
    pipeline: str
    exposure: str
    night: str | None
    flavor: str | None
    program: str | None
    status: str
    qa_status: str
    qa_ok: bool | None = Field(None, description="True: every QA normal; False: not; null: none.")
    started_at: datetime
    ended_at: datetime | None
    duration: float | None
    unit_count: int
    failed_count: int
    airmass: float | None
    seeing: float | None
    exposure_time: float | None
    observed_at: datetime | None
    comment_count: int
    log_run_id: int | None
    job_id: int | None


class StepModel(_FromDomain):
    """A step of a unit."""

    name: str
    status: str
    qa_status: str
    qa_colour: str
    started_at: datetime | None
    ended_at: datetime | None


class UnitModel(_FromDomain):
    """A unit of a processing."""

    name: str
    status: str
    current_step: str | None
    qa_status: str
    exit_status: int | None
    message: str | None
    started_at: datetime | None
    ended_at: datetime | None
    last_lines: list[str]
    steps: list[StepModel]

    @classmethod
    def from_domain(cls, unit: UnitView) -> UnitModel:
        return cls.model_validate(unit)


class QaValueModel(_FromDomain):
    """A QA value, its ranges and status."""

    unit: str
    step: str
    key: str
    display_name: str | None
    status: str
    colour: str
    value: float | None
    values: list[float | None]
    statuses: list[str]
    normal: list[float | None] | None
    warning: list[float | None] | None
    reference: Any


class CommentModel(_FromDomain):
    """A comment on a processing."""

    id: int
    processing_id: int
    author: str
    text: str
    created_at: datetime


class ProcessingDetailModel(BaseModel):
    """A processing with its units, steps, QA values and comments."""

    processing: ProcessingSummaryModel
    steps: list[dict[str, Any]]
    units: list[UnitModel]
    qa: list[QaValueModel]
    comments: list[CommentModel]

    @classmethod
    def from_domain(cls, detail: ProcessingDetail) -> ProcessingDetailModel:
        return cls(
            processing=ProcessingSummaryModel.model_validate(detail.summary),
            steps=detail.steps,
            units=[UnitModel.model_validate(u) for u in detail.units],
            qa=[QaValueModel.model_validate(q) for q in detail.qa],
            comments=[CommentModel.model_validate(c) for c in detail.comments],
        )


class AlertModel(_FromDomain):
    """A failed unit, or a QA value in alarm or warning."""

    time: datetime
    processing_id: int
    exposure: str
    unit: str
    kind: str
    message: str


class LiveModel(BaseModel):
    """What the live page shows, and the live event id it is current to."""

    pipeline: str | None
    pipelines: list[PipelineModel]
    current: ProcessingDetailModel | None
    alerts: list[AlertModel]
    last_event_id: int


class ProcessingPageModel(BaseModel):
    """A page of the processing history."""

    items: list[ProcessingSummaryModel]
    total: int
    limit: int
    offset: int
    sort: str
    order: str


class ExposureModel(_FromDomain):
    """An exposure of the observing history."""

    id: int
    pipeline: str
    exposure: str
    state: str
    path: str | None
    night: str | None
    flavor: str | None
    program: str | None
    airmass: float | None
    seeing: float | None
    sky_brightness: float | None
    exposure_time: float | None
    ra: float | None
    dec: float | None
    observed_at: datetime | None
    created_at: datetime
    processing_count: int
    header: dict[str, Any]


class ExposurePageModel(BaseModel):
    """A page of the observing history."""

    items: list[ExposureModel]
    total: int
    limit: int
    offset: int


class TrendPointModel(_FromDomain):
    """One value of a trend."""

    time: datetime
    processing_id: int
    exposure: str
    unit: str
    value: float | None
    status: str


class TrendSeriesModel(_FromDomain):
    """A QA key over time for one unit."""

    key: str
    unit: str | None
    element: int | None
    points: list[TrendPointModel]


class TrendModel(BaseModel):
    """QA values over time, one series per unit."""

    key: str
    element: int | None
    since: datetime | None
    until: datetime | None
    series: list[TrendSeriesModel]


class ConditionPointModel(_FromDomain):
    """The observing conditions of one exposure."""

    exposure: str
    time: datetime
    flavor: str | None
    program: str | None
    airmass: float | None
    seeing: float | None
    sky_brightness: float | None
    exposure_time: float | None


class ConditionsModel(BaseModel):
    """Observing conditions over time, and a least-squares line of y against x."""

    x: str
    y: str
    since: datetime | None
    until: datetime | None
    points: list[ConditionPointModel]
    fit: dict[str, float] | None


class CommentInModel(BaseModel):
    """A new comment."""

    text: str = Field(..., min_length=1, max_length=10_000)


class StateInModel(BaseModel):
    """Run or stop a pipeline."""

    state: Literal["running", "stopped"]


class ClaimInModel(BaseModel):
    """How many queued exposures to take."""

    limit: int = Field(1, ge=1, le=100)


class ExposureInModel(ExposureValuesModel):
    """An exposure to queue for a pipeline whose runner reads the API."""


class ClaimedModel(BaseModel):
    """Exposures given to this runner."""

    items: list[ExposureModel]


# Handlers ------------------------------------------------------------------------------


def _publisher(request: Request) -> LiveFeed:
    return live_broker(request)


@router.post(
    "/monitor/events",
    response_model=EventsAppliedModel,
    summary="Apply a runner's batch of events",
    responses={**ERRORS, 422: unprocessable("An event is malformed; nothing was applied")},
)
def post_events(
    request: Request,
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
    result = factory.create_monitor_service(_publisher(request)).apply(domain, user)
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
    request: Request,
    name: str,
    body: StateInModel,
    user: User = Depends(require_role(Role.OPERATOR)),
    factory: Factory = Depends(factory_dependency),
) -> PipelineModel:
    """Ask the pipeline's runner to run or stop; it obeys at its next report (seconds)."""
    info: PipelineInfo = factory.create_monitor_service(_publisher(request)).set_state(
        name, body.state, user
    )
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
    limit: int = Limit,
    offset: int = Query(0, ge=0, description="Rows to skip."),
    factory: Factory = Depends(factory_dependency),
) -> ExposurePageModel:
    """Every exposure seen, newest first."""
    since, until = preset_range(preset, since, until)
    limit = page_limit(request, limit)
    items, total = factory.create_monitor_service().exposures(
        pipeline=pipeline,
        flavor=flavor,
        program=program,
        since=since,
        until=until,
        limit=limit,
        offset=offset,
    )
    return ExposurePageModel(
        items=[ExposureModel.model_validate(e) for e in items],
        total=total,
        limit=limit,
        offset=offset,
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
) -> HistoryFilter:
    """The history's filters, from the query string."""
    since, until = preset_range(preset, since, until)
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
OrderQuery = Query("desc", pattern="^(asc|desc)$", description="asc or desc.")


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
    offset: int = Query(0, ge=0, description="Rows to skip."),
    factory: Factory = Depends(factory_dependency),
) -> ProcessingPageModel:
    """Processings, filtered, sorted by any column, a page at a time."""
    limit = page_limit(request, limit)
    items, total = factory.create_monitor_service().history(
        filters, sort=sort, descending=order == "desc", limit=limit, offset=offset
    )
    return ProcessingPageModel(
        items=[ProcessingSummaryModel.model_validate(p) for p in items],
        total=total,
        limit=limit,
        offset=offset,
        sort=sort,
        order=order,
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


def live_state(request: Request, factory: Factory, pipeline: str | None) -> LiveModel:
    """The live page's data (shared by the API and the page)."""
    service = factory.create_monitor_service()
    last_id = live_broker(request).last_id
    pipelines = service.pipelines()
    if pipeline is None and len(pipelines) == 1:
        pipeline = pipelines[0].name
    current = service.latest(pipeline)
    alerts: list[Alert] = service.alerts(pipeline)
    return LiveModel(
        pipeline=pipeline,
        pipelines=[PipelineModel.model_validate(p) for p in pipelines],
        current=None if current is None else ProcessingDetailModel.from_domain(current),
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
    from ...domain.monitor import linear_fit

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


async def event_stream(
    request: Request, topics: set[str], start: int | None
) -> AsyncIterator[ServerSentEvent]:
    """Server-sent events of *topics*, after event *start* (shared by both streams)."""
    async with live_broker(request).subscribe(topics, start) as stream:
        yield ServerSentEvent(
            event="hello",
            data={"last_event_id": stream.start_id, "process": os.getpid()},
            retry=1000,
        )
        for missed in stream.replay:
            yield ServerSentEvent(id=str(missed.id), event=missed.event, data=missed.data)
        while True:
            event = await stream.get(timeout=3600)
            if event is None:
                continue
            if event.event == "closed":
                return
            yield ServerSentEvent(id=str(event.id), event=event.event, data=event.data)


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
