"""The overview's key metrics: which metrics matter, and their recent main-line history.

A metric is *key* when a specification tagged as a requirement level (``minimum``,
``design``, ``stretch``: the levels of LSST's science requirements) applies to its
richest recent series; when no measured metric has one, the most measured metrics are
key instead. Among key metrics, those with the most recent main-line values come first,
then those with the most requirement specifications, then by name. Each is shown
through its richest series (the most values among the recent main-line jobs): its
latest values, the newest against its main specification (`thresholds_for`'s default
choice: ``design`` when one applies).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from vigil.verify.units import conversion_factor

from ..domain import JobSummary, SpecificationInfo
from ..storage.dashboard import MeasurementValue
from ._specifications import spec_status, thresholds_for

__all__ = [
    "KEY_METRICS",
    "REQUIREMENT_TAGS",
    "SPARK_POINTS",
    "KeyMetric",
    "KeyPoint",
    "key_metrics",
    "richest_series",
]

REQUIREMENT_TAGS = ("minimum", "design", "stretch")
"""Specification tags naming a requirement level, loosest first."""

KEY_METRICS = 12
"""The most key metrics the overview shows."""

SPARK_POINTS = 60
"""The most recent main-line values shown per key metric."""


@dataclass(slots=True)
class KeyPoint:
    """One main-line value of a key metric's series."""

    job_id: int
    time: datetime
    value: float


@dataclass(slots=True)
class KeyMetric:
    """A key metric: its richest recent series and that series' latest values.

    ``threshold`` is the main specification's threshold in ``unit`` (None when there is
    no specification or its unit does not convert); ``status`` is the newest value
    against it: ``pass``, ``fail``, or ``none`` (no verdict).
    """

    metric: str
    unit: str
    series_key: str
    dataset: str | None
    data_id: dict[str, Any]
    points: list[KeyPoint]
    point_count: int
    """Values of the series among the recent main-line jobs (``points`` keeps the last)."""
    requirement: bool
    """A specification tagged with a requirement level applies to the series."""
    spec: SpecificationInfo | None = None
    threshold: float | None = None
    status: str = "none"
    requirement_specs: int = field(default=0, repr=False)

    @property
    def latest(self) -> KeyPoint:
        """The newest value."""
        return self.points[-1]

    @property
    def spec_short_name(self) -> str | None:
        """The last part of the main specification's name."""
        return self.spec.name.rsplit(".", 1)[-1] if self.spec is not None else None


def _requirement(spec: SpecificationInfo) -> bool:
    return any(tag in spec.tags for tag in REQUIREMENT_TAGS)


def _series_values(
    values: Sequence[MeasurementValue], order: Mapping[int, tuple[int, datetime]]
) -> dict[str, list[MeasurementValue]]:
    """The finite values of each series (of the jobs in *order*), in no given order."""
    by_series: dict[str, list[MeasurementValue]] = {}
    for v in values:
        if v.value is None or not math.isfinite(v.value) or v.job_id not in order:
            continue
        found = by_series.get(v.series_key)
        if found is None:
            by_series[v.series_key] = [v]
        else:
            found.append(v)
    return by_series


def _converted(values: Sequence[MeasurementValue], unit: str) -> list[tuple[int, float]]:
    """``(job id, value in unit)``; values whose unit does not convert are left out."""
    out = []
    for v in values:
        factor = 1.0 if v.unit == unit else conversion_factor(v.unit, unit)
        if factor is not None and v.value is not None:
            out.append((v.job_id, v.value * factor))
    return out


def _job_order(jobs: Sequence[JobSummary]) -> dict[int, tuple[int, datetime]]:
    """``job id -> (rank, time)``: by time, then id (a re-run of an old commit sorts by
    when it ran)."""
    timed = sorted((j.facts.run_at or j.created_at, j.id) for j in jobs)
    return {job_id: (rank, time) for rank, (time, job_id) in enumerate(timed)}


def richest_series(
    jobs: Sequence[JobSummary], values: Sequence[MeasurementValue]
) -> dict[str, list[MeasurementValue]]:
    """Each metric's series with the most finite values among *values* (then the one
    whose newest value is the most recent, then the one with the fewest dataId keys):
    its values, oldest job first.

    Parameters
    ----------
    jobs
        The recent main-line jobs, in any order.
    values
        Their measurements.
    """
    order = _job_order(jobs)

    def rank(found: Sequence[MeasurementValue]) -> tuple[int, int, int, str]:
        # The most values, then the most recent newest value, then the fewest dataId
        # keys (an aggregate stands for its parts), then the key (a stable choice).
        newest = max(order[v.job_id][0] for v in found)
        return (-len(found), -newest, len(found[0].data_id), found[0].series_key)

    best: dict[str, tuple[tuple[int, int, int, str], list[MeasurementValue]]] = {}
    for found in _series_values(values, order).values():
        name = found[0].metric_name
        score = rank(found)
        if name not in best or score < best[name][0]:
            best[name] = (score, found)
    return {
        name: sorted(found, key=lambda v: order[v.job_id][0]) for name, (_, found) in best.items()
    }


def key_metrics(
    jobs: Sequence[JobSummary],
    richest: Mapping[str, Sequence[MeasurementValue]],
    specs: Mapping[str, Sequence[SpecificationInfo]],
    metas: Mapping[int, Mapping[str, Any]],
    *,
    limit: int = KEY_METRICS,
    points: int = SPARK_POINTS,
) -> tuple[list[KeyMetric], int]:
    """The key metrics, and how many metrics were key before *limit*.

    Parameters
    ----------
    jobs
        The recent main-line jobs, in any order.
    richest
        Each metric's richest series among them (`richest_series`).
    specs
        The specifications of each metric, by metric name.
    metas
        The ``meta`` of each series' newest job, by job id (specifications apply
        through it).
    """
    order = _job_order(jobs)
    dataset = {j.id: j.facts.dataset for j in jobs}
    candidates = []
    for name, found in richest.items():
        last = found[-1]
        context = {**metas.get(last.job_id, {}), **last.data_id}
        metric_specs = specs.get(name, ())
        thresholds = thresholds_for(metric_specs, context, last.unit, None)
        main = next((t for t in thresholds if t.value is not None), None)
        series = _converted(found, last.unit)
        key = KeyMetric(
            metric=name,
            unit=last.unit,
            series_key=last.series_key,
            dataset=dataset.get(last.job_id),
            data_id=dict(last.data_id),
            points=[
                KeyPoint(job_id, order[job_id][1], value) for job_id, value in series[-points:]
            ],
            point_count=len(found),
            requirement=any(_requirement(t.spec) for t in thresholds),
            requirement_specs=sum(_requirement(s) for s in metric_specs),
        )
        if main is not None:
            key.spec, key.threshold = main.spec, main.value
            key.status = str(spec_status(main.spec, last.value, last.unit).value)
            if key.status not in ("pass", "fail"):
                key.status = "none"
        candidates.append(key)
    required = [k for k in candidates if k.requirement]
    chosen = required or candidates
    chosen.sort(key=lambda k: (-k.point_count, -k.requirement_specs, k.metric))
    return chosen[:limit], len(chosen)
