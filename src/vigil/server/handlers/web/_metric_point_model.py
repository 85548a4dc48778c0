"""The JSON twin of a metric point's panel (``/metrics/{name}/point``)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from ...services.dashboard import MetricPoint
from ..api.models import JobSummaryModel, PackageModel
from ._format import compare_url

__all__ = ["MetricPointModel"]


class PointPackageModel(BaseModel):
    """A package changed, added or removed since the point's previous job."""

    name: str
    change: str = Field(description="changed, added or removed.")
    before: PackageModel | None
    after: PackageModel | None
    compare_url: str | None = Field(description="The commit range on the code host, if known.")
    author: str | None = Field(description="The author of the job's commit, if it built it.")


class MetricPointModel(BaseModel):
    """A point of a metric's series: its job, value and code changes."""

    metric: str
    job: JobSummaryModel
    value: float | None
    unit: str | None
    data_id: dict[str, Any] | None
    series_key: str | None
    base: JobSummaryModel | None = Field(description="The previous job of its branch.")
    packages: list[PointPackageModel]

    @classmethod
    def from_domain(cls, p: MetricPoint) -> MetricPointModel:
        """Build from the service's point."""
        v = p.value
        return cls(
            metric=p.metric.name,
            job=JobSummaryModel.from_domain(p.job, ""),
            value=v.value if v else None,
            unit=v.unit if v else p.metric.unit,
            data_id=v.data_id if v else None,
            series_key=v.series_key if v else None,
            base=JobSummaryModel.from_domain(p.base, "") if p.base else None,
            packages=[
                PointPackageModel(
                    name=c.name,
                    change=c.change,
                    before=PackageModel.from_domain(c.before) if c.before else None,
                    after=PackageModel.from_domain(c.after) if c.after else None,
                    compare_url=compare_url(
                        c.after.git_url if c.after else None,
                        c.before.git_sha if c.before else None,
                        c.after.git_sha if c.after else None,
                    ),
                    author=c.author,
                )
                for c in p.changes
            ],
        )
