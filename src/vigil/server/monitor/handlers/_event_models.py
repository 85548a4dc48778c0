"""The events runners send to the live monitor, as the API reads them."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ..domain import (
    ExposureSeen,
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
    "EventBatchModel",
    "EventModel",
    "EventsAppliedModel",
    "ExposureEventModel",
    "ExposureValuesModel",
    "HeartbeatEventModel",
    "LogEventModel",
    "PipelineEventModel",
    "ProcessingEndedModel",
    "ProcessingStartedModel",
    "QaEventModel",
    "StepEventModel",
    "UnitEndedModel",
    "UnitStartedModel",
]


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
    outputs: dict[str, Annotated[str, Field(max_length=4096)]] = Field(
        default_factory=dict,
        description="Unit -> its output folder on the runner's host (the reduction files).",
    )

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
    status: Literal["succeeded", "failed", "killed", "stopped"] = Field(
        ..., description="``killed``: ended when its timeout fired (a failure)."
    )
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
