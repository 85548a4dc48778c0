"""Artifacts: files attached to jobs (images, plots, reports)."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile
from fastapi.responses import StreamingResponse

from ...dependencies import base_url, factory_dependency, require_role
from ...domain import Role, User
from ...exceptions import InvalidArtifactError
from ...factory import Factory
from ...services.compare import compare_fits_artifacts
from ._common import ERRORS, unprocessable
from ._fits_values import FitsValuesModel
from .models import ArtifactModel, ErrorModel

router = APIRouter(tags=["artifacts"])


@router.post(
    "/jobs/{job_id}/artifacts",
    response_model=list[ArtifactModel],
    status_code=201,
    summary="Upload artifacts to a job",
    responses={
        **ERRORS,
        413: {"model": ErrorModel, "description": "File over the size limit"},
        422: unprocessable(
            "Unsafe name (an error naming the field), or no file sent (FastAPI's validation list)"
        ),
    },
)
def upload_artifacts(
    request: Request,
    job_id: int,
    files: list[UploadFile] = File(..., description="One or more files (field ``files``)."),
    names: list[str] | None = Form(
        None, description="Names to store the files under, in order; default: file names."
    ),
    user: User = Depends(require_role(Role.SUBMITTER)),
    factory: Factory = Depends(factory_dependency),
) -> list[ArtifactModel]:
    """Store files of a job by content hash; a file replaces one of the same name."""
    if names and len(names) != len(files):
        raise InvalidArtifactError(
            f"{len(names)} names were given for {len(files)} files.", field="names"
        )
    service = factory.create_artifact_service()
    base = base_url(request)
    stored = []
    for i, upload in enumerate(files):
        name = names[i] if names else (upload.filename or "")
        artifact = service.upload(job_id, name, upload.file, upload.content_type)
        stored.append(ArtifactModel.from_domain(artifact, base))
    return stored


@router.get(
    "/jobs/{job_id}/artifacts",
    response_model=list[ArtifactModel],
    summary="List the artifacts of a job",
    responses=ERRORS,
)
def list_artifacts(
    request: Request, job_id: int, factory: Factory = Depends(factory_dependency)
) -> list[ArtifactModel]:
    """The artifacts of a job, by name."""
    base = base_url(request)
    return [
        ArtifactModel.from_domain(a, base)
        for a in factory.create_artifact_service().list_artifacts(job_id)
    ]


@router.get(
    "/jobs/{job_id}/artifacts/{name:path}",
    summary="Download an artifact",
    response_class=StreamingResponse,
    responses={
        **ERRORS,
        200: {"content": {"application/octet-stream": {}}, "description": "The file"},
    },
)
def get_artifact(
    job_id: int, name: str, factory: Factory = Depends(factory_dependency)
) -> StreamingResponse:
    """The content of an artifact.

    Raster images (PNG, JPEG, GIF, WebP) are served inline; everything else (SVG, HTML,
    anything) as an attachment, always with ``X-Content-Type-Options: nosniff``.
    """
    service = factory.create_artifact_service()
    artifact = service.get_artifact(job_id, name)
    filename = artifact.name.rsplit("/", 1)[-1]
    disposition = "inline" if artifact.inline else "attachment"
    ascii_name = filename.encode("ascii", "replace").decode().replace('"', "_").replace("?", "_")
    headers = {
        "Content-Disposition": (
            f"{disposition}; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename)}"
        ),
        "X-Content-Type-Options": "nosniff",
        "Content-Length": str(artifact.size),
        "ETag": f'"{artifact.sha256}"',
        "Content-Security-Policy": "default-src 'none'; sandbox",
    }
    media_type = artifact.content_type if artifact.inline else "application/octet-stream"
    return StreamingResponse(service.content(artifact), media_type=media_type, headers=headers)


@router.get(
    "/compare/fits",
    response_model=FitsValuesModel,
    summary="Compare a FITS artifact of two jobs by value",
    responses=ERRORS,
)
def compare_fits(
    a: int = Query(description="The baseline job."),
    b: int = Query(description="The job compared with it."),
    name: str = Query(description="The FITS artifact both jobs have."),
    factory: Factory = Depends(factory_dependency),
) -> FitsValuesModel:
    """A, B and A - B of a FITS image both jobs have, in A's physical unit (what the
    compare page draws); a pair that cannot be compared by value (not FITS, no 2-D image,
    different sizes, too large) answers a ``note`` saying why."""
    result = compare_fits_artifacts(factory.create_artifact_service(), a, b, name)
    return FitsValuesModel.from_domain(result)
