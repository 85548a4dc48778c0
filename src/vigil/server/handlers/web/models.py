"""The JSON twins of the dashboard's pages (``?format=json``).

URLs in them are paths on this server (``/jobs/12``, ``/api/jobs/12/artifacts/a.png``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast
from urllib.parse import quote

from pydantic import BaseModel, Field

from vigil.analysis import DEFAULTS

from ...domain.analysis_settings import MetricAnalysisSettings
from ...domain.regressions import RegressionGroup
from ...services.dashboard import (
    DataIdView,
    FailingSpec,
    JobListView,
    JobView,
    MeasurementVerdicts,
    MetricGroup,
    MetricView,
    OverviewView,
    SpecThreshold,
)
from ...storage.dashboard import Counts
from ..api.models import (
    ArtifactModel,
    BlobModel,
    JobSummaryModel,
    MetricModel,
    PackageChangesModel,
    PackageModel,
    SeriesModel,
    SpecificationModel,
)
from ._job_arrays import shared_arrays
from ._overview_models import (
    OVERVIEW_REGRESSIONS,
    KeyMetricModel,
    MetricFailuresModel,
    RegressionCommitModel,
)

__all__ = [
    "AnalysisSettingsModel",
    "DataIdPageModel",
    "JobListPageModel",
    "JobPageModel",
    "MetricListPageModel",
    "MetricPageModel",
    "OverviewModel",
]


def job_model(job: Any) -> JobSummaryModel:
    """A job summary with a server-relative URL."""
    return JobSummaryModel.from_domain(job, "")


class CountsModel(BaseModel):
    """How much the server holds."""

    jobs: int
    metrics: int
    specifications: int
    series: int
    measurements: int
    datasets: int
    branches: int
    last_job_id: int | None
    last_job_at: datetime | None

    @classmethod
    def from_domain(cls, c: Counts) -> CountsModel:
        """Build from the store's counts."""
        return cls(
            jobs=c.jobs,
            metrics=c.metrics,
            specifications=c.specifications,
            series=c.series,
            measurements=c.measurements,
            datasets=c.datasets,
            branches=c.branches,
            last_job_id=c.last_job_id,
            last_job_at=c.last_job_at,
        )


class FailingSpecModel(BaseModel):
    """A specification that the latest main-line jobs fail."""

    spec: str
    metric: str
    tags: list[str]
    operator: str | None
    threshold: float | None
    threshold_unit: str | None
    failing: int = Field(..., description="Latest jobs' measurements that fail it.")
    evaluated: int = Field(..., description="Latest jobs' measurements with a verdict.")
    worst_value: float
    unit: str
    worst_job_id: int
    dataset: str | None

    @classmethod
    def from_domain(cls, f: FailingSpec) -> FailingSpecModel:
        """Build from the service's result."""
        return cls(
            spec=f.spec.name,
            metric=f.spec.metric_name,
            tags=f.spec.tags,
            operator=f.spec.threshold_operator,
            threshold=f.spec.threshold_value,
            threshold_unit=f.spec.threshold_unit,
            failing=f.failing,
            evaluated=f.evaluated,
            worst_value=f.worst_value,
            unit=f.unit,
            worst_job_id=f.worst_job_id,
            dataset=f.dataset,
        )


class OverviewModel(BaseModel):
    """The overview page."""

    counts: CountsModel
    main_branch: str
    latest_jobs: list[JobSummaryModel]
    failing_specifications: list[FailingSpecModel]
    failing_truncated: bool = Field(..., description="More specifications fail than listed.")
    checked_jobs: int = Field(..., description="Latest main-line jobs evaluated.")
    failing_metrics: list[MetricFailuresModel] = Field(
        ..., description="The failing specifications summarised per metric."
    )
    key_metrics: list[KeyMetricModel] = Field(..., description="Their recent main-line history.")
    key_metric_total: int = Field(..., description="Key metrics before the page's limit.")
    open_regressions: list[RegressionCommitModel] = Field(
        ...,
        description=f"The newest open regressions (at most {OVERVIEW_REGRESSIONS}) by the"
        " commit of their first bad job, newest first.",
    )
    open_regressions_truncated: bool = Field(..., description="More open regressions exist.")

    @classmethod
    def from_domain(
        cls, o: OverviewView, regressions: list[RegressionGroup], truncated: bool
    ) -> OverviewModel:
        """Build from the service's overview and the open regressions by commit."""
        return cls(
            counts=CountsModel.from_domain(o.counts),
            main_branch=o.main_branch,
            latest_jobs=[job_model(j) for j in o.latest_jobs],
            failing_specifications=[FailingSpecModel.from_domain(f) for f in o.failing],
            failing_truncated=o.failing_truncated,
            checked_jobs=o.checked_jobs,
            failing_metrics=[MetricFailuresModel.from_domain(m) for m in o.metric_failures],
            key_metrics=[KeyMetricModel.from_domain(k) for k in o.key_metrics],
            key_metric_total=o.key_metric_total,
            open_regressions=[RegressionCommitModel.from_group(g) for g in regressions],
            open_regressions_truncated=truncated,
        )


