"""Helpers shared by the native API handlers: paging links and error documentation."""

from __future__ import annotations

from typing import Any

from fastapi import Query, Request

from ...dependencies import base_url, process_context
from .models import ErrorModel

__all__ = ["ERRORS", "Limit", "next_url", "page_limit", "unprocessable"]

ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorModel, "description": "Malformed request"},
    401: {"model": ErrorModel, "description": "Missing, unknown, revoked or expired token"},
    403: {"model": ErrorModel, "description": "The token lacks the role this needs (named)"},
    404: {"model": ErrorModel, "description": "Not found"},
}


def unprocessable(description: str) -> dict[str, Any]:
    """The documentation of a 422 that is either an `ErrorModel` or FastAPI's own list.

    An operation that takes a model, a form or typed parameters is answered by FastAPI
    with its validation list (``HTTPValidationError``) when the input does not fit them,
    before the handler runs; what only the service can judge is answered with an
    `ErrorModel`. Declaring one of the two would make the other a response outside the
    schema.

    Parameters
    ----------
    description
        What makes the input invalid, as the documentation shows it.
    """
    refs = ("#/components/schemas/ErrorModel", "#/components/schemas/HTTPValidationError")
    schema = {"anyOf": [{"$ref": ref} for ref in refs]}
    return {"description": description, "content": {"application/json": {"schema": schema}}}


Limit = Query(100, ge=1, description="Items per page (at most VIGIL_PAGE_SIZE_MAX).")


def page_limit(request: Request, limit: int) -> int:
    """*limit*, capped at the configured maximum page size."""
    return min(limit, process_context(request).settings.page_size_max)


def next_url(request: Request, cursor: str | None) -> str | None:
    """The URL of the next page: this request's URL with ``cursor`` replaced."""
    if cursor is None:
        return None
    url = request.url.include_query_params(cursor=cursor)
    return base_url(request) + url.path + ("?" + url.query if url.query else "")
