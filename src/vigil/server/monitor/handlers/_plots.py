"""The monitor pages' Bokeh figures: QA trends over time and observing conditions."""

from __future__ import annotations

from typing import Any

from ...handlers.web._format import embed_json
from ..domain import CONDITIONS
from .models import ConditionsModel, TrendModel

__all__ = ["condition_plots", "trend_plot"]

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
