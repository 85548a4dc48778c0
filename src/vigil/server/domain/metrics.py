"""Metric and specification definitions as stored."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

__all__ = ["DatasetInfo", "MetricInfo", "SpecificationInfo"]


@dataclass(slots=True)
class MetricInfo:
    """A metric definition."""

    name: str
    package: str | None
    description: str | None
    unit: str
    tags: list[str] = field(default_factory=list)
    reference: dict[str, Any] = field(default_factory=dict)
    direction: str | None = None
    updated_at: datetime | None = None


@dataclass(slots=True)
class SpecificationInfo:
    """A threshold specification on a metric."""

    name: str
    metric_name: str
    type: str
    threshold_value: float | None
    threshold_unit: str | None
    threshold_operator: str | None
    metadata_query: dict[str, Any] = field(default_factory=dict)
    tags: list[str] = field(default_factory=list)
    updated_at: datetime | None = None


@dataclass(slots=True)
class DatasetInfo:
    """A dataset that jobs ran on."""

    name: str
    job_count: int
    instruments: list[str]
    last_job_id: int
    last_job_at: datetime
