"""The live monitor's pages: live status, processing and observing history, one processing,
trends, and aggregated logs. Each page has a JSON twin (``?format=json``).

The live page is rendered once by the server (state embedded as JSON) and kept current by
``/static/monitor.js`` from the server-sent events of ``/api/monitor/stream``: one HTTP
connection per page, events pushed from the ingest path as soon as they are committed,
no page reload. Forms (run/stop, comments, clearing a processing) need a log-in
(``/login``) and carry the CSRF token of the dashboard's forms.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel

from ...dependencies import factory_dependency, require_role
from ...domain import Role, User, parse_decimal
from ...domain.logs import LEVEL_NAMES, LogQuery
from ...exceptions import InvalidRequestError
from ...factory import Factory
from ...handlers._live import live_feed
from ...handlers.api.logs import (
    LogLineModel,
    LogLinesModel,
    LogProcessModel,
    LogRunDetailModel,
    LogRunModel,
    log_query,
)
from ...handlers.web._format import embed_json
from ...handlers.web._plugin_output import qa_plot_figures
from ...handlers.web._render import NAV_ITEMS, NavItem, PageRoute, render, wants_json
from ...handlers.web.csrf import check_csrf, csrf_token, with_csrf_cookie
from ...handlers.web.regressions import page_read_access, session_user
from ..domain import CONDITIONS, HISTORY_SORTS, HistoryFilter
from ._plots import condition_plots, trend_plot
from .api import (
    PRESETS,
    FromQuery,
    ToQuery,
    conditions_model,
    history_filter,
    live_state,
    page_url,
    preset_range,
    trend_model,
)
from .models import (
    ClearPlanModel,
    ConditionsModel,
    ExposurePageModel,
    LiveModel,
    ProcessingClearedModel,
    ProcessingDetailModel,
    ProcessingPageModel,
    TrendModel,
)

__all__ = ["router"]

for _item in (NavItem("monitor", "Monitor", "/monitor"), NavItem("logs", "Logs", "/monitor/logs")):
    if not any(item.key == _item.key for item in NAV_ITEMS):
        NAV_ITEMS.append(_item)

router = APIRouter(
    route_class=PageRoute, include_in_schema=False, dependencies=[Depends(page_read_access)]
)

_PAGE = 50


def _page(request: Request, template: str, context: dict[str, Any], model: BaseModel) -> Response:
    full = {"csrf_token": csrf_token(request), **context}
    return with_csrf_cookie(request, render(request, template, full, model))


# Live ----------------------------------------------------------------------------------


@router.get("/monitor")
def live_page(
    request: Request,
    pipeline: str | None = Query(None),
    factory: Factory = Depends(factory_dependency),
    user: User | None = Depends(session_user),
) -> Response:
    """Current exposure, each unit's steps and QA, alerts; kept live by server-sent events."""
    model: LiveModel = live_state(request, factory, pipeline or None)
    context = {
        "nav": "monitor",
        "user": user,
        "state_json": embed_json(model.model_dump(mode="json")) if not wants_json(request) else "",
    }
    return _page(request, "monitor.html", context, model)


@router.post("/monitor/pipelines/{name}/state")
def state_form(
    request: Request,
    name: str,
    state: str = Form(...),
    csrf_token: str | None = Form(None),
    factory: Factory = Depends(factory_dependency),
    user: User = Depends(require_role(Role.OPERATOR, session=True)),
) -> Response:
    """Run or stop a pipeline (the live page's button; needs an operator's log-in)."""
    check_csrf(request, csrf_token)
    factory.create_monitor_service().set_state(name, state, user)
    return RedirectResponse(f"/monitor?{urlencode({'pipeline': name})}", status_code=303)


# Processing history and one processing --------------------------------------------------


class HistoryPageModel(ProcessingPageModel):
    """The JSON twin of ``/monitor/processings``: a page and the filter menus."""

    filters: dict[str, Any]
    choices: dict[str, list[str]]


