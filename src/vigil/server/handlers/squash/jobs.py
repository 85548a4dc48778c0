"""SQuaSH endpoints of the upload path and of jobs, measurements and blobs."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import JSONResponse

from ...dependencies import base_url, json_body, read_access, require_role
from ...domain import Role, User
from ...services.squash import SquashService
from ._common import ERRORS, SquashRoute, endpoint_map, next_url, squash_service
from .models import (
    AccessTokenResponse,
    AuthRequest,
    CodeChangesResponse,
    ErrorResponse,
    JobAcceptedResponse,
    JobIdsResponse,
    JobResponse,
    MeasurementListResponse,
    MeasurementModel,
    TaskStatusResponse,
)

__all__ = ["router"]

router = APIRouter(route_class=SquashRoute, tags=["squash"])
_READ = [Depends(read_access)]

Limit = Query(None, description="Items per page (default and maximum: VIGIL_PAGE_SIZE_MAX).")
Cursor = Query(None, description="Where the page starts: the ``next`` URL of the previous one.")


def _job_url(request: Request, job_id: int) -> str:
    return f"{base_url(request)}/job/{job_id}"


@router.get(
    "/",
    response_model=dict[str, str],
    summary="SQuaSH endpoint map",
    description=(
        "Endpoint name → URL, as lsst.verify's ``squash.get_endpoint_url`` reads it."
        " Open without a token, like SQuaSH's root."
    ),
)
def root(request: Request) -> dict[str, str]:
    """The SQuaSH root document."""
    return endpoint_map(request)


@router.post(
    "/auth",
    response_model=AccessTokenResponse,
    summary="Exchange user name and API token for an access token",
    description=(
        "SQuaSH's login. Vigil has no passwords: send your user name and one of your"
        " API tokens as the password (SQUASH_USER, SQUASH_PASSWORD). The access token"
        " returned is accepted as ``Authorization: JWT <token>``."
    ),
    responses={401: ERRORS[401], 400: ERRORS[400]},
)
def auth(
    body: AuthRequest, service: SquashService = Depends(squash_service)
) -> AccessTokenResponse:
    """Check the credentials and return the access token."""
    return AccessTokenResponse(access_token=service.access_token(body.username, body.password))


@router.post(
    "/job",
    response_model=JobAcceptedResponse,
    status_code=202,
    summary="Upload a verification job (dispatch_verify.py)",
    description=(
        "The lsst.verify Job JSON that dispatch_verify.py sends (``measurements``,"
        " ``blobs``, ``meta`` with ``env`` and ``packages``); bare NaN accepted. Stored at"
        " once, so the status URL answers SUCCESS. The same job sent again is stored once;"
        " another job under the identifier of a stored one is refused (409)."
    ),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"type": "object"}}},
        }
    },
    responses={
        **ERRORS,
        409: {
            "model": ErrorResponse,
            "description": "A job with this identifier and other content is stored",
        },
        413: {"description": "Body or blob over its size limit"},
    },
)
def post_job(
    request: Request,
    response: Response,
    payload: Any = Depends(json_body),
    user: User = Depends(require_role(Role.SUBMITTER)),
    service: SquashService = Depends(squash_service),
) -> JobAcceptedResponse:
    """Store the job and point at its status."""
    result = service.submit_job(payload, user)
    task_id = str(result.job_id)
    url = _job_url(request, result.job_id)
    response.headers["Location"] = url
    if result.created:
        message = (
            f"Request for creating Job `{result.job_id}` received: stored with"
            f" {result.measurement_count} measurements."
        )
    else:
        message = f"Job `{result.job_id}` was already stored; nothing was added."
    return JobAcceptedResponse(
        message=message,
        status=f"{base_url(request)}/status/{task_id}",
        task_id=task_id,
        job_id=result.job_id,
        url=url,
        created=result.created,
    )


@router.get(
    "/status/{task_id}",
    response_model=TaskStatusResponse,
    summary="Status of a job upload",
    responses={404: ERRORS[404]},
    dependencies=_READ,
)
def status(
    request: Request, task_id: str, service: SquashService = Depends(squash_service)
) -> TaskStatusResponse:
    """SUCCESS and the job's URL: uploads are stored before ``POST /job`` answers."""
    job_id = service.task_status(task_id)
    return TaskStatusResponse(status="SUCCESS", job_id=job_id, url=_job_url(request, job_id))


