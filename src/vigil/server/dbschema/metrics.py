"""Metric and specification definitions (the latest definition wins)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Float, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, JsonType, UtcDateTime

__all__ = ["SqlMetric", "SqlSpecification"]


class SqlMetric(Base):
    """A metric definition, ``package.name``."""

    __tablename__ = "metrics"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # Real metric names exceed 64 characters: no short limits on names.
    name: Mapped[str] = mapped_column(String(1024), unique=True)
    package: Mapped[str | None] = mapped_column(String(256))
    description: Mapped[str | None] = mapped_column(Text)
    unit: Mapped[str] = mapped_column(String(64), default="")
    tags: Mapped[list[str]] = mapped_column(JsonType)
    reference: Mapped[dict[str, Any]] = mapped_column(JsonType)
    direction: Mapped[str | None] = mapped_column(String(8))
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class SqlSpecification(Base):
    """A specification (threshold) on a metric, ``package.metric.spec``."""

    __tablename__ = "specifications"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(1024), unique=True)
    metric_name: Mapped[str] = mapped_column(String(1024), index=True)
    type: Mapped[str] = mapped_column(String(32), default="threshold")
    threshold_value: Mapped[float | None] = mapped_column(Float)
    threshold_unit: Mapped[str | None] = mapped_column(String(64))
    threshold_operator: Mapped[str | None] = mapped_column(String(8))
    metadata_query: Mapped[dict[str, Any]] = mapped_column(JsonType)
    tags: Mapped[list[str]] = mapped_column(JsonType)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)
