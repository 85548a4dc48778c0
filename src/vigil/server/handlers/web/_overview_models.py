"""The parts of the overview's JSON twin beyond counts and jobs: key metrics, failures
per metric, open regressions by commit. URLs are paths on this server."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import quote, urlencode

from pydantic import BaseModel, Field

from ...domain.regressions import Regression, RegressionGroup
from ...services.dashboard import FailingSpec, KeyMetric, MetricFailures
from ..api.regressions import RegressionGroupModel
from ._format import series_url

__all__ = [
    "OVERVIEW_REGRESSIONS",
    "KeyMetricModel",
    "MetricFailuresModel",
    "OpenRegressionModel",
    "RegressionCommitModel",
    "key_metric_url",
    "metric_url",
]


OVERVIEW_REGRESSIONS = 60
"""The newest open regressions the overview groups by commit (the regressions page
lists them all): they are read on every request (triage changes them without a new
job), at about 0.1 ms a record."""


def metric_url(metric: str, **params: str | None) -> str:
    """The metric page of *metric* with the given (non-empty) query parameters."""
    query = urlencode({k: v for k, v in params.items() if v})
    return f"/metrics/{quote(metric, safe='')}" + (f"?{query}" if query else "")


def key_metric_url(key: KeyMetric) -> str:
    """The metric page of a key metric's series."""
    return series_url(key.metric, key.dataset, key.data_id)


class SpecRefModel(BaseModel):
    """A specification as the overview names it."""

    name: str
    tags: list[str]
    operator: str | None
    threshold: float | None = Field(..., description="In the unit given beside it.")
    unit: str | None


class KeyPointsModel(BaseModel):
    """A key metric's recent main-line values, column by column, oldest first."""

    job_id: list[int]
    time: list[datetime]
    value: list[float]


class KeyMetricModel(BaseModel):
    """A key metric: its richest recent main-line series, latest value and verdict."""

    metric: str
    url: str = Field(..., description="The metric page of this series.")
    unit: str
    series_key: str
    dataset: str | None
    data_id: dict[str, Any]
    point_count: int = Field(..., description="Values among the recent main-line jobs.")
    points: KeyPointsModel = Field(..., description="The latest of them (the sparkline).")
    latest: float
    latest_job_id: int
    requirement: bool = Field(..., description="A requirement-level specification applies.")
    spec: SpecRefModel | None = Field(None, description="The main specification (in `unit`).")
    status: str = Field(..., description="The latest value against it: pass, fail or none.")

    @classmethod
    def from_domain(cls, k: KeyMetric) -> KeyMetricModel:
        """Build from the service's key metric."""
        spec = None
        if k.spec is not None:
            spec = SpecRefModel(
                name=k.spec.name,
                tags=k.spec.tags,
                operator=k.spec.threshold_operator,
                threshold=k.threshold,
                unit=k.unit,
            )
        return cls(
            metric=k.metric,
            url=key_metric_url(k),
            unit=k.unit,
            series_key=k.series_key,
            dataset=k.dataset,
            data_id=k.data_id,
            point_count=k.point_count,
            points=KeyPointsModel(
                job_id=[p.job_id for p in k.points],
                time=[p.time for p in k.points],
                value=[p.value for p in k.points],
            ),
            latest=k.latest.value,
            latest_job_id=k.latest.job_id,
            requirement=k.requirement,
            spec=spec,
            status=k.status,
        )


def _spec_ref(f: FailingSpec) -> SpecRefModel:
    s = f.spec
    return SpecRefModel(
        name=s.name,
        tags=s.tags,
        operator=s.threshold_operator,
        threshold=s.threshold_value,
        unit=s.threshold_unit,
    )


class MetricFailuresModel(BaseModel):
    """A metric's failing specifications, summarised by requirement level."""

    metric: str
    url: str
    failing_level: str | None = Field(
        ..., description="The loosest level (minimum, design, stretch) some value fails."
    )
    passing_level: str | None = Field(
        ..., description="The strictest looser level every value passes."
    )
    passing_spec: str | None = Field(..., description="A specification of the passing level.")
    headline: SpecRefModel = Field(..., description="The failure that stands for the metric.")
    worst_value: float
    unit: str
    worst_job_id: int
    dataset: str | None
    failing_count: int = Field(..., description="Specifications failing.")
    others: int = Field(..., description="Of those, tagged with no requirement level.")
    specifications: list[str] = Field(..., description="Every failing specification.")

    @classmethod
    def from_domain(cls, m: MetricFailures) -> MetricFailuresModel:
        """Build from the service's summary."""
        head = m.headline
        return cls(
            metric=m.metric,
            url=metric_url(m.metric, dataset=head.dataset),
            failing_level=m.failing_level,
            passing_level=m.passing_level,
            passing_spec=m.passing_spec.name if m.passing_spec is not None else None,
            headline=_spec_ref(head),
            worst_value=head.worst_value,
            unit=head.unit,
            worst_job_id=head.worst_job_id,
            dataset=head.dataset,
            failing_count=len(m.failing),
            others=m.others,
            specifications=[f.spec.name for f in m.failing],
        )


class OpenRegressionModel(BaseModel):
    """An open regression as the overview lists it."""

    id: int
    url: str
    kind: str
    metric: str
    dataset: str | None
    data_id: dict[str, Any]
    before: float | None
    after: float | None
    relative_size: float | None
    unit: str
    specifications: list[str]

    @classmethod
    def from_domain(cls, r: Regression) -> OpenRegressionModel:
        """Build from a domain regression."""
        return cls(
            id=r.id,
            url=f"/regressions/{r.id}",
            kind=r.kind,
            metric=r.series.metric_name,
            dataset=r.series.dataset,
            data_id=r.series.data_id,
            before=r.before,
            after=r.after,
            relative_size=r.relative_size,
            unit=r.unit,
            specifications=r.specifications,
        )


class RegressionCommitModel(RegressionGroupModel):
    """Open regressions that share the commit of their first bad job."""

    job_url: str = Field(..., description="The group's earliest first bad job (its page).")
    regressions: list[OpenRegressionModel]

    @classmethod
    def from_group(cls, g: RegressionGroup) -> RegressionCommitModel:
        """Build from a domain group (by commit)."""
        return cls(
            **RegressionGroupModel.from_domain(g, "").model_dump(),
            job_url=f"/jobs/{g.job.id}",
            regressions=[OpenRegressionModel.from_domain(r) for r in g.regressions],
        )
