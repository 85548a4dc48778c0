"""Response models of the SQuaSH-compatible API, in the shapes squash-rest-api returned.

Field names and nesting follow lsst-sqre/squash-rest-api (``models.py`` ``json()``
methods and ``api_v1`` resources). Keys SQuaSH did not have (``next``, ``truncated``,
``url``...) are additions a SQuaSH client ignores.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from ...domain import MetricInfo, Package, SpecificationInfo
from ...services.squash import (
    SquashCodeChanges,
    SquashDefaults,
    SquashJob,
    SquashMeasurement,
    SquashStats,
)

__all__ = [
    "SQUASH_API_VERSION",
    "AccessTokenResponse",
    "AuthRequest",
    "BlobRefModel",
    "CodeChangesResponse",
    "DatasetListResponse",
    "DefaultResponse",
    "ErrorResponse",
    "JobAcceptedResponse",
    "JobIdsResponse",
    "JobResponse",
    "MeasurementListResponse",
    "MeasurementModel",
    "MetricListResponse",
    "MetricModel",
    "MonitorResponse",
    "PackageListResponse",
    "PackageModel",
    "SpecificationListResponse",
    "SpecificationModel",
    "StatsResponse",
    "TaskStatusResponse",
    "VersionResponse",
    "squash_date",
]

SQUASH_API_VERSION = "1.0"
"""The SQuaSH API version served (lsst.verify asks for ``version=1.0``)."""


def squash_date(value: datetime) -> str:
    """SQuaSH's job date format, UTC: ``2018-07-30T18:25:52Z``."""
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


class ErrorResponse(BaseModel):
    """An error, SQuaSH-style: clients read ``message``."""

    message: str = Field(description="What went wrong and what to do.")
    code: str = Field(description="Stable error code, e.g. ``job_not_found``.")
    field: str | None = Field(default=None, description="The input field at fault, if any.")


class AuthRequest(BaseModel):
    """Body of ``POST /auth``, as lsst.verify's ``get_access_token`` sends it."""

    username: str = Field(description="Your Vigil user name (SQUASH_USER).")
    password: str = Field(description="A Vigil API token of that user (SQUASH_PASSWORD).")


class AccessTokenResponse(BaseModel):
    """Answer of ``POST /auth``."""

    access_token: str = Field(description="Send it back as ``Authorization: JWT <token>``.")


class JobAcceptedResponse(BaseModel):
    """Answer of ``POST /job`` (HTTP 202)."""

    message: str = Field(description="Logged by dispatch_verify.py.")
    status: str = Field(description="URL of the upload's status (``/status/<task_id>``).")
    task_id: str
    job_id: int
    url: str = Field(description="URL of the stored job (``/job/<id>``).")
    created: bool = Field(description="False when this job had been sent before.")


class TaskStatusResponse(BaseModel):
    """Answer of ``GET /status/<task_id>``: uploads are ingested at once."""

    status: Literal["PENDING", "STARTED", "SUCCESS", "FAILURE"]
    job_id: int
    url: str = Field(description="URL of the stored job.")


class JobIdsResponse(BaseModel):
    """Answer of ``GET /jobs``."""

    ids: list[int]
    next: str | None = Field(default=None, description="URL of the next page, if truncated.")
    truncated: bool = False


class BlobRefModel(BaseModel):
    """A blob a measurement refers to (SQuaSH ``BlobModel.json``)."""

    identifier: str
    name: str | None
    s3_uri: str | None = Field(default=None, description="Always null: blobs are read via /blob.")


class MeasurementModel(BaseModel):
    """SQuaSH ``MeasurementModel.json``; ``value`` is null for NaN."""

    value: float | None
    unit: str
    metric: str
    blobs: list[BlobRefModel]
    identifier: str | None = None
    data_id: dict[str, Any] = Field(default_factory=dict)

    @classmethod
    def from_domain(cls, item: SquashMeasurement) -> MeasurementModel:
        m = item.measurement
        return cls(
            value=m.value,
            unit=m.unit,
            metric=m.metric_name,
            blobs=[BlobRefModel(identifier=i, name=n) for i, n in item.blobs],
            identifier=m.identifier,
            data_id=m.data_id,
        )


class MeasurementListResponse(BaseModel):
    """Answer of ``GET /measurements`` and ``GET /measurement/<job_id>``."""

    measurements: list[MeasurementModel]
    next: str | None = None
    truncated: bool = False


class PackageModel(BaseModel):
    """SQuaSH ``PackageModel.json``."""

    name: str
    git_sha: str | None
    git_url: str | None
    git_branch: str | None
    eups_version: str | None

    @classmethod
    def from_domain(cls, package: Package) -> PackageModel:
        return cls(
            name=package.name,
            git_sha=package.git_sha,
            git_url=package.git_url,
            git_branch=package.git_branch,
            eups_version=package.version,
        )


