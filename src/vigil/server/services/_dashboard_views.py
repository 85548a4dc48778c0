"""What the dashboard's pages show: plain dataclasses that the HTML pages and their JSON
twins both render, filled by `DashboardService`."""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from operator import attrgetter
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from vigil.verify import SpecStatus

from ..domain import (
    Artifact,
    Blob,
    JobDetail,
    JobSummary,
    MetricInfo,
    PackageChanges,
    Page,
    SeriesInfo,
    SeriesPoint,
)
from ..domain.analysis_settings import MetricAnalysisSettings
from ..domain.regressions import RegressionMarker
from ..storage.dashboard import MeasurementValue
from ._specifications import SpecThreshold, Verdict

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "DataIdRow",
    "DataIdView",
    "JobListView",
    "JobView",
    "MeasurementVerdicts",
    "MetricGroup",
    "MetricQuery",
    "MetricSummary",
    "MetricView",
    "points_frame",
]


@dataclass(slots=True)
class MeasurementVerdicts:
    """A measurement of a job and its verdicts."""

    value: MeasurementValue
    verdicts: list[Verdict]
    blob_refs: list[str] = field(default_factory=list)

    @property
    def status(self) -> str:
        """``fail`` if any verdict fails, else ``pass`` if any passes, else ``none``."""
        statuses = {v.status for v in self.verdicts}
        if SpecStatus.FAIL in statuses:
            return SpecStatus.FAIL
        if SpecStatus.PASS in statuses:
            return SpecStatus.PASS
        return "none"


@dataclass(slots=True)
class MetricSummary:
    """A metric with how many series and specifications it has."""

    metric: MetricInfo
    series_count: int
    spec_count: int


@dataclass(slots=True)
class MetricGroup:
    """The metrics of one package."""

    package: str
    metrics: list[MetricSummary]


@dataclass(slots=True)
class MetricQuery:
    """The state of a metric page, all of it in the query string."""

    dataset: str | None = None
    data_id: dict[str, Any] | None = None
    band: str | None = None
    environment: str | None = None
    period: str = "1y"
    x: Literal["time", "commit"] = "time"
    view: Literal["time", "branch"] = "time"
    branches: list[str] | None = None
    specs: list[str] | None = None
    last: int = 10


@dataclass(slots=True)
class MetricView:
    """A metric page: the chosen series, its points, its thresholds, the options."""

    metric: MetricInfo
    query: MetricQuery
    series: SeriesInfo | None
    candidates: list[SeriesInfo]
    frame: pd.DataFrame
    thresholds: list[SpecThreshold]
    branches: list[str]
    shown_branches: list[str]
    main_branch: str
    failing_count: int
    truncated: bool
    message: str | None
    datasets: list[str]
    bands: list[str]
    data_ids: list[dict[str, Any]]
    environments: list[str]
    since: datetime | None
    markers: list[RegressionMarker] = field(default_factory=list)
    data_key: Hashable | None = None
    """Equal for two views whose frames hold the same points (None: not known)."""
    analysis: MetricAnalysisSettings = field(default_factory=MetricAnalysisSettings)
    """The metric's analysis settings (``VIGIL_ANALYSIS_SETTINGS_FILE``)."""


@dataclass(slots=True)
class JobView:
    """A job page."""

    detail: JobDetail
    previous: JobSummary | None
    changes: PackageChanges | None
    measurements: list[MeasurementVerdicts]
    blobs: list[Blob]
    artifacts: list[Artifact]
    main_branch: str

    @property
    def counts(self) -> dict[str, int]:
        """How many measurements fail, pass, and have no verdict."""
        out = {"fail": 0, "pass": 0, "none": 0}
        for m in self.measurements:
            out[m.status] += 1
        return out


@dataclass(slots=True)
class JobListView:
    """A page of jobs and the values its filters offer."""

    page: Page[JobSummary]
    datasets: list[str]
    branches: list[str]
    environments: list[str]


@dataclass(slots=True)
class DataIdRow:
    """One dataId's value in a job, with its verdict against the chosen threshold."""

    data_id: dict[str, Any]
    value: float | None
    unit: str
    status: str
    series_key: str


@dataclass(slots=True)
class DataIdView:
    """The values of a metric per dataId in one job."""

    metric: MetricInfo
    job: JobSummary | None
    rows: list[DataIdRow]
    row_key: str | None
    col_key: str | None
    threshold: SpecThreshold | None
    thresholds: list[SpecThreshold]
    datasets: list[str]
    dataset: str | None
    band: str | None
    bands: list[str]
    message: str | None


_POINT_FIELDS = attrgetter(
    "job_id", "time", "value", "unit", "branch", "commit_sha", "pull_request", "environment"
)


def points_frame(points: Sequence[SeriesPoint], changed: Mapping[int, int]) -> pd.DataFrame:
    """The points as the DataFrame `vigil.plots.series_plot` draws."""
    import pandas as pd

    # One pass over the points (in C), then a column per field.
    columns = list(zip(*map(_POINT_FIELDS, points), strict=True)) or [()] * 8
    job_ids, times, values, units, branches, commits, prs, environments = columns
    return pd.DataFrame(
        {
            "job_id": np.array(job_ids, dtype=np.int64),
            "time": pd.DatetimeIndex(times, tz="UTC") if times else pd.DatetimeIndex([], tz="UTC"),
            # None (not a number) becomes NaN.
            "value": np.array(values, dtype=float),
            "unit": list(units),
            "branch": list(branches),
            "commit_sha": list(commits),
            "pull_request": pd.array(prs, dtype="Int64"),
            "environment": list(environments),
            "packages_changed": pd.array(list(map(changed.get, job_ids)), dtype="Int64"),
        }
    )
