"""The live monitor's events: what runners report, as plain data."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

__all__ = [
    "EventBatch",
    "ExposureSeen",
    "ExposureValues",
    "Heartbeat",
    "MonitorEvent",
    "PipelineAnnounced",
    "ProcessingEnded",
    "ProcessingStarted",
    "QaReported",
    "StepChanged",
    "UnitEnded",
    "UnitLogLine",
    "UnitStarted",
]


@dataclass(slots=True)
class PipelineAnnounced:
    """A runner started: its pipeline's units, steps per flavor and trends."""

    pipeline: str
    time: datetime
    description: dict[str, Any]


@dataclass(slots=True)
class Heartbeat:
    """A runner is alive."""

    pipeline: str
    time: datetime


@dataclass(slots=True, kw_only=True)
class ExposureValues:
    """What an exposure's header says: where it is, its flavor, program and conditions."""

    path: str | None = None
    night: str | None = None
    flavor: str | None = None
    program: str | None = None
    airmass: float | None = None
    seeing: float | None = None
    sky_brightness: float | None = None
    exposure_time: float | None = None
    ra: float | None = None
    dec: float | None = None
    observed_at: datetime | None = None
    header: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True, kw_only=True)
class ExposureSeen(ExposureValues):
    """A new exposure (observing history)."""

    pipeline: str
    exposure: str
    time: datetime


@dataclass(slots=True)
class ProcessingStarted:
    """The pipeline started on an exposure, with these units and steps (and the units'
    output folders on the runner's host)."""

    pipeline: str
    processing: str
    exposure: str
    time: datetime
    flavor: str | None
    units: list[str]
    steps: list[dict[str, Any]]
    outputs: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class UnitStarted:
    """A unit's command started."""

    processing: str
    unit: str
    time: datetime
    command: list[str] = field(default_factory=list)


@dataclass(slots=True)
class StepChanged:
    """A step of a unit changed state (running, succeeded, failed, skipped)."""

    processing: str
    unit: str
    step: str
    state: str
    time: datetime


@dataclass(slots=True)
class UnitLogLine:
    """A line a unit wrote; ``checkpoint`` names the step whose marker it holds."""

    processing: str
    unit: str
    time: datetime
    level: int
    message: str
    stream: str | None = None
    checkpoint: str | None = None


@dataclass(slots=True)
class QaReported:
    """A QA value of a unit and step, judged by the runner."""

    processing: str
    unit: str
    step: str
    key: str
    time: datetime
    status: str
    display_name: str | None = None
    value: float | None = None
    values: list[float | None] = field(default_factory=list)
    statuses: list[str] = field(default_factory=list)
    normal: list[float | None] | None = None
    warning: list[float | None] | None = None
    reference: Any = None


@dataclass(slots=True)
class UnitEnded:
    """A unit ended: succeeded, failed or killed on its timeout (with its exit status and
    last lines), or stopped."""

    processing: str
    unit: str
    time: datetime
    status: str
    exit_status: int | None = None
    message: str | None = None
    last_lines: list[str] = field(default_factory=list)


@dataclass(slots=True)
class ProcessingEnded:
    """Every unit of a processing ended."""

    processing: str
    time: datetime
    status: str


MonitorEvent = (
    PipelineAnnounced
    | Heartbeat
    | ExposureSeen
    | ProcessingStarted
    | UnitStarted
    | StepChanged
    | UnitLogLine
    | QaReported
    | UnitEnded
    | ProcessingEnded
)


@dataclass(slots=True)
class EventBatch:
    """Events numbered ``sequence`` within their ``source``; applied once."""

    source: str
    sequence: int
    events: list[MonitorEvent]
