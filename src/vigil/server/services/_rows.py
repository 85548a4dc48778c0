"""Rows of ``metrics`` and ``specifications`` built from SDK objects."""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from vigil.verify import Metric, ThresholdSpecification

from ..domain import MetricInfo, SpecificationInfo

__all__ = [
    "finite",
    "metric_row",
    "metric_row_changed",
    "spec_directions",
    "spec_row",
    "spec_row_changed",
]


def finite(value: float | None) -> float | None:
    """*value*, or None when it is not a finite number (NaN is never stored as 0)."""
    if value is None or not math.isfinite(value):
        return None
    return float(value)


def spec_directions(specs: Iterable[ThresholdSpecification]) -> dict[str, str]:
    """Which way is better for each metric, where its specifications agree on it.

    One pass over the specifications (``SpecificationSet.direction`` scans them all for
    each metric, which an ingest of hundreds of specifications cannot afford).
    """
    seen: dict[str, set[str]] = {}
    for spec in specs:
        direction = spec.direction
        if direction is not None:
            seen.setdefault(spec.metric_name, set()).add(direction)
    return {metric: next(iter(d)) for metric, d in seen.items() if len(d) == 1}


def metric_row(metric: Metric, direction: str | None, now: datetime) -> dict[str, Any]:
    """The ``metrics`` row of an SDK metric."""
    return {
        "name": metric.name,
        "package": metric.package,
        "description": metric.description or None,
        "unit": metric.unit,
        "tags": sorted(metric.tags),
        "reference": dict(metric.reference),
        "direction": metric.direction or direction,
        "updated_at": now,
    }


def metric_row_changed(row: dict[str, Any], stored: MetricInfo | None) -> bool:
    """Whether *row* differs from the stored definition (so needs writing)."""
    if stored is None:
        return True
    return (
        row["package"],
        row["description"],
        row["unit"],
        row["tags"],
        row["reference"],
        row["direction"],
    ) != (
        stored.package,
        stored.description,
        stored.unit,
        sorted(stored.tags),
        stored.reference,
        stored.direction,
    )


def spec_row(spec: ThresholdSpecification, now: datetime) -> dict[str, Any]:
    """The ``specifications`` row of an SDK specification."""
    return {
        "name": spec.name,
        "metric_name": spec.metric_name,
        "type": spec.type,
        "threshold_value": finite(spec.threshold_value),
        "threshold_unit": spec.threshold_unit,
        "threshold_operator": spec.operator,
        "metadata_query": dict(spec.metadata_query),
        "tags": sorted(spec.tags),
        "updated_at": now,
    }


def spec_row_changed(row: dict[str, Any], stored: SpecificationInfo | None) -> bool:
    """Whether *row* differs from the stored specification."""
    if stored is None:
        return True
    return (
        row["metric_name"],
        row["type"],
        row["threshold_value"],
        row["threshold_unit"],
        row["threshold_operator"],
        row["metadata_query"],
        row["tags"],
    ) != (
        stored.metric_name,
        stored.type,
        stored.threshold_value,
        stored.threshold_unit,
        stored.threshold_operator,
        stored.metadata_query,
        sorted(stored.tags),
    )
