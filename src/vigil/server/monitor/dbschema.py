"""The live monitor's tables: pipelines, exposures, processings, units, steps, QA values
and comments.

They register on the server's one `~vigil.server.dbschema.Base` metadata (imported by
`vigil.server.dbschema`), so that migrations and the schema check see them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ..dbschema.base import Base, BigIntId, JsonType, UtcDateTime

__all__ = [
    "SqlExposure",
    "SqlMonitorPipeline",
    "SqlProcessing",
    "SqlProcessingComment",
    "SqlQaValue",
    "SqlStepRun",
    "SqlUnitRun",
]


class SqlMonitorPipeline(Base):
    """A monitored pipeline: what its runner announced and whether it should run."""

    __tablename__ = "monitor_pipelines"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    description: Mapped[dict[str, Any]] = mapped_column(JsonType)
    desired_state: Mapped[str] = mapped_column(String(16))
    state_changed_by: Mapped[str | None] = mapped_column(String(128))
    state_changed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_seen_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class SqlExposure(Base):
    """An exposure the monitor saw (observing history), or one queued through the API."""

    __tablename__ = "monitor_exposures"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    pipeline: Mapped[str] = mapped_column(String(128))
    exposure: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16))
    path: Mapped[str | None] = mapped_column(String(2048))
    night: Mapped[str | None] = mapped_column(String(16))
    flavor: Mapped[str | None] = mapped_column(String(32))
    program: Mapped[str | None] = mapped_column(String(64))
    airmass: Mapped[float | None] = mapped_column(Float)
    seeing: Mapped[float | None] = mapped_column(Float)
    sky_brightness: Mapped[float | None] = mapped_column(Float)
    exposure_time: Mapped[float | None] = mapped_column(Float)
    ra: Mapped[float | None] = mapped_column(Float)
    dec: Mapped[float | None] = mapped_column(Float)
    observed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    header: Mapped[dict[str, Any]] = mapped_column(JsonType)

    __table_args__ = (
        UniqueConstraint("pipeline", "exposure"),
        Index(None, "pipeline", "state", "id"),
        Index(None, "observed_at"),
    )


class SqlProcessing(Base):
    """One run of the pipeline on one exposure."""

    __tablename__ = "monitor_processings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)
    exposure_id: Mapped[int] = mapped_column(
        ForeignKey("monitor_exposures.id", ondelete="CASCADE"), index=True
    )
    pipeline: Mapped[str] = mapped_column(String(128))
    flavor: Mapped[str | None] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16))
    qa_status: Mapped[str] = mapped_column(String(16))
    started_at: Mapped[datetime] = mapped_column(UtcDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    unit_count: Mapped[int] = mapped_column(Integer)
    failed_count: Mapped[int] = mapped_column(Integer)
    steps: Mapped[list[dict[str, Any]]] = mapped_column(JsonType)
    log_run_id: Mapped[int | None] = mapped_column(ForeignKey("log_runs.id", ondelete="SET NULL"))
    job_id: Mapped[int | None] = mapped_column(ForeignKey("jobs.id", ondelete="SET NULL"))

    __table_args__ = (Index(None, "pipeline", "id"), Index(None, "started_at"))


class SqlUnitRun(Base):
    """One unit (camera, CCD) of a processing."""

    __tablename__ = "monitor_units"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    processing_id: Mapped[int] = mapped_column(
        ForeignKey("monitor_processings.id", ondelete="CASCADE")
    )
    name: Mapped[str] = mapped_column(String(64))
    position: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))
    current_step: Mapped[str | None] = mapped_column(String(128))
    qa_status: Mapped[str] = mapped_column(String(16))
    exit_status: Mapped[int | None] = mapped_column(Integer)
    message: Mapped[str | None] = mapped_column(Text)
    last_lines: Mapped[list[str]] = mapped_column(JsonType)
    started_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UtcDateTime)

    __table_args__ = (UniqueConstraint("processing_id", "name"),)


class SqlStepRun(Base):
    """One step of one unit."""

    __tablename__ = "monitor_steps"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("monitor_units.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(128))
    position: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))
    qa_status: Mapped[str] = mapped_column(String(16))
    started_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UtcDateTime)

    __table_args__ = (UniqueConstraint("unit_id", "name"),)


class SqlQaValue(Base):
    """One QA value of one unit and step, with its ranges and status."""

    __tablename__ = "monitor_qa"

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True)
    processing_id: Mapped[int] = mapped_column(
        ForeignKey("monitor_processings.id", ondelete="CASCADE")
    )
    unit_id: Mapped[int] = mapped_column(ForeignKey("monitor_units.id", ondelete="CASCADE"))
    pipeline: Mapped[str] = mapped_column(String(128))
    unit: Mapped[str] = mapped_column(String(64))
    step: Mapped[str] = mapped_column(String(128))
    key: Mapped[str] = mapped_column(String(128))
    display_name: Mapped[str | None] = mapped_column(String(128))
    status: Mapped[str] = mapped_column(String(16))
    value: Mapped[float | None] = mapped_column(Float)
    values: Mapped[list[float | None]] = mapped_column(JsonType)
    statuses: Mapped[list[str]] = mapped_column(JsonType)
    normal_range: Mapped[list[float | None] | None] = mapped_column(JsonType)
    warning_range: Mapped[list[float | None] | None] = mapped_column(JsonType)
    reference: Mapped[list[Any] | None] = mapped_column(JsonType)
    observed_at: Mapped[datetime] = mapped_column(UtcDateTime)

    __table_args__ = (
        UniqueConstraint("unit_id", "step", "key"),
        Index(None, "processing_id"),
        Index(None, "pipeline", "key", "observed_at"),
    )


class SqlProcessingComment(Base):
    """A comment on a processing."""

    __tablename__ = "monitor_comments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    processing_id: Mapped[int] = mapped_column(
        ForeignKey("monitor_processings.id", ondelete="CASCADE"), index=True
    )
    author: Mapped[str] = mapped_column(String(128))
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
