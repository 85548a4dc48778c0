"""The explorer's pages: ``/explore`` lists repositories, ``/explore/{name}`` shows one.

Repositories are the folders directly under ``VIGIL_EXPLORE_ROOTS``
(`vigil.explorer.mount`). ``/explore/{name}`` embeds the Panel app (an iframe), served by a
Bokeh server the process starts on first use at 127.0.0.1 (so the page works in a browser on
the server's machine, or through an SSH tunnel of both ports). A name that is not a
repository directly under a root (``..``, absolute paths, symbolic links leading out)
answers 404. ``?format=json`` gives the list (or the repository's path) as JSON.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from ...dependencies import process_context
from ...exceptions import NotFoundError
from ._render import wants_json

__all__ = ["router"]

router = APIRouter(include_in_schema=False)


class RepositoryNotFoundError(NotFoundError):
    code = "repository_not_found"


def _roots(request: Request) -> list[Path]:
    return list(process_context(request).settings.explore_roots)


def _server(request: Request) -> Any:
    from vigil.explorer.mount import ExplorerServer

    state = request.app.state
    server = getattr(state, "explorer_server", None)
    if server is None:
        server = ExplorerServer(_roots(request))
        state.explorer_server = server
    return server


def _page(title: str, body: str, status_code: int = 200) -> HTMLResponse:
    return HTMLResponse(
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)} · Vigil</title>"
        "<link rel='stylesheet' href='/static/vigil.css'></head>"
        f"<body><main class='container'><p><a href='/'>Vigil</a> · <a href='/explore'>Explore</a>"
        f"</p>{body}</main></body></html>",
        status_code=status_code,
    )


@router.get("/explore")
def explore_index(request: Request) -> Response:
    """The repositories under the configured roots."""
    from vigil.explorer.mount import list_repositories

    roots = _roots(request)
    entries = list_repositories(roots)
    if wants_json(request):
        return JSONResponse({"repositories": [{"name": e.name} for e in entries]})
    if not roots:
        body = (
            "<h1>Explore</h1><p>No repository roots are configured: set"
            " <code>VIGIL_EXPLORE_ROOTS</code> to the folders holding data repositories.</p>"
        )
    else:
        items = "".join(
            f"<li><a href='/explore/{html.escape(e.name)}'>{html.escape(e.name)}</a></li>"
            for e in entries
        )
        body = (
            "<h1>Explore</h1><ul data-testid='repositories'>"
            f"{items or '<li>No data repository under the configured roots.</li>'}</ul>"
        )
    return _page("Explore", body)


@router.get("/explore/{name}")
def explore_repository(request: Request, name: str) -> Response:
    """The explorer app of repository *name*."""
    from vigil.explorer.mount import RepositoryNotFoundError as NotUnderRoots
    from vigil.explorer.mount import resolve_repository

    try:
        resolve_repository(_roots(request), name)
    except NotUnderRoots as exc:
        error = RepositoryNotFoundError(exc.message, field="name")
        if wants_json(request):
            return JSONResponse({"detail": error.to_dict()}, status_code=404)
        return _page("Not found", f"<h1>Not found</h1><p>{html.escape(exc.message)}</p>", 404)
    if wants_json(request):
        return JSONResponse({"name": name})
    src = html.escape(f"{_server(request).url()}?{urlencode({'repo': name})}")
    frame = (
        f"<iframe data-testid='explorer' title='Explorer of {html.escape(name)}' src='{src}'"
        " style='width:100%;height:90vh;border:0'></iframe>"
    )
    return _page(f"Explore {name}", frame)