@router.get("/monitor/processings")
def history_page(
    request: Request,
    filters: HistoryFilter = Depends(history_filter),
    preset: str | None = Query(None),
    sort: str = Query("id"),
    order: str = Query("desc", pattern="^(asc|desc)$"),
    cursor: str | None = Query(None),
    offset: int = Query(0, ge=0),
    limit: int = Query(_PAGE, ge=1, le=500),
    factory: Factory = Depends(factory_dependency),
) -> Response:
    """Every processing, filtered by status, QA, flavor, program and date, sortable, paged."""
    service = factory.create_monitor_service()
    page = service.history(
        filters,
        sort=sort,
        descending=order == "desc",
        limit=limit,
        cursor=cursor,
        offset=offset,
    )
    shown = {
        k: v.isoformat() if isinstance(v, datetime) else v
        for k, v in vars_of(filters).items()
        if v is not None
    }
    if preset:
        shown["preset"] = preset
    shown.update(_days(request))
    model = HistoryPageModel.from_page(
        page,
        limit=limit,
        next_url=page_url(request, page.next_cursor),
        sort=sort,
        order=order,
        filters=shown,
        choices=service.choices(filters.pipeline),
    )
    context = {
        "nav": "monitor",
        "sorts": HISTORY_SORTS,
        "presets": list(PRESETS),
        "statuses": ["running", "succeeded", "failed", "stopped"],
        "qa_statuses": ["normal", "warning", "alarm", "missing"],
        "pipelines": [info.name for info in service.pipelines()],
    }
    return _page(request, "monitor_history.html", context, model)


def _days(request: Request) -> dict[str, str]:
    """The ``from``/``to`` days of a history form, as typed."""
    return {k: v for k in ("from", "to") if (v := request.query_params.get(k))}


def vars_of(filters: HistoryFilter) -> dict[str, Any]:
    """The filter fields by name."""
    return {name: getattr(filters, name) for name in HistoryFilter.__dataclass_fields__}


@router.get("/monitor/processings/{processing_id}")
def processing_page(
    request: Request,
    processing_id: int,
    factory: Factory = Depends(factory_dependency),
    user: User | None = Depends(session_user),
) -> Response:
    """One processing: its QA grid, units (exit status, last lines), QA values with their
    ranges, comments, and a link to its logs."""
    detail = factory.create_monitor_service().get_processing(processing_id)
    model = ProcessingDetailModel.from_domain(detail)
    qa_plots = qa_plot_figures(detail.qa) if not wants_json(request) else []
    context = {
        "nav": "monitor",
        "user": user,
        "state_json": embed_json(model.model_dump(mode="json")) if not wants_json(request) else "",
        "qa_plots": qa_plots,
        "bokeh": bool(qa_plots),
    }
    return _page(request, "monitor_processing.html", context, model)


@router.post("/monitor/processings/{processing_id}/comments")
def comment_form(
    request: Request,
    processing_id: int,
    text: str = Form(""),
    csrf_token: str | None = Form(None),
    factory: Factory = Depends(factory_dependency),
    user: User = Depends(require_role(Role.TRIAGER, session=True)),
) -> Response:
    """Add a comment to a processing (needs a triager's log-in)."""
    check_csrf(request, csrf_token)
    factory.create_monitor_service().add_comment(processing_id, text, user)
    return RedirectResponse(f"/monitor/processings/{processing_id}#comments", status_code=303)


@router.get("/monitor/processings/{processing_id}/clear")
def clear_page(
    request: Request,
    processing_id: int,
    factory: Factory = Depends(factory_dependency),
    user: User | None = Depends(session_user),
) -> Response:
    """The confirmation step of clearing a processing: what would be deleted."""
    plan = factory.create_monitor_service().clear_plan(processing_id)
    context = {"nav": "monitor", "user": user, "done": False}
    return _page(request, "monitor_clear.html", context, ClearPlanModel.model_validate(plan))