class MetricEntryModel(MetricModel):
    """A metric in the list, with its series and specification counts."""

    series_count: int
    spec_count: int
    url: str


class MetricPackageModel(BaseModel):
    """The metrics of one package."""

    package: str
    metrics: list[MetricEntryModel]


class MetricListPageModel(BaseModel):
    """The metrics page."""

    q: str | None = Field(None, description="The search text.")
    packages: list[MetricPackageModel]
    metric_count: int

    @classmethod
    def from_domain(cls, groups: list[MetricGroup], q: str | None) -> MetricListPageModel:
        """Build from the service's groups."""
        packages = [
            MetricPackageModel(
                package=g.package,
                metrics=[
                    MetricEntryModel(
                        **MetricModel.from_domain(m.metric).model_dump(),
                        series_count=m.series_count,
                        spec_count=m.spec_count,
                        url=f"/metrics/{quote(m.metric.name)}",
                    )
                    for m in g.metrics
                ],
            )
            for g in groups
        ]
        return cls(q=q, packages=packages, metric_count=sum(len(p.metrics) for p in packages))


class ThresholdModel(BaseModel):
    """A specification that applies to the series shown."""

    spec: SpecificationModel
    value: float | None = Field(..., description="The threshold in the metric's unit.")
    selected: bool = Field(..., description="Drawn, and its failures marked.")

    @classmethod
    def from_domain(cls, t: SpecThreshold) -> ThresholdModel:
        """Build from the service's threshold."""
        return cls(spec=SpecificationModel.from_domain(t.spec), value=t.value, selected=t.selected)


class PointsModel(BaseModel):
    """The points of the series, column by column (one list per field)."""

    job_id: list[int]
    time: list[datetime]
    value: list[float | None]
    branch: list[str | None]
    commit_sha: list[str | None]
    pull_request: list[int | None]
    environment: list[str | None]
    packages_changed: list[int | None] = Field(
        ..., description="Packages changed since the branch's previous job (null: not counted)."
    )


class MetricStateModel(BaseModel):
    """The page's state: what the query string said, with defaults filled in."""

    dataset: str | None
    data_id: dict[str, Any] | None
    band: str | None
    environment: str | None
    period: str
    x: str
    view: str
    branch: list[str] | None
    spec: list[str] | None
    last: int


GATE_ALPHA = 0.01
"""The gate's default alpha (`vigil.analysis.gate`)."""


class AnalysisSettingsModel(BaseModel):
    """The analysis settings in force for a metric (``VIGIL_ANALYSIS_SETTINGS_FILE``)."""

    pattern: str | None = Field(
        ..., description="The pattern of the settings file that applies; null: the defaults."
    )
    line: int | None = Field(None, description="Its line in the file.")
    given: list[str] = Field(..., description="The settings that pattern gives.")
    alpha: float = Field(..., description="Largest p-value of a change point (detection).")
    gate_alpha: float = Field(..., description="Largest p-value of the gate's verdicts.")
    min_effect: float = Field(..., description="Smallest change that counts, in noise sigmas.")
    min_relative: float | None = Field(
        None, description="Smallest change that counts, in % of the level (null: none)."
    )
    min_absolute: float | None = Field(
        None, description="Smallest change that counts, in the metric's unit (null: none)."
    )
    min_points: int = Field(..., description="Values of a new level that confirm a change.")
    direction: str | None = Field(..., description="Which way is better: lower, higher, null.")
    alert: bool = Field(..., description="Whether its regressions are notified.")

    @classmethod
    def from_domain(
        cls, a: MetricAnalysisSettings, metric_direction: str | None
    ) -> AnalysisSettingsModel:
        """Build from a metric's settings, filling in the analysis defaults."""
        return cls(
            pattern=a.pattern,
            line=a.line,
            given=list(a.given()),
            alpha=a.alpha if a.alpha is not None else DEFAULTS.alpha,
            gate_alpha=a.alpha if a.alpha is not None else GATE_ALPHA,
            min_effect=a.min_effect if a.min_effect is not None else DEFAULTS.min_effect,
            min_relative=a.min_relative,
            min_absolute=a.min_absolute,
            min_points=a.min_points if a.min_points is not None else DEFAULTS.min_segment,
            direction=a.direction or metric_direction,
            alert=a.alert,
        )


