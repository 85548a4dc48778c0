"""The Swagger UI page, served from the installed ``swagger-ui-bundle`` (no CDN)."""

from __future__ import annotations

import base64
import hashlib
import re

from fastapi import APIRouter, FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from ..middleware import content_security_policy

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
        page = get_swagger_ui_html(
            openapi_url=app.openapi_url or "/api/openapi.json",
            title="Vigil API",
            swagger_js_url=f"{DOCS_STATIC_PATH}/swagger-ui-bundle.js",
            swagger_css_url=f"{DOCS_STATIC_PATH}/swagger-ui.css",
            swagger_favicon_url=f"{DOCS_STATIC_PATH}/favicon-32x32.png",
        )
        # The page starts Swagger UI with one inline script of FastAPI's: the policy
        # allows that script by its hash, and no other inline script.
        hashes = " ".join(f"'sha256-{h}'" for h in _inline_script_hashes(bytes(page.body)))
        page.headers["Content-Security-Policy"] = content_security_policy(
            script_src=f"'self' {hashes}".strip()
        )
        return page

    app.include_router(router)


_INLINE_SCRIPT = re.compile(rb"<script(?![^>]*\bsrc=)[^>]*>(.*?)</script>", re.S | re.I)


def _inline_script_hashes(html: bytes) -> list[str]:
    """The base64 SHA-256 of each inline script of *html*, as CSP ``'sha256-...'`` wants."""
    return [
        base64.b64encode(hashlib.sha256(body).digest()).decode()
        for body in _INLINE_SCRIPT.findall(html)
    ]
