"""The live monitor's pages: live status, processing and observing history, one processing,
trends, and aggregated logs. Each page has a JSON twin (``?format=json``).

The live page is rendered once by the server (state embedded as JSON) and kept current by
``/static/monitor.js`` from the server-sent events of ``/api/monitor/stream``: one HTTP
connection per page, events pushed from the ingest path as soon as they are committed,
no page reload. Forms (run/stop, comments) need a log-in (``/login``) and carry the CSRF
token of the dashboard's forms.
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
from .api import (
    PRESETS,
    conditions_model,
    history_filter,
    live_state,
    preset_range,
    trend_model,
)
from .models import (
    ConditionsModel,
    ExposureModel,
    ExposurePageModel,
    LiveModel,
    ProcessingDetailModel,
    ProcessingPageModel,
    ProcessingSummaryModel,
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
    offset: int = Query(0, ge=0),
    limit: int = Query(_PAGE, ge=1, le=500),
    factory: Factory = Depends(factory_dependency),
) -> Response:
    """Every processing, filtered by status, QA, flavor, program and date, sortable, paged."""
    service = factory.create_monitor_service()
    items, total = service.history(
        filters, sort=sort, descending=order == "desc", limit=limit, offset=offset
    )
    shown = {
        k: v.isoformat() if isinstance(v, datetime) else v
        for k, v in vars_of(filters).items()
        if v is not None
    }
    if preset:
        shown["preset"] = preset
    model = HistoryPageModel(
        items=[ProcessingSummaryModel.model_validate(p) for p in items],
        total=total,
        limit=limit,
        offset=offset,
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
    }
    return _page(request, "monitor_history.html", context, model)


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


# Observing history ----------------------------------------------------------------------


class ExposuresPageModel(ExposurePageModel):
    """The JSON twin of ``/monitor/exposures``."""

    filters: dict[str, Any]
    choices: dict[str, list[str]]


@router.get("/monitor/exposures")
def exposures_page(
    request: Request,
    pipeline: str | None = Query(None),
    flavor: str | None = Query(None),
    program: str | None = Query(None),
    preset: str | None = Query(None),
    offset: int = Query(0, ge=0),
    limit: int = Query(_PAGE, ge=1, le=500),
    factory: Factory = Depends(factory_dependency),
) -> Response:
    """Every exposure seen, newest first, with its observing conditions."""
    since, until = preset_range(preset or None, None, None)
    service = factory.create_monitor_service()
    items, total = service.exposures(
        pipeline=pipeline or None,
        flavor=flavor or None,
        program=program or None,
        since=since,
        until=until,
        limit=limit,
        offset=offset,
    )
    filters = {
        k: v
        for k, v in {
            "pipeline": pipeline,
            "flavor": flavor,
            "program": program,
            "preset": preset,
        }.items()
        if v
    }
    model = ExposuresPageModel(
        items=[ExposureModel.model_validate(e) for e in items],
        total=total,
        limit=limit,
        offset=offset,
        filters=filters,
        choices=service.choices(pipeline or None),
    )
    return _page(
        request, "monitor_exposures.html", {"nav": "monitor", "presets": list(PRESETS)}, model
    )


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
    if query.regex or query.text or query.min_level:
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


# Plots ----------------------------------------------------------------------------------

_STATUS_COLOURS = {
    "normal": "#1b8a4b",
    "warning": "#d69e00",
    "alarm": "#c62f2f",
    "missing": "#9aa1ac",
}
_CONDITION_LABELS = {
    "airmass": "Airmass",
    "seeing": "Seeing (arcsec)",
    "sky_brightness": "Sky brightness (mag/arcsec²)",
    "exposure_time": "Exposure time (s)",
}


def _bokeh_item(fig: Any, target: str) -> str:
    from bokeh.core.types import ID
    from bokeh.embed import json_item

    return embed_json(json_item(fig, ID(target)))


def trend_plot(trend: TrendModel, target: str = "trend-plot") -> str | None:
    """QA values over time, one line per unit, markers coloured by status."""
    from bokeh.models import ColumnDataSource, HoverTool
    from bokeh.palettes import Category10_10
    from bokeh.plotting import figure

    series = [s for s in trend.series if any(p.value is not None for p in s.points)]
    if not series:
        return None
    element = "" if trend.element is None else f" [element {trend.element}]"
    fig = figure(
        x_axis_type="datetime",
        height=360,
        sizing_mode="stretch_width",
        title=f"{trend.key}{element}",
        tools="pan,wheel_zoom,box_zoom,reset,save",
        toolbar_location="above",
    )
    for i, item in enumerate(series):
        points = [p for p in item.points if p.value is not None]
        colour = Category10_10[i % 10]
        source = ColumnDataSource(
            {
                "time": [p.time for p in points],
                "value": [p.value for p in points],
                "exposure": [p.exposure for p in points],
                "unit": [p.unit for p in points],
                "status": [p.status for p in points],
                "fill": [_STATUS_COLOURS.get(p.status, "#9aa1ac") for p in points],
            }
        )
        fig.line("time", "value", source=source, color=colour, legend_label=item.unit or "")
        fig.scatter(
            "time",
            "value",
            source=source,
            size=7,
            fill_color="fill",
            line_color=colour,
            legend_label=item.unit or "",
        )
    fig.add_tools(
        HoverTool(
            tooltips=[
                ("exposure", "@exposure"),
                ("unit", "@unit"),
                ("value", "@value{0.0000}"),
                ("status", "@status"),
            ],
        )
    )
    fig.legend.click_policy = "hide"
    fig.legend.location = "top_left"
    fig.yaxis.axis_label = trend.key
    return _bokeh_item(fig, target)


def condition_plots(conditions: ConditionsModel) -> dict[str, str | None]:
    """Conditions over time (one panel each, shared time axis) and y against x with its fit."""
    from bokeh.layouts import column
    from bokeh.models import ColumnDataSource, HoverTool
    from bokeh.models.annotations import Slope
    from bokeh.plotting import figure

    points = conditions.points
    if not points:
        return {"series": None, "scatter": None}

    def new_source() -> ColumnDataSource:
        # One source per embedded item: a Bokeh model belongs to a single document.
        return ColumnDataSource(
            {
                "time": [p.time for p in points],
                "exposure": [p.exposure for p in points],
                "flavor": [p.flavor or "" for p in points],
                **{name: [p.model_dump()[name] for p in points] for name in CONDITIONS},
            }
        )

    source = new_source()
    panels = []
    shared = None
    for name in ("airmass", "seeing", "sky_brightness"):
        shared_range: dict[str, Any] = {} if shared is None else {"x_range": shared}
        fig = figure(
            x_axis_type="datetime",
            height=170,
            sizing_mode="stretch_width",
            tools="pan,wheel_zoom,box_zoom,reset",
            toolbar_location="right",
            **shared_range,
        )
        shared = shared or fig.x_range
        fig.scatter("time", name, source=source, size=5, color="#2f5fd0")
        fig.yaxis.axis_label = _CONDITION_LABELS[name]
        fig.add_tools(HoverTool(tooltips=[("exposure", "@exposure"), (name, f"@{name}")]))
        panels.append(fig)
    scatter = figure(
        height=360,
        sizing_mode="stretch_width",
        tools="pan,wheel_zoom,box_zoom,reset,save",
        title=f"{_CONDITION_LABELS[conditions.y]} against {_CONDITION_LABELS[conditions.x]}",
    )
    scatter.scatter(
        conditions.x, conditions.y, source=new_source(), size=6, color="#2f5fd0", alpha=0.7
    )
    scatter.xaxis.axis_label = _CONDITION_LABELS[conditions.x]
    scatter.yaxis.axis_label = _CONDITION_LABELS[conditions.y]
    scatter.add_tools(
        HoverTool(
            tooltips=[
                ("exposure", "@exposure"),
                ("flavor", "@flavor"),
                (conditions.x, f"@{conditions.x}"),
                (conditions.y, f"@{conditions.y}"),
            ]
        )
    )
    if conditions.fit is not None:
        scatter.add_layout(
            Slope(
                gradient=conditions.fit["slope"],
                y_intercept=conditions.fit["intercept"],
                line_color="#c62f2f",
                line_width=2,
                line_dash="dashed",
            )
        )
    return {
        "series": _bokeh_item(column(*panels, sizing_mode="stretch_width"), "conditions-series"),
        "scatter": _bokeh_item(scatter, "conditions-scatter"),
    }