@router.post("/monitor/processings/{processing_id}/clear")
def clear_form(
    request: Request,
    processing_id: int,
    confirm: str | None = Form(None),
    csrf_token: str | None = Form(None),
    factory: Factory = Depends(factory_dependency),
    user: User = Depends(require_role(Role.ADMIN, session=True)),
) -> Response:
    """Clear a processing's logs and reduction files (needs an administrator's log-in and
    the confirmation box ticked)."""
    check_csrf(request, csrf_token)
    if confirm != "yes":
        raise InvalidRequestError(
            "Tick the confirmation box to clear the processing's logs and files.",
            field="confirm",
        )
    done = factory.create_monitor_service().clear_processing(processing_id, user)
    context = {"nav": "monitor", "user": user, "done": True}
    return _page(request, "monitor_clear.html", context, ProcessingClearedModel.from_domain(done))


# Observing history ----------------------------------------------------------------------


class ExposuresPageModel(ExposurePageModel):
    """The JSON twin of ``/monitor/exposures``."""

    filters: dict[str, Any]
    choices: dict[str, list[str]]
    sort: str
    order: str


@router.get("/monitor/exposures")
def exposures_page(
    request: Request,
    pipeline: str | None = Query(None),
    flavor: str | None = Query(None),
    program: str | None = Query(None),
    preset: str | None = Query(None),
    first_day: str | None = FromQuery,
    last_day: str | None = ToQuery,
    sort: str = Query("id"),
    order: str = Query("desc", pattern="^(asc|desc)$"),
    cursor: str | None = Query(None),
    offset: int = Query(0, ge=0),
    limit: int = Query(_PAGE, ge=1, le=500),
    factory: Factory = Depends(factory_dependency),
) -> Response:
    """Every exposure seen with its observing conditions and its last QA (linking to
    that processing), newest first or sorted by a column."""
    since, until = preset_range(preset or None, None, None, first_day, last_day)
    service = factory.create_monitor_service()
    page = service.exposures(
        pipeline=pipeline or None,
        flavor=flavor or None,
        program=program or None,
        since=since,
        until=until,
        limit=limit,
        cursor=cursor,
        offset=offset,
        sort=sort,
        descending=order == "desc",
    )
    chosen = {"pipeline": pipeline, "flavor": flavor, "program": program, "preset": preset}
    model = ExposuresPageModel.from_page(
        page,
        limit=limit,
        next_url=page_url(request, page.next_cursor),
        filters={**{k: v for k, v in chosen.items() if v}, **_days(request)},
        choices=service.choices(pipeline or None),
        sort=sort,
        order=order,
    )
    context = {
        "nav": "monitor",
        "presets": list(PRESETS),
        "pipelines": [info.name for info in service.pipelines()],
    }
    return _page(request, "monitor_exposures.html", context, model)


# Trends ---------------------------------------------------------------------------------


class TrendsPageModel(BaseModel):
    """The JSON twin of ``/monitor/trends``: QA values over time and observing conditions."""

    trend: TrendModel | None
    conditions: ConditionsModel
    choices: dict[str, list[str]]
    preset: str | None
    units: list[str]


@router.get("/monitor/trends")
def trends_page(
    request: Request,
    key: str | None = Query(None),
    pipeline: str | None = Query(None),
    unit: list[str] = Query([]),
    element: str | None = Query(None),
    preset: str | None = Query("30d"),
    x: str = Query("airmass"),
    y: str = Query("seeing"),
    flavor: str | None = Query(None),
    factory: Factory = Depends(factory_dependency),
) -> Response:
    """QA values over time per unit (or amplifier), and observing conditions as time series
    and one against another, over a date preset."""
    since, until = preset_range(preset or None, None, None)
    service = factory.create_monitor_service()
    choices = service.choices(pipeline or None)
    key = key or (choices["qa_key"][0] if choices["qa_key"] else None)
    element_index = parse_decimal(element)
    units = [u for u in unit if u]
    trend = (
        trend_model(
            factory,
            pipeline=pipeline or None,
            key=key,
            units=units,
            element=element_index,
            since=since,
            until=until,
        )
        if key
        else None
    )
    conditions = conditions_model(
        factory,
        pipeline=pipeline or None,
        x=x,
        y=y,
        flavor=flavor or None,
        since=since,
        until=until,
    )
    all_units: list[str] = []
    for info in service.pipelines():
        for name in info.description.get("units", []):
            if name not in all_units:
                all_units.append(str(name))
    model = TrendsPageModel(
        trend=trend, conditions=conditions, choices=choices, preset=preset, units=all_units
    )
    context: dict[str, Any] = {
        "nav": "monitor",
        "presets": list(PRESETS),
        "conditions_names": CONDITIONS,
        "selected_units": units,
        "element": element_index,
    }
    if not wants_json(request):
        context["bokeh"] = True
        context["trend_plot"] = trend_plot(trend) if trend else None
        context["condition_plots"] = condition_plots(conditions)
    return _page(request, "monitor_trends.html", context, model)


