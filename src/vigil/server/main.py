"""The application factory of the tracking server."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from vigil import __version__

from .config import Settings
from .exceptions import VigilError
from .factory import ProcessContext
from .handlers.api import router as api_router
from .handlers.docs import mount_docs
from .handlers.squash import router as squash_router
from .middleware import BodySizeLimitMiddleware
from .migration import check_schema

__all__ = ["create_app"]

logger = logging.getLogger(__name__)

_DESCRIPTION = """Vigil tracks the quality metrics of scientific data pipelines.

Reading is open unless the server sets `VIGIL_PUBLIC_READ=false`; every write needs
an API token in `Authorization: Bearer <token>` (create one with `vigil token create`).
Errors are `{"detail": {"code", "message", "field"}}`.
"""


def create_app(settings: Settings | None = None, *, check_database: bool = True) -> FastAPI:
    """Create the server application.

    Parameters
    ----------
    settings
        Settings to use; default: read from ``VIGIL_*`` environment variables.
    check_database
        Refuse to start (at lifespan start-up) when the database schema is not current.
    """
    settings = settings or Settings()
    context = ProcessContext.from_settings(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if check_database:
            check_schema(context.engine)
        yield
        context.close()

    app = FastAPI(
        title="Vigil",
        version=__version__,
        description=_DESCRIPTION,
        openapi_url="/api/openapi.json",
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.process_context = context
    app.include_router(api_router)
    app.include_router(squash_router)
    mount_docs(app)
    app.add_exception_handler(VigilError, _vigil_error_handler)  # type: ignore[arg-type]
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=settings.max_request_bytes)
    return app


async def _vigil_error_handler(request: Request, exc: VigilError) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if exc.status_code == 401 else None
    if exc.status_code >= 500:
        logger.error("%s %s: %s", request.method, request.url.path, exc.message)
    return JSONResponse(
        status_code=exc.status_code, content={"detail": exc.to_dict()}, headers=headers
    )
