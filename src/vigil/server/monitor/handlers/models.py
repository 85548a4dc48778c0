"""The live monitor's API models: the runners' events, and what the API and pages read."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field

from ..domain import (
    CountedPage,
    ExposureRecord,
    ProcessingCleared,
    ProcessingDetail,
    ProcessingSummary,
    UnitView,
)
from ._event_models import (
    EventBatchModel,
    EventModel,
    EventsAppliedModel,
    ExposureValuesModel,
)

__all__ = [
    "AlertModel",
    "ClaimInModel",
    "ClaimedModel",
    "ClearPlanModel",
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
    "FibreStateModel",
    "FocalPlaneModel",
    "FocalPlaneUnitModel",
    "LiveModel",
    "PipelineModel",
    "ProcessingClearedModel",
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


# Read models ---------------------------------------------------------------------------


def _paging(page: CountedPage[Any], limit: int, next_url: str | None) -> dict[str, Any]:
    """The fields every page of the monitor's listings carries beside its items."""
    return {
        "next_cursor": page.next_cursor,
        "next_url": next_url,
        "total": page.total,
        "limit": limit,
        "offset": page.offset,
    }


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


class ClearPlanModel(_FromDomain):
    """What clearing a processing deletes (or deleted)."""

    processing_id: int
    pipeline: str
    exposure: str
    status: str
    log_run_id: int | None = Field(..., description="Its log run (null: none, or cleared).")
    log_lines: int = Field(..., description="The log run's stored lines.")
    folders: list[str] = Field(
        ..., description="The units' reduction folders deleted with it (as the server sees them)."
    )
    files_note: str | None = Field(
        ..., description="Why reduction files are kept, when some or all are (null: none is)."
    )


class ProcessingClearedModel(BaseModel):
    """A processing's logs and reduction files, cleared."""

    cleared: ClearPlanModel
    folders_removed: list[str]
    errors: list[str] = Field(..., description="Folders that could not be deleted, and why.")
    audit_id: int = Field(..., description="The entry of the audit log (``processing.clear``).")

    @classmethod
    def from_domain(cls, done: ProcessingCleared) -> ProcessingClearedModel:
        return cls(
            cleared=ClearPlanModel.model_validate(done.plan),
            folders_removed=done.folders_removed,
            errors=done.errors,
            audit_id=done.audit_id,
        )


class FibreStateModel(_FromDomain):
    """A unit's fibres: how many are good and which are bad (numbered from 0)."""

    good: int
    total: int
    bad: list[int]
    status: str = Field(..., description="normal, warning or alarm: bad fibres against the levels.")
    colour: str


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
    fibres: FibreStateModel | None = Field(
        None, description="The unit's fibres, when the layout has them and the unit reported them."
    )


class FocalPlaneModel(_FromDomain):
    """A processing's units drawn as the instrument looks, coloured by their worst QA."""

    layout: str
    width: float
    height: float
    units: list[FocalPlaneUnitModel]
    labels: list[tuple[str, float, float]]
    fibres: dict[str, Any] | None = Field(
        None,
        description="The layout's fibre description (key, count, warning, alarm) when a unit"
        " reported its fibres.",
    )


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
            **_paging(page, limit, next_url),
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
            **_paging(page, limit, next_url),
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
