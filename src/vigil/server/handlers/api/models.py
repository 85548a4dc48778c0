"""API models of the native API (``/api/``): what clients send and receive."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Generic, TypeVar
from urllib.parse import quote

from pydantic import BaseModel, Field

from ...domain import (
    Artifact,
    Blob,
    DatasetInfo,
    JobDetail,
    JobSummary,
    Measurement,
    MetricInfo,
    Package,
    PackageChanges,
    SeriesInfo,
    SpecificationInfo,
    User,
)
from ...domain.users import sorted_roles

__all__ = [
    "ArtifactModel",
    "BlobModel",
    "DatasetModel",
    "ErrorDetail",
    "ErrorModel",
    "IndexModel",
    "JobBatchItemModel",
    "JobBatchModel",
    "JobCreatedModel",
    "JobDetailModel",
    "JobSummaryModel",
    "MeasurementModel",
    "MetricDetailModel",
    "MetricModel",
    "PackageChangeModel",
    "PackageChangesModel",
    "PackageModel",
    "PageModel",
    "SeriesColumnsModel",
    "SeriesModel",
    "SeriesPointColumnsModel",
    "SeriesPointModel",
    "SeriesPointsModel",
    "SpecificationModel",
    "UserModel",
]

T = TypeVar("T")


class ErrorDetail(BaseModel):
    """What went wrong."""

    code: str = Field(..., description="Stable machine-readable code, e.g. ``invalid_job``.")
    message: str = Field(..., description="A sentence saying what is wrong and what to do.")
    field: str | None = Field(None, description="The input field at fault, if any.")


class ErrorModel(BaseModel):
    """The body of every error response of the native API."""

    detail: ErrorDetail


class IndexModel(BaseModel):
    """The API's entry point."""

    name: str
    version: str
    docs_url: str
    openapi_url: str


class PageModel(BaseModel, Generic[T]):
    """One page of a list; follow ``next_url`` (or pass ``cursor=next_cursor``)."""

    items: list[T]
    next_cursor: str | None = Field(None, description="Cursor of the next page; null at the end.")
    next_url: str | None = Field(None, description="URL of the next page; null at the end.")


class JobCreatedModel(BaseModel):
    """Answer to an ingest: the same body whether the job is new (201) or known (200)."""

    id: int
    identifier: str = Field(..., description="The client identifier (idempotency key).")
    url: str
    created: datetime = Field(..., description="When the server first stored the job.")
    measurement_count: int


class JobBatchItemModel(BaseModel):
    """What became of one job of a batch: what ``POST /api/jobs`` would have answered."""

    index: int = Field(..., description="The job's position in the batch, from 0.")
    status: int = Field(
        ...,
        description=(
            "201 stored now, 200 already stored with the same content, or the error's"
            " status (409 another job holds the identifier, 413 too large, 422 invalid)."
        ),
    )
    identifier: str | None = Field(
        None, description="The job's identifier (null when the document has none)."
    )
    job: JobCreatedModel | None = Field(None, description="The stored job (201 and 200).")
    error: ErrorDetail | None = Field(None, description="Why it was not stored (4xx).")


class JobBatchModel(BaseModel):
    """Answer to a batch: each job's own outcome, in the order sent, and the counts."""

    stored: int = Field(..., description="Jobs stored by this request (201).")
    already_stored: int = Field(..., description="Jobs stored before with this content (200).")
    failed: int = Field(..., description="Jobs refused (4xx); nothing of them was stored.")
    jobs: list[JobBatchItemModel]


class JobSummaryModel(BaseModel):
    """A job without its measurements."""

    id: int
    identifier: str
    url: str
    created: datetime = Field(..., description="When the server received the job (UTC).")
    run_at: datetime | None = Field(None, description="The job's own date, if it has one.")
    environment: str | None
    ci_id: str | None
    ci_name: str | None
    ci_url: str | None
    ci_dataset: str | None
    dataset: str | None
    dataset_repo_url: str | None
    instrument: str | None
    filter_name: str | None
    branch: str | None
    commit_sha: str | None
    pull_request: int | None
    author: str | None
    author_email: str | None
    submitted_by: str | None
    measurement_count: int | None

    @classmethod
    def from_domain(cls, job: JobSummary, base: str) -> JobSummaryModel:
        """Build from a domain summary; *base* is the server's public URL."""
        f = job.facts
        return cls(
            id=job.id,
            identifier=job.identifier,
            url=f"{base}/api/jobs/{job.id}",
            created=job.created_at,
            run_at=f.run_at,
            environment=f.environment,
            ci_id=f.ci_id,
            ci_name=f.ci_name,
            ci_url=f.ci_url,
            ci_dataset=f.ci_dataset,
            dataset=f.dataset,
            dataset_repo_url=f.dataset_repo_url,
            instrument=f.instrument,
            filter_name=f.filter_name,
            branch=f.branch,
            commit_sha=f.commit_sha,
            pull_request=f.pull_request,
            author=f.author,
            author_email=f.author_email,
            submitted_by=job.submitted_by,
            measurement_count=job.measurement_count,
        )


