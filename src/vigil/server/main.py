"""The application factory of the tracking server."""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from vigil import __version__

from ._activity import ActivityMiddleware
from .background import BackgroundWorker
from .config import Settings
from .database import (
    RETRY_AFTER_SECONDS,
    UNAVAILABLE_ERRORS,
    is_unavailable,
    unavailable_error,
    wait_for_database,
)
from .exceptions import DatabaseUnavailableError, VigilError
from .factory import ProcessContext
from .handlers.api import logs as logs_api
from .handlers.api import router as api_router
from .handlers.api.gate import router as gate_api_router
from .handlers.api.regressions import router as regressions_api_router
from .handlers.api.subscriptions import router as subscriptions_api_router
from .handlers.docs import mount_docs
from .handlers.health import router as health_router
from .handlers.sasquatch import router as sasquatch_router
from .handlers.squash import router as squash_router
from .handlers.web import PageRoute, mount_static, render_error
from .handlers.web import router as web_router
from .handlers.web.explore import router as explore_web_router
from .handlers.web.login import router as login_web_router
from .handlers.web.regressions import router as regressions_web_router
from .middleware import BodySizeLimitMiddleware, SecurityHeadersMiddleware, TrustedHostMiddleware
from .migration import check_schema
from .monitor.handlers import api as monitor_api
from .monitor.handlers import web as monitor_web
from .services.artifacts import prepare_store

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
        # Every long-lived part is held by the process context, started here and stopped
        # here: the database engine, the artifact store, the live feed, the explorer's
        # Bokeh server, the caches, and the background worker (analysis queue, digests,
        # outbox).
        if check_database:
            wait_for_database(context.engine, settings.database_start_timeout)
            check_schema(context.engine)
        prepare_store(context.artifact_content)
        context.live_feed.open()
        worker = BackgroundWorker.start_for(context)
        # Everything built at start-up lives as long as the process: moving it out of the
        # cyclic collector's generations keeps full collections from rescanning it while
        # large responses (a series of 10,000 points) are being built.
        gc.collect()
        gc.freeze()
        try:
            yield
        finally:
            context.live_feed.close()
            worker.stop()
            context.explorer_server.stop()
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
    app.include_router(health_router)
    app.include_router(api_router)
    app.include_router(monitor_api.router)
    app.include_router(monitor_api.stream_router)
    app.include_router(logs_api.router)
    app.include_router(logs_api.stream_router)
    app.include_router(regressions_api_router)
    app.include_router(subscriptions_api_router)
    app.include_router(gate_api_router)
    app.include_router(regressions_web_router)
    app.include_router(login_web_router)
    app.include_router(web_router)
    app.include_router(monitor_web.router)
    app.include_router(explore_web_router)
    app.include_router(squash_router)
    app.include_router(sasquatch_router)
    mount_static(app)
    mount_docs(app)
    app.add_exception_handler(VigilError, _vigil_error_handler)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, _http_error_handler)  # type: ignore[arg-type]
    for database_error in UNAVAILABLE_ERRORS:
        app.add_exception_handler(database_error, _database_error_handler)
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=settings.max_request_bytes)
    app.add_middleware(
        TrustedHostMiddleware, hosts=settings.trusted_hosts, base_url=settings.base_url
    )
    app.add_middleware(ActivityMiddleware, activity=context.activity)
    app.add_middleware(SecurityHeadersMiddleware)  # outermost: on every answer
    return app


_HTTP_CODES = {400: "invalid_request", 404: "not_found", 405: "method_not_allowed"}


async def _http_error_handler(request: Request, exc: StarletteHTTPException) -> Response:
    # The framework's own errors (no such route, a body it cannot parse) answer in the
    # API's error shape under /api, as its documented responses say.
    if not request.url.path.startswith("/api/"):
        return await http_exception_handler(request, exc)
    detail: dict[str, str] = {
        "code": _HTTP_CODES.get(exc.status_code, "http_error"),
        "message": f"{exc.detail} ({request.method} {request.url.path}); see /api/docs.",
    }
    if exc.status_code == 400:
        detail["field"] = "body"
    return JSONResponse(
        status_code=exc.status_code, content={"detail": detail}, headers=exc.headers
    )


async def _vigil_error_handler(request: Request, exc: VigilError) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if exc.status_code == 401 else None
    if exc.status_code >= 500:
        logger.error("%s %s: %s", request.method, request.url.path, exc.message)
    return JSONResponse(
        status_code=exc.status_code, content={"detail": exc.to_dict()}, headers=headers
    )


async def _database_error_handler(request: Request, exc: Exception) -> Response:
    # The database out of reach (down, closed to connections, locked, pool exhausted) is a
    # 503 the client may retry; any other database error is a bug and stays a 500.
    if not is_unavailable(exc):
        raise exc
    context: ProcessContext = request.app.state.process_context
    detail = unavailable_error(context.engine, exc).message
    logger.warning("%s %s: %s", request.method, request.url.path, detail)
    error = DatabaseUnavailableError(
        f"The database is unavailable; try again in {RETRY_AFTER_SECONDS} s."
    )
    if isinstance(request.scope.get("route"), PageRoute):
        response = render_error(request, error)
    else:
        response = JSONResponse(status_code=error.status_code, content={"detail": error.to_dict()})
    response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response
