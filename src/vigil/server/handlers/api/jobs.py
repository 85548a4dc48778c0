"""Jobs: ingest, list, read; their measurements, blobs and code changes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, Query, Request, Response

from ...dependencies import base_url, factory_dependency, json_body, require_role
from ...domain import Role, User
from ...exceptions import InvalidRequestError, VigilError
from ...factory import Factory
from ...services import MAX_BATCH_JOBS, IngestResult
from ...storage import JobFilter
from ._common import ERRORS, Limit, next_url, page_limit
from .models import (
    BlobModel,
    ErrorDetail,
    ErrorModel,
    JobBatchItemModel,
    JobBatchModel,
    JobCreatedModel,
    JobDetailModel,
    JobSummaryModel,
    MeasurementModel,
    PackageChangesModel,
    PageModel,
)

router = APIRouter(tags=["jobs"])

_JOB_BODY = {
    "requestBody": {
        "required": True,
        "description": (
            "An lsst.verify Job document: ``measurements``, ``blobs``, ``metrics``, ``specs``,"
            " ``meta`` and optionally ``identifier`` (the idempotency key). Bare ``NaN``"
            " tokens are accepted."
        ),
        "content": {"application/json": {"schema": {"type": "object"}}},
    }
}


@router.post(
    "/jobs",
    response_model=JobCreatedModel,
    status_code=201,
    summary="Ingest a job",
    openapi_extra=_JOB_BODY,
    responses={
        **ERRORS,
        200: {
            "model": JobCreatedModel,
            "description": "Already stored (same identifier, same content)",
        },
        409: {
            "model": ErrorModel,
            "description": "A job with this identifier and other content is stored",
        },
        413: {"model": ErrorModel, "description": "Body or blob over its size limit"},
        422: {"model": ErrorModel, "description": "Not a valid job; nothing was stored"},
    },
)
def post_job(
    request: Request,
    response: Response,
    payload: Any = Depends(json_body),
    user: User = Depends(require_role(Role.SUBMITTER)),
    factory: Factory = Depends(factory_dependency),
) -> JobCreatedModel:
    """Store a job once: 201 when new, 200 with the same body when already stored, 409
    when its identifier is that of a stored job with other content."""
    result = factory.create_job_service().ingest(payload, user)
    if not result.created:
        response.status_code = 200
    base = base_url(request)
    response.headers["Location"] = f"{base}/api/jobs/{result.id}"
    return _created(result, base)


@router.post(
    "/jobs/batch",
    response_model=JobBatchModel,
    summary="Ingest several jobs",
    openapi_extra={
        "requestBody": {
            "required": True,
            "description": (
                f"A JSON array of 1 to {MAX_BATCH_JOBS} lsst.verify Job documents, each as"
                " ``POST /api/jobs`` takes it."
            ),
            "content": {
                "application/json": {"schema": {"type": "array", "items": {"type": "object"}}}
            },
        }
    },
    responses={
        **ERRORS,
        413: {"model": ErrorModel, "description": "Body over its size limit"},
    },
)
def post_jobs(
    request: Request,
    payload: Any = Depends(json_body),
    user: User = Depends(require_role(Role.SUBMITTER)),
    factory: Factory = Depends(factory_dependency),
) -> JobBatchModel:
    """Store each job of a batch as ``POST /api/jobs`` would, in fewer transactions.

    Each job is stored all or nothing and once; a refused job leaves the others stored.
    The answer (200) gives each job's own status (201, 200, 409, 413, 422) in the order
    sent. A 4xx for the whole request (not an array, empty, too many jobs) stores
    nothing; a 5xx may have stored some jobs, and sending the batch again is safe.
    """
    if not isinstance(payload, list):
        raise InvalidRequestError(
            f"A batch must be a JSON array of jobs, not {type(payload).__name__};"
            " send one job to POST /api/jobs.",
            field="body",
        )
    outcomes = factory.create_job_service().ingest_each(payload, user)
    base = base_url(request)
    items = [
        _batch_item(index, document, outcome, base)
        for index, (document, outcome) in enumerate(zip(payload, outcomes, strict=True))
    ]
    return JobBatchModel(
        stored=sum(item.status == 201 for item in items),
        already_stored=sum(item.status == 200 for item in items),
        failed=sum(item.error is not None for item in items),
        jobs=items,
    )


def _created(result: IngestResult, base: str) -> JobCreatedModel:
    return JobCreatedModel(
        id=result.id,
        identifier=result.identifier,
        url=f"{base}/api/jobs/{result.id}",
        created=result.job.created_at,
        measurement_count=result.measurement_count,
    )


def _batch_item(
    index: int, document: Any, outcome: IngestResult | VigilError, base: str
) -> JobBatchItemModel:
    if isinstance(outcome, IngestResult):
        return JobBatchItemModel(
            index=index,
            status=201 if outcome.created else 200,
            identifier=outcome.identifier,
            job=_created(outcome, base),
        )
    sent = document.get("identifier") if isinstance(document, dict) else None
    return JobBatchItemModel(
        index=index,
        status=outcome.status_code,
        identifier=sent if isinstance(sent, str) else None,
        error=ErrorDetail(code=outcome.code, message=outcome.message, field=outcome.field),
    )


@router.get(
    "/jobs", response_model=PageModel[JobSummaryModel], summary="List jobs", responses=ERRORS
)
def list_jobs(
    request: Request,
    branch: str | None = Query(None, description="Only jobs of this branch."),
    dataset: str | None = Query(None, description="Only jobs on this dataset."),
    environment: str | None = Query(None, description="jenkins, github-actions, local..."),
    instrument: str | None = Query(None, description="Only jobs of this instrument."),
    commit: str | None = Query(None, description="Commit SHA or a prefix of it."),
    pull_request: int | None = Query(None, description="Pull request number."),
    since: datetime | None = Query(None, description="Job time at or after (ISO 8601)."),
    until: datetime | None = Query(None, description="Job time before (ISO 8601)."),
    limit: int = Limit,
    cursor: str | None = Query(None, description="``next_cursor`` of the previous page."),
    factory: Factory = Depends(factory_dependency),
) -> PageModel[JobSummaryModel]:
    """Jobs, newest first."""
    filters = JobFilter(
        branch=branch,
        dataset=dataset,
        environment=environment,
        instrument=instrument,
        commit=commit,
        pull_request=pull_request,
        since=since,
        until=until,
    )
    page = factory.create_job_service().list_jobs(
        filters, limit=page_limit(request, limit), cursor=cursor
    )
    base = base_url(request)
    return PageModel[JobSummaryModel](
        items=[JobSummaryModel.from_domain(j, base) for j in page.items],
        next_cursor=page.next_cursor,
        next_url=next_url(request, page.next_cursor),
    )


@router.get(
    "/jobs/{job_id}",
    response_model=JobDetailModel,
    summary="One job with its measurements",
    responses=ERRORS,
)
def get_job(
    request: Request, job_id: int, factory: Factory = Depends(factory_dependency)
) -> JobDetailModel:
    """A job with its metadata, packages and measurements."""
    detail = factory.create_job_service().get_job(job_id)
    return JobDetailModel.from_detail(detail, base_url(request))


@router.get(
    "/jobs/{job_id}/blobs",
    response_model=list[BlobModel],
    summary="The blobs of a job",
    responses=ERRORS,
)
def list_blobs(job_id: int, factory: Factory = Depends(factory_dependency)) -> list[BlobModel]:
    """Every blob of a job."""
    return [BlobModel.from_domain(b) for b in factory.create_job_service().list_blobs(job_id)]


@router.get(
    "/jobs/{job_id}/blobs/{identifier}",
    response_model=BlobModel,
    summary="One blob of a job",
    responses=ERRORS,
)
def get_blob(
    job_id: int, identifier: str, factory: Factory = Depends(factory_dependency)
) -> BlobModel:
    """One blob by identifier."""
    return BlobModel.from_domain(factory.create_job_service().get_blob(job_id, identifier))


@router.get(
    "/jobs/{job_id}/changes",
    response_model=PackageChangesModel,
    summary="Code changes since another job",
    responses=ERRORS,
)
def get_changes(
    job_id: int,
    base: int = Query(..., description="Id of the job to compare with (the earlier one)."),
    factory: Factory = Depends(factory_dependency),
) -> PackageChangesModel:
    """Packages added, changed (version, SHA or URL) and removed from *base* to this job."""
    changes = factory.create_job_service().package_changes(base, job_id)
    return PackageChangesModel.from_domain(changes)


@router.get(
    "/measurements",
    response_model=PageModel[MeasurementModel],
    summary="List measurements",
    responses=ERRORS,
)
def list_measurements(
    request: Request,
    job: int | None = Query(None, description="Only measurements of this job."),
    metric: str | None = Query(None, description="Only measurements of this metric."),
    limit: int = Limit,
    cursor: str | None = Query(None, description="``next_cursor`` of the previous page."),
    factory: Factory = Depends(factory_dependency),
) -> PageModel[MeasurementModel]:
    """Measurements in the order they were stored."""
    page = factory.create_job_service().list_measurements(
        job_id=job, metric=metric, limit=page_limit(request, limit), cursor=cursor
    )
    return PageModel[MeasurementModel](
        items=[MeasurementModel.from_domain(m) for m in page.items],
        next_cursor=page.next_cursor,
        next_url=next_url(request, page.next_cursor),
    )
