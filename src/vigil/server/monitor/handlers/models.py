"""The live monitor's API models: the runners' events, and what the API and pages read."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field

from ..domain import (
    CountedPage,
    ExposureRecord,
    ExposureSeen,
    Heartbeat,
    MonitorEvent,
    PipelineAnnounced,
    ProcessingDetail,
    ProcessingEnded,
    ProcessingStarted,
    ProcessingSummary,
    QaReported,
    StepChanged,
    UnitEnded,
    UnitLogLine,
    UnitStarted,
    UnitView,
)

__all__ = [
    "AlertModel",
    "ClaimInModel",
    "ClaimedModel",
    "CommentInModel",
    "CommentModel",
    "ConditionPointModel",
    "ConditionsModel",
    "EventBatchModel",
    "EventModel",
    "EventsAppliedModel",
    "ExposureInModel",
    "ExposureModel",
    "ExposurePageModel",
    "ExposureValuesModel",
    "FocalPlaneModel",
    "FocalPlaneUnitModel",
    "LiveModel",
    "PipelineModel",
    "ProcessingDetailModel",
    "ProcessingPageModel",
    "ProcessingSummaryModel",
    "QaValueModel",
    "StateInModel",
    "StepModel",
    "TrendModel",
    "TrendPointModel",
    "TrendSeriesModel",
    "UnitModel",
]


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
    ra: float | None = Field(None, description="Right ascension (degrees), from the header.")
    dec: float | None = Field(None, description="Declination (degrees), from the header.")
    tile: str | None = Field(None, description="The tile observed (header TILEID).")


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


class FocalPlaneUnitModel(_FromDomain):
    """A unit on the focal plane: its outline (SVG path data), worst QA and tooltip."""

    name: str
    path: str
    x: float
    y: float
    found: bool = Field(..., description="False: this processing has no such unit.")
    qa_status: str
    colour: str
    tooltip: str


class FocalPlaneModel(_FromDomain):
    """A processing's units drawn as the instrument looks, coloured by their worst QA."""

    layout: str
    width: float
    height: float
    units: list[FocalPlaneUnitModel]
    labels: list[tuple[str, float, float]]


class ProcessingDetailModel(BaseModel):
    """A processing with its units, steps, QA values, comments and focal plane."""

    processing: ProcessingSummaryModel
    steps: list[dict[str, Any]]
    units: list[UnitModel]
    qa: list[QaValueModel]
    comments: list[CommentModel]
    focal_plane: FocalPlaneModel | None = None

    @classmethod
    def from_domain(cls, detail: ProcessingDetail) -> ProcessingDetailModel:
        return cls(
            processing=ProcessingSummaryModel.model_validate(detail.summary),
            steps=detail.steps,
            units=[UnitModel.model_validate(u) for u in detail.units],
            qa=[QaValueModel.model_validate(q) for q in detail.qa],
            comments=[CommentModel.model_validate(c) for c in detail.comments],
            focal_plane=None
            if detail.focal_plane is None
            else FocalPlaneModel.model_validate(detail.focal_plane),
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
    recent: list[ProcessingSummaryModel] = Field(
        default_factory=list, description="The 10 most recent processings, newest first."
    )
    alerts: list[AlertModel]
    last_event_id: int


_NEXT_CURSOR = "Cursor of the next page (pass it as ``cursor``); null on the last page."
_NEXT_URL = "URL of the next page; null on the last page."
_TOTAL = "How many rows match the filters."
_OFFSET = "How many rows come before this page (kept for clients that page with ``offset``)."


class ProcessingPageModel(BaseModel):
    """A page of the processing history; follow ``next_url`` (or pass
    ``cursor=next_cursor``)."""

    items: list[ProcessingSummaryModel]
    next_cursor: str | None = Field(None, description=_NEXT_CURSOR)
    next_url: str | None = Field(None, description=_NEXT_URL)
    total: int = Field(..., description=_TOTAL)
    limit: int
    offset: int = Field(..., description=_OFFSET)
    sort: str
    order: str

    @classmethod
    def from_page(
        cls,
        page: CountedPage[ProcessingSummary],
        *,
        limit: int,
        next_url: str | None,
        **fields: Any,
    ) -> Self:
        """The model of a page of the history (``fields``: ``sort``, ``order``...)."""
        return cls(
            items=[ProcessingSummaryModel.model_validate(p) for p in page.items],
            next_cursor=page.next_cursor,
            next_url=next_url,
            total=page.total,
            limit=limit,
            offset=page.offset,
            **fields,
        )


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
    last_processing_id: int | None = Field(None, description="Its most recent processing.")
    last_qa_status: str | None = Field(None, description="That processing's worst QA.")
    tile: str | None = Field(None, description="The tile observed (header TILEID).")
    header: dict[str, Any]


class ExposurePageModel(BaseModel):
    """A page of the observing history; follow ``next_url`` (or pass
    ``cursor=next_cursor``)."""

    items: list[ExposureModel]
    next_cursor: str | None = Field(None, description=_NEXT_CURSOR)
    next_url: str | None = Field(None, description=_NEXT_URL)
    total: int = Field(..., description=_TOTAL)
    limit: int
    offset: int = Field(..., description=_OFFSET)

    @classmethod
    def from_page(
        cls,
        page: CountedPage[ExposureRecord],
        *,
        limit: int,
        next_url: str | None,
        **fields: Any,
    ) -> Self:
        """The model of a page of the observing history (``fields``: those of a subclass)."""
        return cls(
            items=[ExposureModel.model_validate(e) for e in page.items],
            next_cursor=page.next_cursor,
            next_url=next_url,
            total=page.total,
            limit=limit,
            offset=page.offset,
            **fields,
        )


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
