"""The log aggregation's tables (runs, lines, their search blocks, processes), the
event sources whose batches are applied once, and the live events every server process
streams."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    ARRAY,
    BigInteger,
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
    "SqlLiveEvent",
    "SqlLogBlock",
    "SqlLogLine",
    "SqlLogProcess",
    "SqlLogRun",
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