class JobResponse(BaseModel):
    """SQuaSH ``JobModel.json``: lsst.verify metadata with ``packages`` and ``env``."""

    id: int
    date_created: str = Field(description="When the job was received, UTC.")
    ci_dataset: str | None
    s3_uri: str | None = None
    measurements: list[MeasurementModel]
    meta: dict[str, Any]
    measurements_truncated: bool = Field(
        False, description="True when the job has more measurements than page_size_max."
    )
    url: str

    @classmethod
    def from_domain(cls, job: SquashJob, url: str) -> JobResponse:
        meta = {k: v for k, v in job.meta.items() if k != "packages"}
        meta["packages"] = [PackageModel.from_domain(p).model_dump() for p in job.packages]
        env = meta.get("env")
        meta["env"] = env if isinstance(env, dict) else {}
        return cls(
            id=job.summary.id,
            date_created=squash_date(job.summary.created_at),
            ci_dataset=job.summary.facts.dataset,
            measurements=[MeasurementModel.from_domain(m) for m in job.measurements],
            meta=meta,
            measurements_truncated=job.measurements_truncated,
            url=url,
        )


class MetricModel(BaseModel):
    """SQuaSH ``MetricModel.json``."""

    name: str
    package: str | None
    display_name: str | None
    description: str | None
    unit: str | None
    tags: list[str]
    reference: dict[str, Any]

    @classmethod
    def from_domain(cls, metric: MetricInfo) -> MetricModel:
        return cls(
            name=metric.name,
            package=metric.package,
            display_name=metric.name.split(".", 1)[1] if "." in metric.name else metric.name,
            description=metric.description,
            unit=metric.unit,
            tags=metric.tags,
            reference=metric.reference,
        )


class MetricListResponse(BaseModel):
    """Answer of ``GET /metrics``."""

    metrics: list[MetricModel]
    next: str | None = None
    truncated: bool = False


class ThresholdModel(BaseModel):
    """A specification's threshold."""

    value: float | None
    unit: str | None
    operator: str | None


class SpecificationModel(BaseModel):
    """SQuaSH ``SpecificationModel.json``, plus the metric and type."""

    name: str
    threshold: ThresholdModel
    tags: list[str]
    metadata_query: dict[str, Any]
    type: str
    metric: str

    @classmethod
    def from_domain(cls, spec: SpecificationInfo) -> SpecificationModel:
        return cls(
            name=spec.name,
            threshold=ThresholdModel(
                value=spec.threshold_value,
                unit=spec.threshold_unit,
                operator=spec.threshold_operator,
            ),
            tags=spec.tags,
            metadata_query=spec.metadata_query,
            type=spec.type,
            metric=spec.metric_name,
        )


class SpecificationListResponse(BaseModel):
    """Answer of ``GET /specs``."""

    specs: list[SpecificationModel]
    next: str | None = None
    truncated: bool = False


class DatasetListResponse(BaseModel):
    """Answer of ``GET /datasets``."""

    datasets: list[str]


class PackageListResponse(BaseModel):
    """Answer of ``GET /packages``: the packages that define metrics."""

    packages: list[str]


class DefaultMetric(BaseModel):
    package: str
    metric: str


class DefaultSpec(BaseModel):
    metric: str
    spec: str | None


class Defaults(BaseModel):
    dataset: str | None
    package: str | None
    metric: list[DefaultMetric]
    spec: list[DefaultSpec]


class DefaultResponse(BaseModel):
    """Answer of ``GET /default``."""

    default: Defaults

    @classmethod
    def from_domain(cls, defaults: SquashDefaults) -> DefaultResponse:
        return cls(
            default=Defaults(
                dataset=defaults.dataset,
                package=defaults.package,
                metric=[DefaultMetric(package=p, metric=m) for p, m in defaults.metric_per_package],
                spec=[DefaultSpec(metric=m, spec=s) for m, s in defaults.spec_per_metric],
            )
        )


class MonitorResponse(BaseModel):
    """Answer of ``GET /monitor``: parallel columns, one entry per measurement."""

    value: list[float | None]
    date_created: list[str]
    metric_name: list[str]
    ci_id: list[str | None]
    ci_url: list[str | None]
    truncated: bool = False


class CodeChangesResponse(BaseModel):
    """Answer of ``GET /code_changes/<ci_id>``: ``[name, git_sha, git_url]`` per package."""

    id: int | None
    previous_id: int | None
    packages: list[tuple[str, str | None, str | None]]
    counts: int

    @classmethod
    def from_domain(cls, changes: SquashCodeChanges) -> CodeChangesResponse:
        packages = [(p.name, p.git_sha, p.git_url) for p in changes.packages]
        return cls(
            id=changes.job_id,
            previous_id=changes.previous_job_id,
            packages=packages,
            counts=len(packages),
        )


class VersionResponse(BaseModel):
    """Answer of ``GET /version``."""

    version: str = SQUASH_API_VERSION
    server: str = Field(description="The Vigil version behind this API.")


class Stats(BaseModel):
    last_job_date: str = Field(description="``%Y-%m-%d %H:%M:%S`` UTC, empty with no job.")
    number_of_jobs: int
    number_of_metrics: int
    number_of_measurements: int


class StatsResponse(BaseModel):
    """Answer of ``GET /stats``."""

    stats: Stats

    @classmethod
    def from_domain(cls, stats: SquashStats) -> StatsResponse:
        last = stats.last_job_created_at
        return cls(
            stats=Stats(
                last_job_date=last.strftime("%Y-%m-%d %H:%M:%S") if last else "",
                number_of_jobs=stats.jobs,
                number_of_metrics=stats.metrics,
                number_of_measurements=stats.measurements,
            )
        )
