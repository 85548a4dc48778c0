"""Rendering of the dashboard's pages: one HTML template and one JSON twin per page.

Every page handler ends with::

    return render(request, "metric.html", {"plot": plot_json}, PageModel(...))

- ``render(request, template, context, json_model, status_code=200)`` answers the JSON
  twin (``json_model`` dumped with ``model_dump_json()``) when the request asks for
  JSON (``?format=json``, or ``Accept: application/json`` preferred over ``text/html``),
  else the HTML page. The template sees ``context`` plus ``page`` (the JSON model itself,
  so a template can read the same fields as the twin) and the base context below.
- Base context of every template: ``nav_items`` (list of `NavItem`, the nav bar; add a
  page to the bar by appending to `NAV_ITEMS`), ``active`` (the ``nav`` key of
  ``context``, highlighted in the bar), ``bokeh_js`` (script URLs of BokehJS, served from
  the installed package), ``version``, ``url_for`` and ``query_url(**changes)`` (this
  page's URL with query parameters replaced; ``None`` removes one — for permalinks,
  filters and tabs), ``json_url`` (the JSON twin of this page).
- `PageRoute` is the route class of the dashboard routers: it renders domain errors
  (`VigilError`) as an HTML error page naming what was not found, with a link back (or
  as ``{"detail": {...}}`` JSON for the twin), and it lets JSON clients of a path the
  SQuaSH API also serves (``/``, ``/jobs``, ``/metrics``) fall through to that API
  unless they ask ``?format=json``.
- Jinja2 filters for values, times, SHAs, dataIds and code links: ``_format.FILTERS``.
- Templates extend ``base.html`` (blocks ``title``, ``head``, ``content``, ``scripts``)
  and use ``/static/vigil.css``; pages with a Bokeh plot set ``context["bokeh"] = True``
  so that base.html loads BokehJS (and the page is sent with
  `vigil.server.middleware.BOKEH_POLICY`, which lets BokehJS compile its callbacks).
- No inline script and no event-handler attribute (the Content-Security-Policy refuses
  them): a ``<select data-autosubmit>`` submits its form when changed
  (``/static/vigil.js``, loaded by every page); data for scripts goes in
  ``<script type="application/json">`` written with `_format.embed_json`.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from pydantic import BaseModel
from starlette._utils import get_route_path
from starlette.routing import Match
from starlette.types import Scope

from vigil import __version__

from ...exceptions import VigilError
from ...middleware import BOKEH_POLICY
from .._params import validation_error
from ._format import FILTERS

__all__ = [
    "BOKEH_STATIC_PATH",
    "NAV_ITEMS",
    "STATIC_PATH",
    "NavItem",
    "PageRoute",
    "mount_static",
    "render",
    "render_error",
    "templates",
    "wants_json",
]

_SERVER_DIR = Path(__file__).resolve().parents[2]
TEMPLATE_DIR = _SERVER_DIR / "templates"
STATIC_DIR = _SERVER_DIR / "static"
STATIC_PATH = "/static"
BOKEH_STATIC_PATH = "/static/bokeh"

templates = Jinja2Templates(directory=str(TEMPLATE_DIR))
"""The dashboard's Jinja2 environment (autoescaping on; filters of `_format.FILTERS`)."""
templates.env.filters.update(FILTERS)


@dataclass(frozen=True, slots=True)
class NavItem:
    """One entry of the navigation bar.

    Parameters
    ----------
    key
        Identifies the entry; a page whose context has ``nav == key`` highlights it.
    label
        The text shown.
    href
        Where it leads.
    """

    key: str
    label: str
    href: str


NAV_ITEMS: list[NavItem] = [
    NavItem("overview", "Overview", "/"),
    NavItem("metrics", "Metrics", "/metrics"),
    NavItem("jobs", "Jobs", "/jobs"),
    NavItem("compare", "Compare", "/compare"),
]
"""The navigation bar, in order. A new page adds itself by appending (or inserting) here."""


def _bokeh_js() -> list[str]:
    import bokeh

    # Only the core bundle: the pages use no Bokeh widgets (controls are plain HTML
    # forms, so that every state is in the query string).
    return [f"{BOKEH_STATIC_PATH}/js/bokeh.min.js?v={bokeh.__version__}"]


def mount_static(app: FastAPI) -> None:
    """Serve ``/static/`` (the project's CSS and JS) and ``/static/bokeh/`` (BokehJS).

    BokehJS comes from the installed ``bokeh`` package, so pages load nothing from the
    internet. The Bokeh mount goes first: ``/static`` would otherwise capture it.
    """
    from bokeh.util.paths import static_path

    app.mount(BOKEH_STATIC_PATH, StaticFiles(directory=str(static_path())), name="bokeh-static")
    app.mount(STATIC_PATH, StaticFiles(directory=str(STATIC_DIR)), name="static")


def wants_json(request: Request) -> bool:
    """Whether the request asks for a page's JSON twin rather than its HTML.

    ``?format=json`` / ``?format=html`` decide; otherwise an ``Accept`` header that
    prefers ``application/json`` (or any ``json`` type) over ``text/html``.
    """
    fmt = request.query_params.get("format")
    if fmt is not None:
        return fmt.lower() == "json"
    accept = request.headers.get("accept", "").lower()
    json_at = accept.find("json")
    if json_at == -1:
        return False
    html_at = accept.find("text/html")
    return html_at == -1 or json_at < html_at


