"""The explorer's pages: ``/explore`` lists repositories, ``/explore/{name}`` shows one.

Repositories are the folders directly under ``VIGIL_EXPLORE_ROOTS``
(`vigil.explorer.mount`). ``/explore/{name}`` embeds the Panel app (an iframe) served by a
Bokeh server the process starts on first use at 127.0.0.1; the app's HTTP requests and its
websocket go through this server under ``/explore/app/`` (`PROXY_PREFIX`), which relays
them, so a browser on any machine that reaches this server reaches the app, with the
same access rule as every page: with ``VIGIL_PUBLIC_READ`` off, a logged-in session
(``/login``) or an API token. A websocket is relayed only from a page of this server
(its ``Origin`` names this server's host). ``/explore/{name}?metric=&band=&tract=&patch=
&visit=&detector=`` opens a metric at a dataId (the dashboard's drill-down links). A name
that is not a repository directly under a root (``..``, absolute paths, symbolic links
leading out) answers 404. ``?format=json`` gives the list (or the repository's name) as
JSON.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
from pathlib import Path
from typing import cast
from urllib.parse import quote, urlencode, urlsplit

import httpx
from fastapi import APIRouter, Depends, Request, WebSocket
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from vigil.explorer.mount import ExplorerServer

from ...dependencies import factory_dependency, optional_user, process_context
from ...exceptions import AuthenticationError, NotFoundError
from ...factory import Factory
from ...middleware import EXPLORER_APP_HEADERS, EXPLORER_PAGE_POLICY
from ._render import PageRoute, wants_json
from .regressions import session_user

__all__ = ["explore_read_access", "router"]

_SELECTION = ("metric", "band", "tract", "patch", "visit", "detector")
# Hop-by-hop headers and those the relay sets itself; cookies and credentials of this
# server never reach the Bokeh server (it would copy them into the page's session token).
_DROPPED_REQUEST = {
    "authorization",
    "connection",
    "content-length",
    "cookie",
    "host",
    "keep-alive",
    "origin",
    "transfer-encoding",
    "upgrade",
}
_KEPT_RESPONSE = {"cache-control", "content-type", "etag", "expires", "last-modified"}
_RELAY_TIMEOUT = httpx.Timeout(60.0, connect=5.0)


class RepositoryNotFoundError(NotFoundError):
    code = "repository_not_found"


def explore_read_access(request: Request, factory: Factory = Depends(factory_dependency)) -> None:
    """Allow the explorer: anyone when ``public_read`` is on, else a session or a token."""
    if process_context(request).settings.public_read:
        return
    if session_user(request, factory) is not None:
        return
    if optional_user(request, factory) is None:
        raise AuthenticationError(
            "Reading this server needs a log-in (VIGIL_PUBLIC_READ is off): log in at"
            " /login, or send 'Authorization: Bearer <token>'."
        )


pages = APIRouter(
    route_class=PageRoute, include_in_schema=False, dependencies=[Depends(explore_read_access)]
)
relay = APIRouter(include_in_schema=False)
"""The relay to the Bokeh server; the websocket checks access itself."""


def _roots(request: Request | WebSocket) -> list[Path]:
    return list(request.app.state.process_context.settings.explore_roots)


def _server(request: Request | WebSocket) -> ExplorerServer:
    """The explorer's Bokeh server, held by the process context (started on first use)."""
    server: ExplorerServer = request.app.state.process_context.explorer_server
    return server


def _page(title: str, body: str, status_code: int = 200) -> HTMLResponse:
    return HTMLResponse(
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)} · Vigil</title>"
        "<link rel='stylesheet' href='/static/vigil.css'></head>"
        f"<body><main class='container'><p><a href='/'>Vigil</a> · <a href='/explore'>Explore</a>"
        f"</p>{body}</main></body></html>",
        status_code=status_code,
        headers={"Content-Security-Policy": EXPLORER_PAGE_POLICY},
    )


@pages.get("/explore")
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
            f"<li><a href='/explore/{html.escape(quote(e.name))}'>{html.escape(e.name)}</a></li>"
            for e in entries
        )
        body = (
            "<h1>Explore</h1><ul data-testid='repositories'>"
            f"{items or '<li>No data repository under the configured roots.</li>'}</ul>"
        )
    return _page("Explore", body)


