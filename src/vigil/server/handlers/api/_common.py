"""Helpers shared by the native API handlers: paging links and error documentation."""

from __future__ import annotations

from typing import Any

from fastapi import Query, Request

from ...dependencies import base_url, process_context
from .models import ErrorModel

__all__ = ["ERRORS", "Limit", "next_url", "page_limit"]

ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorModel, "description": "Malformed request"},
    401: {"model": ErrorModel, "description": "Missing, unknown or revoked token"},
    404: {"model": ErrorModel, "description": "Not found"},
}

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