class PackageModel(BaseModel):
    """A software package of a job."""

    name: str
    version: str | None
    git_url: str | None
    git_sha: str | None
    git_branch: str | None

    @classmethod
    def from_domain(cls, p: Package) -> PackageModel:
        """Build from a domain package."""
        return cls(
            name=p.name,
            version=p.version,
            git_url=p.git_url,
            git_sha=p.git_sha,
            git_branch=p.git_branch,
        )


class MeasurementModel(BaseModel):
    """A measurement; ``value`` null means not a number (never 0)."""

    id: int
    job_id: int
    metric: str
    identifier: str | None
    value: float | None
    unit: str
    data_id: dict[str, Any]
    notes: dict[str, Any]
    blob_refs: list[str]
    series_key: str | None = None

    @classmethod
    def from_domain(cls, m: Measurement) -> MeasurementModel:
        """Build from a domain measurement."""
        return cls(
            id=m.id,
            job_id=m.job_id,
            metric=m.metric_name,
            identifier=m.identifier,
            value=m.value,
            unit=m.unit,
            data_id=m.data_id,
            notes=m.notes,
            blob_refs=m.blob_refs,
            series_key=m.series_key,
        )


class JobDetailModel(JobSummaryModel):
    """A job with its metadata, packages and measurements."""

    meta: dict[str, Any]
    packages: list[PackageModel]
    measurements: list[MeasurementModel]

    @classmethod
    def from_detail(cls, job: JobDetail, base: str) -> JobDetailModel:
        """Build from a domain job detail."""
        summary = JobSummaryModel.from_domain(job.summary, base)
        return cls(
            **summary.model_dump(),
            meta=job.meta,
            packages=[PackageModel.from_domain(p) for p in job.packages],
            measurements=[MeasurementModel.from_domain(m) for m in job.measurements],
        )


class BlobModel(BaseModel):
    """Named datums of a job: ``data`` maps a name to {value, unit, label, description}."""

    identifier: str
    name: str | None
    data: dict[str, Any]

    @classmethod
    def from_domain(cls, b: Blob) -> BlobModel:
        """Build from a domain blob."""
        return cls(identifier=b.identifier, name=b.name, data=b.data)


class PackageChangeModel(BaseModel):
    """A package present in both jobs with a different version or commit."""

    name: str
    before: PackageModel
    after: PackageModel


class PackageChangesModel(BaseModel):
    """Code changes from a base job to a job."""

    base_job_id: int
    job_id: int
    added: list[PackageModel]
    changed: list[PackageChangeModel]
    removed: list[PackageModel]

    @classmethod
    def from_domain(cls, c: PackageChanges) -> PackageChangesModel:
        """Build from domain package changes."""
        return cls(
            base_job_id=c.base_job_id,
            job_id=c.job_id,
            added=[PackageModel.from_domain(p) for p in c.added],
            removed=[PackageModel.from_domain(p) for p in c.removed],
            changed=[
                PackageChangeModel(
                    name=x.name,
                    before=PackageModel.from_domain(x.before),
                    after=PackageModel.from_domain(x.after),
                )
                for x in c.changed
            ],
        )


class MetricModel(BaseModel):
    """A metric definition."""

    name: str
    package: str | None
    description: str | None
    unit: str
    tags: list[str]
    reference: dict[str, Any]
    direction: str | None = Field(None, description="``lower`` or ``higher`` is better.")
    updated_at: datetime | None

    @classmethod
    def from_domain(cls, m: MetricInfo) -> MetricModel:
        """Build from a domain metric."""
        return cls(
            name=m.name,
            package=m.package,
            description=m.description,
            unit=m.unit,
            tags=m.tags,
            reference=m.reference,
            direction=m.direction,
            updated_at=m.updated_at,
        )