class MetricPageModel(BaseModel):
    """A metric page."""

    metric: MetricModel
    state: MetricStateModel
    series: SeriesModel | None = Field(..., description="The series shown, if any.")
    series_count: int = Field(..., description="Series that match the filters.")
    thresholds: list[ThresholdModel]
    branches: list[str] = Field(..., description="Branches with points in the period.")
    main_branch: str
    point_count: int
    failing_count: int = Field(..., description="Points failing a selected threshold.")
    truncated: bool
    message: str | None = Field(..., description="Why the plot is empty or partial.")
    since: datetime | None
    options: dict[str, list[Any]] = Field(
        ..., description="Values the filters offer: datasets, bands, data_ids, environments."
    )
    points: PointsModel
    analysis: AnalysisSettingsModel = Field(
        ..., description="The analysis settings in force for the metric."
    )

    @classmethod
    def from_domain(cls, v: MetricView) -> MetricPageModel:
        """Build from the service's view."""
        q = v.query
        frame = v.frame

        def column(name: str) -> list[Any]:
            values = frame[name]
            return cast("list[Any]", values.astype(object).where(values.notna(), None).tolist())

        return cls(
            metric=MetricModel.from_domain(v.metric),
            state=MetricStateModel(
                dataset=v.series.dataset if v.series else q.dataset,
                data_id=v.series.data_id if v.series else q.data_id,
                band=q.band,
                environment=q.environment,
                period=q.period,
                x=q.x,
                view=q.view,
                branch=q.branches,
                spec=q.specs,
                last=q.last,
            ),
            series=SeriesModel.from_domain(v.series, "") if v.series else None,
            series_count=len(v.candidates),
            thresholds=[ThresholdModel.from_domain(t) for t in v.thresholds],
            branches=v.branches,
            main_branch=v.main_branch,
            point_count=len(frame),
            failing_count=v.failing_count,
            truncated=v.truncated,
            message=v.message,
            since=v.since,
            options={
                "datasets": v.datasets,
                "bands": v.bands,
                "data_ids": v.data_ids,
                "environments": v.environments,
            },
            points=PointsModel(
                job_id=frame["job_id"].tolist(),
                time=frame["time"].tolist(),
                value=column("value"),
                branch=column("branch"),
                commit_sha=column("commit_sha"),
                pull_request=column("pull_request"),
                environment=column("environment"),
                packages_changed=column("packages_changed"),
            ),
            analysis=AnalysisSettingsModel.from_domain(v.analysis, v.metric.direction),
        )


class JobListPageModel(BaseModel):
    """The jobs page."""

    filters: dict[str, Any]
    jobs: list[JobSummaryModel]
    next_cursor: str | None
    options: dict[str, list[str]]

    @classmethod
    def from_domain(cls, v: JobListView, filters: dict[str, Any]) -> JobListPageModel:
        """Build from the service's view."""
        return cls(
            filters=filters,
            jobs=[job_model(j) for j in v.page.items],
            next_cursor=v.page.next_cursor,
            options={
                "datasets": v.datasets,
                "branches": v.branches,
                "environments": v.environments,
            },
        )


class VerdictModel(BaseModel):
    """One specification's verdict on one measurement."""

    spec: str
    tags: list[str]
    operator: str | None
    threshold: float | None
    threshold_unit: str | None
    status: str = Field(..., description="pass, fail, nan (no verdict) or error (units).")


