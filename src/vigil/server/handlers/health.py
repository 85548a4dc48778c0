"""``GET /health`` (the process answers) and ``GET /ready`` (it can serve requests).

Both are open to anyone, whatever ``VIGIL_PUBLIC_READ``: probes carry no token. Neither
says more than which part failed; the server's log has the reasons.
"""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from vigil import __version__

from ..database import RETRY_AFTER_SECONDS
from ..dependencies import factory_dependency
from ..factory import Factory

__all__ = ["router"]

router = APIRouter(tags=["health"])


class HealthModel(BaseModel):
    """The process is up and answering."""

    status: Literal["ok"] = "ok"
    version: str = Field(description="Vigil's version.")


class CheckModel(BaseModel):
    """One part the server needs, checked now."""

    ok: bool
    message: str = Field(description="What was found (no addresses, credentials or paths).")
    seconds: float = Field(description="How long the check took.")


class ReadinessModel(BaseModel):
    """Every check: ``database`` (reachable, schema current), ``artifact_store`` (writable)."""

    status: Literal["ready", "unavailable"]
    checks: dict[str, CheckModel]


@router.get("/health", response_model=HealthModel, summary="Liveness: the process answers")
async def get_health() -> HealthModel:
    """Answers as long as the process does; touches neither the database nor the disk.

    An ``async`` function: it answers even while every worker thread waits on a database.
    """
    return HealthModel(version=__version__)


@router.get(
    "/ready",
    response_model=ReadinessModel,
    summary="Readiness: the database and the artifact store work",
    responses={503: {"model": ReadinessModel, "description": "A check failed."}},
)
def get_ready(factory: Factory = Depends(factory_dependency)) -> JSONResponse:
    """200 when the database answers a query at the current schema and the artifact store
    takes a file; else 503 with ``Retry-After``, naming the check that failed."""
    readiness = factory.create_health_service().readiness()
    body = ReadinessModel(
        status="ready" if readiness.ready else "unavailable",
        checks={
            check.name: CheckModel(ok=check.ok, message=check.message, seconds=check.seconds)
            for check in readiness.checks
        },
    )
    if readiness.ready:
        return JSONResponse(body.model_dump(mode="json"))
    return JSONResponse(
        body.model_dump(mode="json"),
        status_code=503,
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )
