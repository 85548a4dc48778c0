"""Plumbing of the SQuaSH handlers: error rendering, the service dependency, links."""

from __future__ import annotations

from typing import Any

from fastapi import Depends, Request
from fastapi.responses import JSONResponse

from ...dependencies import base_url, factory_dependency
from ...exceptions import VigilError
from ...factory import Factory
from ...services.squash import SquashService
from .._routes import error_shaped_route
from .models import ErrorResponse

__all__ = [
    "ENDPOINTS",
    "ERRORS",
    "SquashRoute",
    "endpoint_map",
    "next_url",
    "prefers_json",
    "squash_service",
]

ENDPOINTS = (
    "auth",
    "blob",
    "code_changes",
    "datasets",
    "default",
    "jenkins",
    "job",
    "jobs",
    "measurement",
    "measurements",
    "metric",
    "metrics",
    "monitor",
    "packages",
    "spec",
    "specs",
    "stats",
    "status",
    "version",
)
"""The endpoint names of the SQuaSH root map that this server implements."""

ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorResponse, "description": "Malformed request; ``field`` names the input"},
    401: {"model": ErrorResponse, "description": "Missing, unknown or revoked token"},
    404: {"model": ErrorResponse, "description": "Not found"},
}


def _error_response(exc: VigilError) -> JSONResponse:
    # SQuaSH answered every bad body with 400; keep that for clients written against it.
    status = 400 if exc.status_code == 422 else exc.status_code
    body = ErrorResponse(message=exc.message, code=exc.code, field=exc.field)
    headers = {"WWW-Authenticate": 'JWT realm="vigil"'} if status == 401 else None
    return JSONResponse(body.model_dump(), status_code=status, headers=headers)


SquashRoute = error_shaped_route(
    _error_response,
    'A route that renders errors as SQuaSH did, ``{"message": ...}`` (plus code, field).',
)


def squash_service(factory: Factory = Depends(factory_dependency)) -> SquashService:
    """The SQuaSH service on the request's session."""
    return factory.create_squash_service()


def endpoint_map(request: Request) -> dict[str, str]:
    """SQuaSH's root document: endpoint name → absolute URL (lsst.verify reads it)."""
    root = base_url(request)
    return {name: f"{root}/{name}" for name in ENDPOINTS}


def prefers_json(request: Request) -> bool:
    """Whether the client asks for JSON rather than an HTML page.

    lsst.verify sends ``Accept: application/json; version=1.0``; browsers list
    ``text/html`` first. A client that states no preference gets JSON.
    """
    accept = request.headers.get("accept", "").lower()
    if "text/html" not in accept:
        return True
    json_at = accept.find("json")
    return json_at != -1 and json_at < accept.find("text/html")


def next_url(request: Request, cursor: str | None) -> str | None:
    """This request's URL with ``cursor`` set, or None on the last page."""
    if cursor is None:
        return None
    url = request.url.include_query_params(cursor=cursor)
    return base_url(request) + url.path + ("?" + url.query if url.query else "")
