"""The Swagger UI page, served from the installed ``swagger-ui-bundle`` (no CDN)."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

__all__ = ["DOCS_STATIC_PATH", "mount_docs"]

DOCS_STATIC_PATH = "/api/docs/static"


def mount_docs(app: FastAPI) -> None:
    """Serve ``/api/docs`` with Swagger UI's files from the installed package.

    If the package is missing, the page is left out rather than loaded from the internet.
    """
    try:
        from swagger_ui_bundle import swagger_ui_path
    except ImportError:  # pragma: no cover - the server extra installs it
        return
    app.mount(DOCS_STATIC_PATH, StaticFiles(directory=str(swagger_ui_path)), name="swagger-static")
    router = APIRouter()

    @router.get("/api/docs", include_in_schema=False)
    def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/api/openapi.json",
            title="Vigil API",
            swagger_js_url=f"{DOCS_STATIC_PATH}/swagger-ui-bundle.js",
            swagger_css_url=f"{DOCS_STATIC_PATH}/swagger-ui.css",
            swagger_favicon_url=f"{DOCS_STATIC_PATH}/favicon-32x32.png",
        )

    app.include_router(router)
