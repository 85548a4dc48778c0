"""The live monitor's tables (pipelines, exposures, processings, units, steps, QA, comments)
and the log aggregation's (runs, lines, their search blocks, processes), plus the event
sources they replay and the live events every server process streams."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    ARRAY,
    BigInteger,
    Float,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, BigIntId, JsonType, UtcDateTime

__all__ = [
    "GramsType",
    "SqlEventSource",
    "SqlExposure",
    "SqlLiveEvent",
    "SqlLogBlock",
    "SqlLogLine",
    "SqlLogProcess",
    "SqlLogRun",
    "SqlMonitorPipeline",
    "SqlProcessing",
    "SqlProcessingComment",
    "SqlQaValue",
    "SqlStepRun",
    "SqlUnitRun",
]


class SqlEventSource(Base):
    """A sender of numbered event batches (a monitor runner, a log handler).

    Batches are applied once each: ``last_sequence`` is the highest one applied.
    """

    __tablename__ = "event_sources"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    last_sequence: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


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


class SqlLogRun(Base):
    """One run whose log lines are aggregated: a processing, a CI job, a script."""

    __tablename__ = "log_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(256), unique=True)
    kind: Mapped[str] = mapped_column(String(32))
    title: Mapped[str | None] = mapped_column(String(512))
    status: Mapped[str] = mapped_column(String(16))
    started_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    ended_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    line_count: Mapped[int] = mapped_column(Integer)
    error_count: Mapped[int] = mapped_column(Integer)
    meta: Mapped[dict[str, Any]] = mapped_column(JsonType)


class SqlLogLine(Base):
    """One log line (or multi-line record) of a run."""

    __tablename__ = "log_lines"

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True)
    # A log_runs id, without a foreign key: checking it would cost each line as much as
    # the rest of its insert. Lines are written in their run's transaction, and deleted
    # before it (`LogStore.delete_runs_before`).
    run_id: Mapped[int] = mapped_column(Integer)
    time: Mapped[datetime] = mapped_column(UtcDateTime)
    level: Mapped[int] = mapped_column(SmallInteger)
    unit: Mapped[str | None] = mapped_column(String(64))
    process: Mapped[str | None] = mapped_column(String(64))
    thread: Mapped[str | None] = mapped_column(String(64))
    logger: Mapped[str | None] = mapped_column(String(256))
    checkpoint: Mapped[str | None] = mapped_column(String(128))
    message: Mapped[str] = mapped_column(Text)

    # Lines are written far more than any other row: only the indexes the log pages
    # need (a run, a unit of a run, the errors everywhere); a time range is scanned.
    __table_args__ = (
        Index(None, "run_id", "id"),
        Index(None, "run_id", "unit", "id"),
        Index(None, "level", "id"),
    )


GramsType = Text().with_variant(ARRAY(Integer), "postgresql")
"""A block's trigrams: ``integer[]`` under a GIN index on PostgreSQL; on SQLite, text of
hexadecimal tokens indexed by the FTS5 table ``log_blocks_fts`` (migration 0005)."""


class SqlLogBlock(Base):
    """The distinct trigrams of a block of consecutive log lines: the text search index.

    A block covers the line ids ``id`` to ``last_id`` (blocks never overlap), at most
    1,024 lines written together. Indexing the trigrams of a block rather than of every
    line costs a few index entries per line instead of one per character, so writing
    lines stays fast; a search reads only the lines of the blocks that hold every
    trigram of the text it looks for. ``run_id`` is None for a block of several runs
    (lines stored before the blocks existed).
    """

    __tablename__ = "log_blocks"

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=False)
    last_id: Mapped[int] = mapped_column(BigInteger)
    run_id: Mapped[int | None] = mapped_column(ForeignKey("log_runs.id", ondelete="CASCADE"))
    grams: Mapped[Any] = mapped_column(GramsType)

    __table_args__ = (Index(None, "run_id", "id"),)


class SqlLiveEvent(Base):
    """A live event, written with the change it announces, read by every server process.

    Each process streams the events that follow the last one it read, so a browser
    connected to any process sees the changes committed by all of them. Only the last
    ``VIGIL_LIVE_HISTORY`` are kept (replayed to clients that reconnect). A ``lines``
    event stands for consecutive log lines of a run (``data``: run, first and last id).
    """

    __tablename__ = "live_events"

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    topics: Mapped[list[str]] = mapped_column(JsonType)
    data: Mapped[dict[str, Any]] = mapped_column(JsonType)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class SqlLogProcess(Base):
    """A process (a unit, a worker) of a run and how it ended."""

    __tablename__ = "log_processes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("log_runs.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(128))
    status: Mapped[str] = mapped_column(String(16))
    exit_status: Mapped[int | None] = mapped_column(Integer)
    exception: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_lines: Mapped[list[str]] = mapped_column(JsonType)

    __table_args__ = (UniqueConstraint("run_id", "name"), Index(None, "status", "id"))


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