@router.get(
    "/jobs", response_model=JobIdsResponse, summary="Job ids", responses=ERRORS, dependencies=_READ
)
def jobs(
    request: Request,
    limit: int | None = Limit,
    cursor: str | None = Cursor,
    service: SquashService = Depends(squash_service),
) -> JobIdsResponse:
    """Job ids in ascending order."""
    page = service.job_ids(limit=limit, cursor=cursor)
    return JobIdsResponse(
        ids=page.items, next=next_url(request, page.next_cursor), truncated=page.truncated
    )


@router.get(
    "/job/{job_id}",
    response_model=JobResponse,
    summary="A verification job",
    responses=ERRORS,
    dependencies=_READ,
)
def job(
    request: Request, job_id: int, service: SquashService = Depends(squash_service)
) -> JobResponse:
    """The job with its metadata, packages and measurements."""
    return JobResponse.from_domain(service.get_job(job_id), _job_url(request, job_id))


@router.get(
    "/jenkins/{ci_id}",
    response_model=JobResponse,
    summary="The job of a Jenkins run",
    responses=ERRORS,
    dependencies=_READ,
)
def jenkins(
    request: Request,
    ci_id: str,
    ci_name: str | None = Query(None, description="Jenkins job name (``PRODUCT``)."),
    service: SquashService = Depends(squash_service),
) -> JobResponse:
    """The latest job uploaded from Jenkins run *ci_id* (of job *ci_name*)."""
    found = service.get_ci_job(ci_id, ci_name, "jenkins")
    return JobResponse.from_domain(found, _job_url(request, found.summary.id))


@router.get(
    "/code_changes/{ci_id}",
    response_model=CodeChangesResponse,
    summary="Packages changed since the previous CI run",
    responses=ERRORS,
    dependencies=_READ,
)
def code_changes(
    ci_id: str,
    ci_name: str | None = Query(None, description="CI job name; default: that of the run."),
    env_name: str = Query("jenkins", description="Execution environment of the runs."),
    service: SquashService = Depends(squash_service),
) -> CodeChangesResponse:
    """``[name, git_sha, git_url]`` of the packages new or changed since the previous run."""
    return CodeChangesResponse.from_domain(service.code_changes(ci_id, ci_name, env_name))


@router.get(
    "/measurements",
    response_model=MeasurementListResponse,
    summary="Measurements",
    responses=ERRORS,
    dependencies=_READ,
)
def measurements(
    request: Request,
    job_id: int | None = Query(None, description="Only those of this job."),
    metric: str | None = Query(None, description="Only those of this metric."),
    limit: int | None = Limit,
    cursor: str | None = Cursor,
    service: SquashService = Depends(squash_service),
) -> MeasurementListResponse:
    """Measurements in the order they were stored."""
    page = service.list_measurements(job_id=job_id, metric=metric, limit=limit, cursor=cursor)
    return MeasurementListResponse(
        measurements=[MeasurementModel.from_domain(m) for m in page.items],
        next=next_url(request, page.next_cursor),
        truncated=page.truncated,
    )


@router.get(
    "/measurement/{job_id}",
    response_model=MeasurementListResponse,
    summary="Measurements of a job",
    responses=ERRORS,
    dependencies=_READ,
)
def job_measurements(
    request: Request,
    job_id: int,
    limit: int | None = Limit,
    cursor: str | None = Cursor,
    service: SquashService = Depends(squash_service),
) -> MeasurementListResponse:
    """The measurements of one job."""
    page = service.list_measurements(job_id=job_id, metric=None, limit=limit, cursor=cursor)
    return MeasurementListResponse(
        measurements=[MeasurementModel.from_domain(m) for m in page.items],
        next=next_url(request, page.next_cursor),
        truncated=page.truncated,
    )


@router.get(
    "/blob/{job_id}",
    summary="Data of a blob",
    response_model=dict[str, Any],
    responses=ERRORS,
    dependencies=_READ,
)
def blob(
    job_id: int,
    metric: str = Query(description="Full name of the metric, e.g. validate_drp.AM1."),
    name: str = Query(description="Name of the blob, e.g. MatchedMultiVisitDataset."),
    service: SquashService = Depends(squash_service),
) -> JSONResponse:
    """The blob's data document, as the job sent it (NaN as null)."""
    return JSONResponse(service.blob_data(job_id, metric, name))