class MeasurementRowModel(BaseModel):
    """A measurement of the job with its verdicts."""

    id: int
    metric: str
    value: float | None
    unit: str
    data_id: dict[str, Any]
    series_key: str
    status: str = Field(..., description="fail if any verdict fails, else pass, else none.")
    verdicts: list[VerdictModel]
    blob_refs: list[str]

    @classmethod
    def from_domain(cls, m: MeasurementVerdicts) -> MeasurementRowModel:
        """Build from the service's measurement."""
        v = m.value
        return cls(
            id=v.measurement_id,
            metric=v.metric_name,
            value=v.value,
            unit=v.unit,
            data_id=v.data_id,
            series_key=v.series_key,
            status=m.status,
            verdicts=[
                VerdictModel(
                    spec=x.spec.name,
                    tags=x.spec.tags,
                    operator=x.spec.threshold_operator,
                    threshold=x.spec.threshold_value,
                    threshold_unit=x.spec.threshold_unit,
                    status=x.status,
                )
                for x in m.verdicts
            ],
            blob_refs=m.blob_refs,
        )


class JobPageModel(BaseModel):
    """A job page."""

    job: JobSummaryModel
    meta: dict[str, Any]
    packages: list[PackageModel]
    previous: JobSummaryModel | None = Field(
        ..., description="The previous job of the same branch, data and environment."
    )
    changes: PackageChangesModel | None = Field(..., description="Code changes since then.")
    status_counts: dict[str, int]
    measurements: list[MeasurementRowModel]
    blobs: list[BlobModel] = Field(
        ...,
        description='The blobs; the value of each array datum is {"array": key}, a key of'
        " `arrays`.",
    )
    arrays: dict[str, list[Any]] = Field(
        ..., description="The blobs' arrays by key, each distinct array once."
    )
    truncated_arrays: list[str] = Field(
        ...,
        description="Keys of arrays cut to their first 100,000 items; /api/jobs/{id}/blobs"
        " has them whole.",
    )
    artifacts: list[ArtifactModel]

    @classmethod
    def from_domain(cls, v: JobView) -> JobPageModel:
        """Build from the service's view."""
        shared = shared_arrays(v.blobs)
        return cls(
            job=job_model(v.detail.summary),
            meta=v.detail.meta,
            packages=[PackageModel.from_domain(p) for p in v.detail.packages],
            previous=job_model(v.previous) if v.previous else None,
            changes=PackageChangesModel.from_domain(v.changes) if v.changes else None,
            status_counts=v.counts,
            measurements=[MeasurementRowModel.from_domain(m) for m in v.measurements],
            blobs=[BlobModel(identifier=i, name=n, data=d) for i, n, d in shared.blobs],
            arrays=shared.arrays,
            truncated_arrays=shared.truncated,
            artifacts=[ArtifactModel.from_domain(a, "") for a in v.artifacts],
        )


class DataIdRowModel(BaseModel):
    """One dataId's value."""

    data_id: dict[str, Any]
    value: float | None
    unit: str
    status: str = Field(..., description="Against the chosen threshold: pass, fail, nan, none.")
    series_key: str


class DataIdPageModel(BaseModel):
    """The per-dataId page of a metric."""

    metric: MetricModel
    job: JobSummaryModel | None
    dataset: str | None
    band: str | None
    row_key: str | None
    col_key: str | None
    threshold: ThresholdModel | None
    thresholds: list[ThresholdModel]
    rows: list[DataIdRowModel]
    message: str | None
    options: dict[str, list[str]]

    @classmethod
    def from_domain(cls, v: DataIdView) -> DataIdPageModel:
        """Build from the service's view."""
        return cls(
            metric=MetricModel.from_domain(v.metric),
            job=job_model(v.job) if v.job else None,
            dataset=v.dataset,
            band=v.band,
            row_key=v.row_key,
            col_key=v.col_key,
            threshold=ThresholdModel.from_domain(v.threshold) if v.threshold else None,
            thresholds=[ThresholdModel.from_domain(t) for t in v.thresholds],
            rows=[
                DataIdRowModel(
                    data_id=r.data_id,
                    value=r.value,
                    unit=r.unit,
                    status=r.status,
                    series_key=r.series_key,
                )
                for r in v.rows
            ],
            message=v.message,
            options={"datasets": v.datasets, "bands": v.bands},
        )