class SpecificationModel(BaseModel):
    """A threshold specification."""

    name: str
    metric: str
    type: str
    threshold_value: float | None
    threshold_unit: str | None
    threshold_operator: str | None
    metadata_query: dict[str, Any]
    tags: list[str]
    updated_at: datetime | None

    @classmethod
    def from_domain(cls, s: SpecificationInfo) -> SpecificationModel:
        """Build from a domain specification."""
        return cls(
            name=s.name,
            metric=s.metric_name,
            type=s.type,
            threshold_value=s.threshold_value,
            threshold_unit=s.threshold_unit,
            threshold_operator=s.threshold_operator,
            metadata_query=s.metadata_query,
            tags=s.tags,
            updated_at=s.updated_at,
        )


class MetricDetailModel(MetricModel):
    """A metric with its specifications."""

    specifications: list[SpecificationModel]


class DatasetModel(BaseModel):
    """A dataset jobs ran on."""

    name: str
    job_count: int
    instruments: list[str]
    last_job_id: int
    last_job_at: datetime

    @classmethod
    def from_domain(cls, d: DatasetInfo) -> DatasetModel:
        """Build from a domain dataset."""
        return cls(
            name=d.name,
            job_count=d.job_count,
            instruments=d.instruments,
            last_job_id=d.last_job_id,
            last_job_at=d.last_job_at,
        )


class SeriesModel(BaseModel):
    """A series: one metric on one dataset, instrument and dataId."""

    series_key: str
    metric: str
    dataset: str | None
    instrument: str | None
    data_id: dict[str, Any]
    url: str
    point_count: int | None = None

    @classmethod
    def from_domain(cls, s: SeriesInfo, base: str) -> SeriesModel:
        """Build from a domain series."""
        return cls(
            series_key=s.series_key,
            metric=s.metric_name,
            dataset=s.dataset,
            instrument=s.instrument,
            data_id=s.data_id,
            url=f"{base}/api/series/{s.series_key}",
            point_count=s.point_count,
        )


class SeriesPointModel(BaseModel):
    """One point of a series."""

    job_id: int
    measurement_id: int
    value: float | None = Field(..., description="Null when not a number.")
    unit: str
    time: datetime = Field(..., description="The job's date, else when it was received.")
    branch: str | None
    commit_sha: str | None
    pull_request: int | None
    environment: str | None


class SeriesPointsModel(BaseModel):
    """A page of a series' history, oldest job first."""

    series: SeriesModel
    unit: str | None = Field(None, description="The metric's unit; values are converted to it.")
    items: list[SeriesPointModel]
    next_cursor: str | None
    next_url: str | None


class SeriesColumnsModel(BaseModel):
    """The points of a page, one array per field, all of the same length."""

    job_id: list[int]
    measurement_id: list[int]
    value: list[float | None] = Field(..., description="Null when not a number.")
    unit: list[str]
    time: list[datetime] = Field(..., description="The job's date, else when it was received.")
    branch: list[str | None]
    commit_sha: list[str | None]
    pull_request: list[int | None]
    environment: list[str | None]


class SeriesPointColumnsModel(BaseModel):
    """A page of a series' history in the columnar form (``form=columns``)."""

    series: SeriesModel
    unit: str | None = Field(None, description="The metric's unit; values are converted to it.")
    columns: SeriesColumnsModel
    next_cursor: str | None
    next_url: str | None


class ArtifactModel(BaseModel):
    """A file of a job."""

    name: str
    sha256: str
    size: int
    content_type: str
    inline: bool = Field(..., description="Whether browsers may show it in place.")
    created: datetime
    url: str

    @classmethod
    def from_domain(cls, a: Artifact, base: str) -> ArtifactModel:
        """Build from a domain artifact."""
        return cls(
            name=a.name,
            sha256=a.sha256,
            size=a.size,
            content_type=a.content_type,
            inline=a.inline,
            created=a.created_at,
            url=f"{base}/api/jobs/{a.job_id}/artifacts/{quote(a.name, safe='/')}",
        )


class UserModel(BaseModel):
    """The authenticated user."""

    name: str
    email: str | None
    is_admin: bool
    roles: list[str] = Field(
        ..., description="The roles this credential acts with (its scope among the user's)."
    )

    @classmethod
    def from_domain(cls, u: User) -> UserModel:
        """Build from a domain user."""
        return cls(name=u.name, email=u.email, is_admin=u.is_admin, roles=sorted_roles(u.roles))