# Logs -----------------------------------------------------------------------------------


class LogsPageModel(BaseModel):
    """The JSON twin of ``/monitor/logs``: runs, abnormal endings, and a search."""

    runs: list[LogRunModel]
    failed_processes: list[LogProcessModel]
    search: LogLinesModel | None
    next_cursor: str | None


@router.get("/monitor/logs")
def logs_page(
    request: Request,
    kind: str | None = Query(None),
    status: str | None = Query(None),
    run_text: str | None = Query(None, alias="run_q"),
    cursor: str | None = Query(None),
    query: LogQuery = Depends(log_query),
    search_cursor: str | None = Query(None),
    factory: Factory = Depends(factory_dependency),
) -> Response:
    """Runs, the processes that ended abnormally, and a search over every run's lines."""
    service = factory.create_log_service()
    runs = service.list_runs(
        kind=kind or None, status=status or None, text=run_text or None, limit=_PAGE, cursor=cursor
    )
    failed = service.processes(status="failed", limit=20)
    search = None
    if query.regex or query.text or query.min_level or query.since or query.until:
        query.newest_first = True
        result = service.search(query, limit=_PAGE, cursor=search_cursor)
        search = LogLinesModel(
            items=[LogLineModel.model_validate(line) for line in result.items],
            next_cursor=result.next_cursor,
            next_url=None,
            scanned=result.scanned,
            truncated=result.truncated,
        )
    model = LogsPageModel(
        runs=[LogRunModel.model_validate(r) for r in runs.items],
        failed_processes=[LogProcessModel.model_validate(p) for p in failed.items],
        search=search,
        next_cursor=runs.next_cursor,
    )
    context = {"nav": "logs", "levels": list(LEVEL_NAMES.values()), "query": query}
    return _page(request, "monitor_logs.html", context, model)


class RunPageModel(BaseModel):
    """The JSON twin of ``/monitor/logs/{run_id}``: the run, its lines and its processes."""

    run: LogRunDetailModel
    lines: LogLinesModel
    processes: list[LogProcessModel]
    last_event_id: int


@router.get("/monitor/logs/{run_id}")
def run_page(
    request: Request,
    run_id: int,
    query: LogQuery = Depends(log_query),
    cursor: str | None = Query(None),
    limit: int = Query(500, ge=1, le=5000),
    factory: Factory = Depends(factory_dependency),
) -> Response:
    """All lines of a run (filters, search, checkpoints highlighted), its processes' ends,
    and a live tail while the run goes on."""
    service = factory.create_log_service()
    run = service.get_run(run_id)
    last_event_id = live_feed(request).last_id
    query.run_id = run_id
    result = service.search(query, limit=limit, cursor=cursor)
    processes = service.processes(run_id=run_id, status=None, limit=500)
    model = RunPageModel(
        run=LogRunDetailModel(
            **LogRunModel.model_validate(run).model_dump(), units=service.run_units(run_id)
        ),
        lines=LogLinesModel(
            items=[LogLineModel.model_validate(line) for line in result.items],
            next_cursor=result.next_cursor,
            next_url=None,
            scanned=result.scanned,
            truncated=result.truncated,
        ),
        processes=[LogProcessModel.model_validate(p) for p in processes.items],
        last_event_id=last_event_id,
    )
    context = {"nav": "logs", "levels": list(LEVEL_NAMES.values()), "query": query}
    return _page(request, "monitor_run.html", context, model)