def _query_url(request: Request) -> Callable[..., str]:
    def query_url(**changes: Any) -> str:
        # ``format`` never carries over: a link from the JSON twin leads to a page.
        drop = set(changes) | {"format"}
        params = [(k, v) for k, v in request.query_params.multi_items() if k not in drop]
        for key, value in changes.items():
            values = value if isinstance(value, list | tuple) else [value]
            params.extend((key, str(v)) for v in values if v is not None and v != "")
        query = urlencode(params)
        return request.url.path + ("?" + query if query else "")

    return query_url


def _base_context(request: Request, context: Mapping[str, Any]) -> dict[str, Any]:
    query_url = _query_url(request)
    return {
        "nav_items": NAV_ITEMS,
        "active": context.get("nav"),
        "bokeh_js": _bokeh_js() if context.get("bokeh") else [],
        "version": __version__,
        "query_url": query_url,
        "json_url": query_url(format="json"),
    }


def render(
    request: Request,
    template: str,
    context: Mapping[str, Any],
    json_model: BaseModel | Callable[[], BaseModel],
    *,
    status_code: int = 200,
) -> Response:
    """The HTML page *template*, or its JSON twin *json_model* if the request wants JSON.

    Parameters
    ----------
    request
        The request being answered.
    template
        The template's file name under ``server/templates``.
    context
        What the template needs beyond *json_model* (plot JSON, display strings...).
        ``nav`` selects the highlighted nav entry; ``bokeh`` loads BokehJS.
    json_model
        The page's data: the JSON twin's body, and ``page`` in the template. A callable
        returning it is called for the JSON twin only (for twins costly to build whose
        template reads *context* instead); ``page`` is then None.
    status_code
        The HTTP status of both renderings.
    """
    if wants_json(request):
        model = json_model() if callable(json_model) else json_model
        # Pydantic's own encoder: a tenth of the time of the standard library's on the
        # megabyte-sized twins (a job's blobs); NaN becomes null either way.
        return Response(
            model.model_dump_json(), status_code=status_code, media_type="application/json"
        )
    page = None if callable(json_model) else json_model
    full = {**_base_context(request, context), **context, "page": page}
    response = templates.TemplateResponse(request, template, full, status_code=status_code)
    if context.get("bokeh"):
        # Other pages get the stricter PAGE_POLICY from the middleware.
        response.headers["Content-Security-Policy"] = BOKEH_POLICY
    return response


_BACK_LINKS = {
    "metric_not_found": ("All metrics", "/metrics"),
    "specification_not_found": ("All metrics", "/metrics"),
    "series_not_found": ("All metrics", "/metrics"),
    "job_not_found": ("All jobs", "/jobs"),
    "branch_not_found": ("All jobs", "/jobs"),
    "artifact_not_found": ("All jobs", "/jobs"),
}


def render_error(request: Request, error: VigilError) -> Response:
    """An error page (HTML) or ``{"detail": {code, message, field}}`` (JSON twin)."""
    if wants_json(request):
        return JSONResponse({"detail": error.to_dict()}, status_code=error.status_code)
    label, href = _BACK_LINKS.get(error.code, ("Overview", "/"))
    context = {**_base_context(request, {}), "error": error, "back_label": label, "back": href}
    return templates.TemplateResponse(request, "error.html", context, status_code=error.status_code)


def _yields_to_squash(scope: Scope) -> bool:
    """Whether a request for a path SQuaSH also serves is not asking for a page."""
    return get_route_path(scope) in _squash_get_paths() and not _asks_page(scope)


class PageRoute(APIRoute):
    """The route class of dashboard pages: HTML error pages, and sharing paths with SQuaSH.

    A GET path that the SQuaSH-compatible API also serves (``/``, ``/jobs``,
    ``/metrics``) matches only requests for a page: a browser (``text/html`` preferred)
    or an explicit ``?format=``. Other requests fall through to the SQuaSH route, so
    ``dispatch_verify.py`` and other JSON clients keep their answers.
    """

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if _yields_to_squash(scope):
            return Match.NONE, {}
        return super().matches(scope)

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                return await handler(request)
            except VigilError as exc:
                return render_error(request, exc)
            except RequestValidationError as exc:
                return render_error(request, validation_error(exc))

        return route


@lru_cache(maxsize=1)
def _squash_get_paths() -> frozenset[str]:
    from ..squash import router as squash_router

    return frozenset(_get_paths(squash_router))


def _get_paths(router: APIRouter) -> Iterator[str]:
    # Newer FastAPI keeps included routers as wrappers with an ``original_router``.
    # (The SQuaSH routers have no prefixes.)
    for route in router.routes:
        if isinstance(route, APIRoute) and route.methods and "GET" in route.methods:
            yield route.path
        included = getattr(route, "original_router", None)
        if isinstance(included, APIRouter):
            yield from _get_paths(included)


def _asks_page(scope: Scope) -> bool:
    query = scope.get("query_string", b"").decode("latin-1")
    if any(part.split("=", 1)[0] == "format" for part in query.split("&")):
        return True
    accept = ""
    for key, value in scope.get("headers", []):
        if key == b"accept":
            accept = value.decode("latin-1").lower()
    html_at = accept.find("text/html")
    if html_at == -1:
        return False
    json_at = accept.find("json")
    return json_at == -1 or html_at < json_at
