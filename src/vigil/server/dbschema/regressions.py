"""Regressions, their triage history, subscriptions, the outbox and the analysis queue."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, BigIntId, JsonType, UtcDateTime

__all__ = [
    "SqlAnalysisQueueItem",
    "SqlOutboxMessage",
    "SqlRegression",
    "SqlRegressionEvent",
    "SqlSubscription",
]


class SqlRegression(Base):
    """A change of level, or failing specifications, on the default branch of a series.

    ``kind`` is ``regression``, ``improvement``, ``change`` (no known direction) or
    ``spec_failure`` (specifications that fail with no change of level to explain it);
    ``specifications`` lists the names of the specifications the record makes fail (a
    level change) or holds (a specification failure; one record per series, not per
    specification); ``fixed_by_job_id`` is the first job back at the earlier level (a
    later change that undid this one); ``dissolved`` marks a record that later data no
    longer support; ``announced`` says whether notifications were queued for it (in its
    current phase: a confirmed suspicion is announced again, see ``suspicion_announced``).
    ``specification`` is the one specification of records made before they were grouped.
    """

    __tablename__ = "regressions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    series_id: Mapped[int] = mapped_column(ForeignKey("series.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), index=True)
    specification: Mapped[str | None] = mapped_column(String(1024))
    specifications: Mapped[list[str] | None] = mapped_column(JsonType)
    fixed_by_job_id: Mapped[int | None] = mapped_column(
        ForeignKey("jobs.id", ondelete="SET NULL"), index=True
    )
    last_good_job_id: Mapped[int | None] = mapped_column(ForeignKey("jobs.id", ondelete="SET NULL"))
    first_bad_job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"))
    trigger_job_id: Mapped[int | None] = mapped_column(ForeignKey("jobs.id", ondelete="SET NULL"))
    before: Mapped[float | None] = mapped_column(Float)
    after: Mapped[float | None] = mapped_column(Float)
    size: Mapped[float | None] = mapped_column(Float)
    relative_size: Mapped[float | None] = mapped_column(Float)
    effect_size: Mapped[float | None] = mapped_column(Float)
    p_value: Mapped[float | None] = mapped_column(Float)
    unit: Mapped[str] = mapped_column(String(64), default="")
    dissolved: Mapped[bool] = mapped_column(Boolean, default=False)
    #: An early warning: the newest values already look like this change, which later
    #: values confirm (then False) or dissolve.
    suspected: Mapped[bool] = mapped_column(Boolean, default=False)
    announced: Mapped[bool] = mapped_column(Boolean, default=False, index=True)
    #: The suspicion was told to the subscribers who asked for suspicions (they are not
    #: told again when it is confirmed).
    suspicion_announced: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)

    __table_args__ = (Index(None, "series_id", "kind"),)


class SqlRegressionEvent(Base):
    """One entry of a regression's history: a status change, a note, a move."""

    __tablename__ = "regression_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    regression_id: Mapped[int] = mapped_column(
        ForeignKey("regressions.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    user_name: Mapped[str | None] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(16))
    from_status: Mapped[str | None] = mapped_column(String(16))
    to_status: Mapped[str | None] = mapped_column(String(16))
    note: Mapped[str | None] = mapped_column(Text)


class SqlSubscription(Base):
    """Who wants to hear about which regressions, and where."""

    __tablename__ = "subscriptions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    channel: Mapped[str] = mapped_column(String(16))
    target: Mapped[str] = mapped_column(String(2048))
    metric_pattern: Mapped[str | None] = mapped_column(String(1024))
    package: Mapped[str | None] = mapped_column(String(256))
    tag: Mapped[str | None] = mapped_column(String(256))
    dataset: Mapped[str | None] = mapped_column(String(256))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    #: The HMAC-SHA256 key of a webhook's deliveries, stored as it is (the server signs
    #: with it); ``None`` for the other channels.
    secret: Mapped[str | None] = mapped_column(String(128))
    secret_created_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    #: ``confirmed``: told of changes once later data confirm them; ``suspected``: told
    #: on the first suspect run already (and not again when confirmed).
    notify_on: Mapped[str] = mapped_column(String(16), default="confirmed")


class SqlOutboxMessage(Base):
    """A notification to deliver at least once, and never twice.

    ``dedupe_key`` is the SHA-256 of ``event_key``, ``channel`` and ``target``: the
    unique constraint on it makes queueing the same event for the same target a no-op.
    """

    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True)
    dedupe_key: Mapped[str] = mapped_column(String(64), unique=True)
    event_key: Mapped[str] = mapped_column(String(256))
    channel: Mapped[str] = mapped_column(String(16))
    target: Mapped[str] = mapped_column(String(2048))
    payload: Mapped[dict[str, Any]] = mapped_column(JsonType)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UtcDateTime, index=True)
    claimed_until: Mapped[datetime | None] = mapped_column(UtcDateTime)
    delivered_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    failed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    #: The network detail of the last failed attempt, for administrators only;
    #: ``last_error`` says what failed without it.
    error_detail: Mapped[str | None] = mapped_column(Text)
    #: The subscription a webhook message is signed for.
    subscription_id: Mapped[int | None] = mapped_column(
        ForeignKey("subscriptions.id", ondelete="SET NULL"), index=True
    )


class SqlAnalysisQueueItem(Base):
    """A series waiting to be analysed again; ``job_id`` is the job that asked for it.

    One row per series: a later job updates ``job_id`` and bumps ``version``, so that a
    worker analysing the series meanwhile knows to leave the row for another pass.
    """

    __tablename__ = "analysis_queue"

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True)
    series_id: Mapped[int] = mapped_column(ForeignKey("series.id", ondelete="CASCADE"), unique=True)
    job_id: Mapped[int | None] = mapped_column(
        ForeignKey("jobs.id", ondelete="SET NULL"), index=True
    )
    version: Mapped[int] = mapped_column(Integer, default=1)
    enqueued_at: Mapped[datetime] = mapped_column(UtcDateTime)
    claimed_until: Mapped[datetime | None] = mapped_column(UtcDateTime)