@pages.get("/explore/{name}")
def explore_repository(request: Request, name: str) -> Response:
    """The explorer app of repository *name* (at the metric and dataId of the query)."""
    from vigil.explorer.mount import APP_PATH, PROXY_PREFIX, resolve_repository
    from vigil.explorer.mount import RepositoryNotFoundError as NotUnderRoots

    try:
        resolve_repository(_roots(request), name)
    except NotUnderRoots as exc:
        error = RepositoryNotFoundError(exc.message, field="name")
        if wants_json(request):
            return JSONResponse({"detail": error.to_dict()}, status_code=404)
        return _page("Not found", f"<h1>Not found</h1><p>{html.escape(exc.message)}</p>", 404)
    if wants_json(request):
        return JSONResponse({"name": name})
    _server(request).base()  # started now, so that the frame's first request finds it
    query = {"repo": name}
    query.update({k: v for k in _SELECTION if (v := request.query_params.get(k))})
    src = html.escape(f"{PROXY_PREFIX}/{APP_PATH}?{urlencode(query)}")
    frame = (
        f"<iframe data-testid='explorer' title='Explorer of {html.escape(name)}' src='{src}'"
        " style='width:100%;height:90vh;border:0'></iframe>"
    )
    return _page(f"Explore {name}", frame)


@relay.get("/explore/app/{path:path}", dependencies=[Depends(explore_read_access)])
async def explore_app(request: Request, path: str) -> Response:
    """The Bokeh server's pages and files, relayed."""
    from vigil.explorer.mount import PROXY_PREFIX

    base = await run_in_threadpool(_server(request).base)
    headers = {k: v for k, v in request.headers.items() if k.lower() not in _DROPPED_REQUEST}
    url = f"{base}{PROXY_PREFIX}/{path}"
    async with httpx.AsyncClient(timeout=_RELAY_TIMEOUT) as client:
        answer = await client.get(url, params=request.query_params, headers=headers)
    kept = {k: v for k, v in answer.headers.items() if k.lower() in _KEPT_RESPONSE}
    return Response(
        answer.content, status_code=answer.status_code, headers={**kept, **EXPLORER_APP_HEADERS}
    )


def _same_origin(websocket: WebSocket) -> bool:
    """Whether the page that opened *websocket* came from this server."""
    origin = websocket.headers.get("origin")
    host = websocket.headers.get("host")
    if not origin or not host:
        return False
    return urlsplit(origin).netloc.lower() == host.lower()


def _may_read(websocket: WebSocket) -> bool:
    context = websocket.app.state.process_context
    if context.settings.public_read:
        return True
    with context.session_maker() as session:
        factory = Factory(context, session)
        request = cast(Request, websocket)
        try:
            return (
                session_user(request, factory) is not None
                or optional_user(request, factory) is not None
            )
        except AuthenticationError:
            return False


@relay.websocket("/explore/app/{path:path}")
async def explore_socket(websocket: WebSocket, path: str) -> None:
    """The app's websocket, relayed both ways (text and binary messages)."""
    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosed
    from websockets.typing import Origin, Subprotocol

    from vigil.explorer.mount import PROXY_PREFIX

    # 1008: policy violation. A page of another site must not drive the app, and the
    # same access rule as the pages applies.
    if not _same_origin(websocket) or not await run_in_threadpool(_may_read, websocket):
        await websocket.close(code=1008)
        return
    server = _server(websocket)
    base = await run_in_threadpool(server.base)
    query = websocket.url.query
    target = f"ws{base.removeprefix('http')}{PROXY_PREFIX}/{path}" + (f"?{query}" if query else "")
    offered = [Subprotocol(p) for p in websocket.scope.get("subprotocols", [])]
    async with connect(
        target,
        origin=Origin(server.origin),
        subprotocols=offered or None,
        max_size=None,
        compression=None,
    ) as upstream:
        await websocket.accept(subprotocol=upstream.subprotocol)

        async def down() -> None:
            with contextlib.suppress(ConnectionClosed):
                async for message in upstream:
                    if isinstance(message, bytes):
                        await websocket.send_bytes(message)
                    else:
                        await websocket.send_text(message)

        async def up() -> None:
            while True:
                message = await websocket.receive()
                if message["type"] == "websocket.disconnect":
                    return
                if message.get("text") is not None:
                    await upstream.send(message["text"])
                elif message.get("bytes") is not None:
                    await upstream.send(message["bytes"])

        tasks = [asyncio.create_task(down()), asyncio.create_task(up())]
        _, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()
        with contextlib.suppress(Exception):
            await websocket.close()


router = APIRouter()
"""The pages and the relay."""
router.include_router(pages)
router.include_router(relay)
