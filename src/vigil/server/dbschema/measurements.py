"""Series, measurements and the blobs that back them."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Column, Float, ForeignKey, Index, String, Table, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, BigIntId, JsonType

__all__ = ["SqlBlob", "SqlMeasurement", "SqlSeries", "measurement_blobs_table"]


class SqlSeries(Base):
    """Comparable measurements: one metric on one dataset, instrument and dataId.

    ``series_key`` is computed by `vigil.server.domain.series.series_key`; the branch
    is not part of a series.
    """

    __tablename__ = "series"

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True)
    series_key: Mapped[str] = mapped_column(String(64), unique=True)
    metric_name: Mapped[str] = mapped_column(String(1024), index=True)
    dataset: Mapped[str | None] = mapped_column(String(256))
    instrument: Mapped[str | None] = mapped_column(String(64))
    data_id: Mapped[dict[str, Any]] = mapped_column(JsonType)


class SqlMeasurement(Base):
    """One value of a metric in one job; NaN is stored as NULL."""

    __tablename__ = "measurements"

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"))
    series_id: Mapped[int] = mapped_column(ForeignKey("series.id"))
    metric_name: Mapped[str] = mapped_column(String(1024))
    identifier: Mapped[str | None] = mapped_column(String(64))
    value: Mapped[float | None] = mapped_column(Float)
    unit: Mapped[str] = mapped_column(String(64), default="")
    data_id: Mapped[dict[str, Any]] = mapped_column(JsonType)
    notes: Mapped[dict[str, Any]] = mapped_column(JsonType)

    __table_args__ = (
        # Covering: a series' history is read from the index alone.
        # The series read walks this index alone: PostgreSQL also needs the row id in it
        # (SQLite keeps the rowid in every index).
        Index(None, "series_id", "job_id", "value", "unit", postgresql_include=["id"]),
        Index(None, "job_id"),
    )


class SqlBlob(Base):
    """Named datums of a job (arrays, scalars) that measurements refer to."""

    __tablename__ = "blobs"

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"))
    identifier: Mapped[str] = mapped_column(String(64))
    name: Mapped[str | None] = mapped_column(String(1024))
    data: Mapped[dict[str, Any]] = mapped_column(JsonType)

    __table_args__ = (UniqueConstraint("job_id", "identifier"),)


measurement_blobs_table = Table(
    "measurement_blobs",
    Base.metadata,
    Column(
        "measurement_id",
        ForeignKey("measurements.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("blob_id", ForeignKey("blobs.id", ondelete="CASCADE"), primary_key=True, index=True),
)
"""Which blobs each measurement refers to (``blob_refs``)."""
