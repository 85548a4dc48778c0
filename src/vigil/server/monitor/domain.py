"""The live monitor: the events a runner reports, and what the pages show.

Events (`ExposureSeen`, `ProcessingStarted`, `StepChanged`, `LogLine`...) arrive in numbered
batches (`EventBatch`) and are applied once each. The views (`ProcessingDetail`,
`ProcessingSummary`, `TrendSeries`...) are what the service returns to pages and API.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from vigil.monitor.qa import QaStatus, colour, worst

from ..domain import Page
from ._domain_events import (
    EventBatch,
    ExposureSeen,
    ExposureValues,
    Heartbeat,
    MonitorEvent,
    PipelineAnnounced,
    ProcessingEnded,
    ProcessingStarted,
    QaReported,
    StepChanged,
    UnitEnded,
    UnitLogLine,
    UnitStarted,
)

__all__ = [
    "CONDITIONS",
    "EXPOSURE_SORTS",
    "EXPOSURE_SORT_TYPES",
    "HISTORY_SORTS",
    "HISTORY_SORT_TYPES",
    "Alert",
    "ClearPlan",
    "Comment",
    "ConditionPoint",
    "CountedPage",
    "EventBatch",
    "ExposureRecord",
    "ExposureSeen",
    "ExposureValues",
    "FibreState",
    "FocalPlane",
    "FocalPlaneUnit",
    "Heartbeat",
    "HistoryFilter",
    "Keyset",
    "LinearFit",
    "MonitorEvent",
    "PipelineAnnounced",
    "PipelineInfo",
    "ProcessingCleared",
    "ProcessingDetail",
    "ProcessingEnded",
    "ProcessingStarted",
    "ProcessingSummary",
    "QaReported",
    "QaValue",
    "StepChanged",
    "StepView",
    "TrendPoint",
    "TrendSeries",
    "UnitEnded",
    "UnitLogLine",
    "UnitStarted",
    "UnitView",
    "linear_fit",
    "qa_colour",
    "tile_of",
    "worst_status",
]

CONDITIONS = ("airmass", "seeing", "sky_brightness", "exposure_time")
"""Observing conditions an exposure carries, plotted over time and one against another."""

HISTORY_SORT_TYPES: dict[str, type] = {
    "id": int,
    "exposure": str,
    "night": str,
    "flavor": str,
    "program": str,
    "status": str,
    "qa_status": str,
    "started_at": datetime,
    "ended_at": datetime,
    "airmass": float,
    "seeing": float,
    "exposure_time": float,
    "failed_count": int,
    "ra": float,
    "dec": float,
}
"""Columns the processing history can be sorted by, and the type of their values (what a
page's cursor holds)."""

HISTORY_SORTS = tuple(HISTORY_SORT_TYPES)
"""Columns the processing history can be sorted by."""

EXPOSURE_SORT_TYPES: dict[str, type] = {
    "id": int,
    "exposure": str,
    "night": str,
    "flavor": str,
    "program": str,
    "airmass": float,
    "seeing": float,
    "exposure_time": float,
    "ra": float,
    "dec": float,
    "observed_at": datetime,
    "last_qa_status": str,
}
"""Columns the observing history can be sorted by, and the type of their values."""

EXPOSURE_SORTS = tuple(EXPOSURE_SORT_TYPES)
"""Columns the observing history can be sorted by."""

T = TypeVar("T")


def qa_colour(status: str) -> str:
    """green, yellow, red or grey for a QA status."""
    try:
        return colour(status)
    except ValueError:
        return "grey"


def tile_of(header: dict[str, Any] | None) -> str | None:
    """The tile an exposure observed: its header's ``TILEID`` (or ``TILE``), if any."""
    if not header:
        return None
    value = header.get("TILEID", header.get("TILE"))
    return None if value is None or value == "" else str(value)


def worst_status(statuses: Sequence[str]) -> str:
    """The worst QA status (alarm > warning > normal > missing)."""
    return worst(s for s in statuses if s in QaStatus.__members__.values()).value


# Views -------------------------------------------------------------------------------


@dataclass(slots=True)
class PipelineInfo:
    """A monitored pipeline and whether it runs."""

    name: str
    description: dict[str, Any]
    desired_state: str
    state_changed_by: str | None
    state_changed_at: datetime | None
    last_seen_at: datetime | None


@dataclass(slots=True, kw_only=True)
class ExposureRecord(ExposureValues):
    """An exposure of the observing history."""

    id: int
    pipeline: str
    exposure: str
    state: str
    created_at: datetime
    processing_count: int = 0
    last_processing_id: int | None = None
    last_qa_status: str | None = None

    @property
    def tile(self) -> str | None:
        """The tile observed (the header's ``TILEID``), if any."""
        return tile_of(self.header)


@dataclass(slots=True)
class StepView:
    """One step of one unit."""

    name: str
    status: str
    qa_status: str
    started_at: datetime | None = None
    ended_at: datetime | None = None

    @property
    def qa_colour(self) -> str:
        """green, yellow, red or grey."""
        return qa_colour(self.qa_status)


@dataclass(slots=True)
class UnitView:
    """One unit of a processing, with its steps."""

    name: str
    status: str
    current_step: str | None
    qa_status: str
    exit_status: int | None
    message: str | None
    started_at: datetime | None
    ended_at: datetime | None
    last_lines: list[str] = field(default_factory=list)
    steps: list[StepView] = field(default_factory=list)


@dataclass(slots=True)
class QaValue:
    """One stored QA value."""

    unit: str
    step: str
    key: str
    display_name: str | None
    status: str
    value: float | None
    values: list[float | None]
    statuses: list[str]
    normal: list[float | None] | None
    warning: list[float | None] | None
    reference: Any

    @property
    def colour(self) -> str:
        """green, yellow, red or grey."""
        return qa_colour(self.status)


@dataclass(slots=True)
class Comment:
    """A comment on a processing."""

    id: int
    processing_id: int
    author: str
    text: str
    created_at: datetime


@dataclass(slots=True)
class ProcessingSummary:
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
    started_at: datetime
    ended_at: datetime | None
    unit_count: int
    failed_count: int
    airmass: float | None = None
    seeing: float | None = None
    exposure_time: float | None = None
    observed_at: datetime | None = None
    comment_count: int = 0
    log_run_id: int | None = None
    job_id: int | None = None
    ra: float | None = None
    dec: float | None = None
    tile: str | None = None

    @property
    def qa_ok(self) -> bool | None:
        """True when every QA is normal, False when one is not, None when there is none."""
        if self.qa_status == QaStatus.MISSING:
            return None
        return self.qa_status == QaStatus.NORMAL

    @property
    def duration(self) -> float | None:
        """Seconds from start to end."""
        if self.ended_at is None:
            return None
        return (self.ended_at - self.started_at).total_seconds()


@dataclass(slots=True)
class ClearPlan:
    """What clearing a processing deletes: its log run (lines and processes) and the
    reduction folders of its units that the server may delete.

    Attributes
    ----------
    log_run_id
        The processing's log run (None: none, or already cleared).
    log_lines
        Its stored lines.
    folders
        The units' output folders that go (absolute, as the server sees them).
    files_note
        Why reduction files are kept, when some or all are (None: all go).
    """

    processing_id: int
    pipeline: str
    exposure: str
    status: str
    log_run_id: int | None
    log_lines: int
    folders: list[str]
    files_note: str | None


@dataclass(slots=True)
class ProcessingCleared:
    """A processing's logs and reduction files, cleared: what went, and its audit entry."""

    plan: ClearPlan
    folders_removed: list[str]
    errors: list[str]
    audit_id: int


@dataclass(slots=True)
class ProcessingDetail:
    """A processing with its units, steps, QA values and comments."""

    summary: ProcessingSummary
    steps: list[dict[str, Any]]
    units: list[UnitView]
    qa: list[QaValue]
    comments: list[Comment]
    focal_plane: FocalPlane | None = None


@dataclass(slots=True)
class FocalPlaneUnit:
    """One unit drawn on the focal plane: its outline, worst QA and tooltip."""

    name: str
    path: str
    x: float
    y: float
    found: bool
    qa_status: str
    tooltip: str
    fibres: FibreState | None = None

    @property
    def colour(self) -> str:
        """grey when the processing has no such unit or no QA value, else its worst QA's."""
        return qa_colour(self.qa_status) if self.found else "grey"


@dataclass(slots=True)
class FibreState:
    """A unit's fibres as its QA reported them: how many are good, which are bad."""

    good: int
    total: int
    bad: list[int]
    status: str
    """normal, warning or alarm: the count of bad fibres against the layout's levels."""

    @property
    def colour(self) -> str:
        """green, yellow or red."""
        return qa_colour(self.status)


@dataclass(slots=True)
class FocalPlane:
    """A processing's units drawn as the instrument looks (`vigil.monitor.layout`)."""

    layout: str
    width: float
    height: float
    units: list[FocalPlaneUnit]
    labels: list[tuple[str, float, float]]
    fibres: dict[str, Any] | None = None
    """The layout's fibre description (key, count, warning, alarm) when a unit reported
    its fibres; each unit's state is on the unit."""


@dataclass(slots=True)
class Alert:
    """Something to look at: a unit that failed, a QA in alarm or warning."""

    time: datetime
    processing_id: int
    exposure: str
    unit: str
    kind: str
    message: str


@dataclass(slots=True)
class HistoryFilter:
    """Filters of the processing history; None means any."""

    pipeline: str | None = None
    status: str | None = None
    qa_status: str | None = None
    flavor: str | None = None
    program: str | None = None
    exposure: str | None = None
    since: datetime | None = None
    until: datetime | None = None


@dataclass(frozen=True, slots=True)
class Keyset:
    """Where a keyset page starts: after the row with this sort value (None: NULL) and id.

    Rows are ordered by the sort column, NULLs last, then by id in the same direction.
    """

    value: Any
    id: int


@dataclass(slots=True)
class CountedPage(Page[T]):
    """A page that also says how many rows match (``total``) and how many come before its
    first row (``offset``)."""

    total: int = 0
    offset: int = 0


@dataclass(slots=True)
class TrendPoint:
    """One value of a trend."""

    time: datetime
    processing_id: int
    exposure: str
    unit: str
    value: float | None
    status: str


@dataclass(slots=True)
class TrendSeries:
    """A QA key over time for one unit (and element, e.g. an amplifier), or all units."""

    key: str
    unit: str | None
    element: int | None
    points: list[TrendPoint]


@dataclass(slots=True)
class ConditionPoint:
    """The observing conditions of one exposure."""

    exposure: str
    time: datetime
    flavor: str | None
    program: str | None
    airmass: float | None
    seeing: float | None
    sky_brightness: float | None
    exposure_time: float | None

    def get(self, name: str) -> float | None:
        """The condition *name* (one of `CONDITIONS`)."""
        value = getattr(self, name)
        return value if isinstance(value, float | int) else None


@dataclass(slots=True)
class LinearFit:
    """A least-squares line ``y = slope * x + intercept`` and its correlation."""

    slope: float
    intercept: float
    r: float
    n: int


def linear_fit(xs: Sequence[float], ys: Sequence[float]) -> LinearFit | None:
    """The least-squares line through the points, or None for fewer than 3 or no spread."""
    n = len(xs)
    if n < 3 or n != len(ys):
        return None
    mean_x = sum(xs) / n
    mean_y = sum(ys) / n
    sxx = sum((x - mean_x) ** 2 for x in xs)
    syy = sum((y - mean_y) ** 2 for y in ys)
    sxy = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True))
    if sxx == 0:
        return None
    slope = sxy / sxx
    r = sxy / math.sqrt(sxx * syy) if syy > 0 else 0.0
    return LinearFit(slope=slope, intercept=mean_y - slope * mean_x, r=r, n=n)
