"""Time series of one metric: main line and branches over time or commit order.

The figure by branch (`branch_plot`) lives in `vigil.plots.branches`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal, cast

import numpy as np
from bokeh.models import (
    ColumnDataSource,
    CustomJS,
    CustomJSTickFormatter,
    DatetimeTickFormatter,
    HoverTool,
    Line,
    Scatter,
    TapTool,
)
from bokeh.models.annotations import Legend, LegendItem
from bokeh.models.renderers import DataRenderer

from ._band import main_line_band, main_line_legend
from ._columns import (
    NO_BRANCH,
    PlotData,
    SeriesColumns,
    branch_labels,
    branch_order,
    common_pr,
    formatters,
    tooltips,
)
from ._style import (
    BRANCH_COLOURS,
    FAIL_COLOUR,
    MAIN_COLOUR,
    MARKER_COLOURS,
    Marker,
    Threshold,
    base_figure,
    draw_thresholds,
    failing_mask,
    merge_thresholds,
)
from .branches import branch_data, branch_figure, branch_plot

if TYPE_CHECKING:
    import pandas as pd
    from bokeh.plotting import figure

__all__ = [
    "DENSE_POINTS",
    "NO_BRANCH",
    "SELECT_POINT_EVENT",
    "PlotData",
    "branch_data",
    "branch_figure",
    "branch_order",
    "branch_plot",
    "series_data",
    "series_figure",
    "series_plot",
]

DENSE_POINTS = 2_000
"""More points than this in view (about the plot's width in pixels) are drawn as lines
only; their markers appear when a zoom brings fewer into view."""

# Shows each zoom-only renderer when at most `limit` points of the plot are in the x
# range (and its line is not hidden by the legend).
_ZOOM_MARKERS = """
const [start, end] = [x_range.start, x_range.end]
let count = 0
for (const source of sources) {
  for (const x of source.data.x) {
    if (x >= start && x <= end) count++
  }
}
for (const [line, marks] of pairs) {
  marks.visible = count <= limit && (line == null || line.visible)
}
"""

SELECT_POINT_EVENT = "vigil:select-point"
"""The DOM event (on ``document``) of a shift+click on a point: its ``detail`` holds
``job``, ``base`` (the job of the previous point of its line, or null), ``value`` and
``branch`` (the line's source name). The metric page shows the point's code changes."""

# One tap tool for every clickable renderer: a plot with several tap tools activates
# only one of them. Called once per renderer hit, markers first (they are drawn on top
# of their points): the first hit of a tap decides. A click opens the job (ctrl+click
# in a new tab), a shift+click selects the point (SELECT_POINT_EVENT), a click on a
# marker opens its record.
_TAP = """
const {source, geometries} = cb_data
const modifiers = (cb_data.event && cb_data.event.modifiers) || {}
const hit = source.inspected
const found = hit.indices.length ? hit.indices : hit.line_indices
if (!found || found.length === 0) return
const tap = geometries.sx + "," + geometries.sy
if (cb_obj.vigil_tap === tap) return
cb_obj.vigil_tap = tap
setTimeout(() => { cb_obj.vigil_tap = null }, 0)
const i = found[0]
const go = (url) => {
  if (modifiers.ctrl) window.open(url, "_blank", "noopener")
  else window.location.href = url
}
if (source.name === "markers") {
  go(marker_url.replace("@id", encodeURIComponent(source.data.id[i])))
  return
}
const job = source.data.job_id[i]
if (modifiers.shift) {
  const detail = {
    job: job,
    base: i > 0 ? source.data.job_id[i - 1] : null,
    value: source.data.value[i],
    branch: source.name,
  }
  document.dispatchEvent(new CustomEvent(event_name, {detail: detail}))
  return
}
if (job_url) go(job_url.replace("@job_id", encodeURIComponent(job)))
"""

_DAY_MS = 86_400_000.0

# Commit order: a tick at position i shows the commit of the point drawn at x == i.
_COMMIT_TICKS = """
for (const source of sources) {
  const i = source.data.x.indexOf(tick)
  if (i >= 0) {
    const c = source.data.commit[i]
    return c < 0 ? "" : c.toString(16).padStart(8, "0").slice(0, 7)
  }
}
return ""
"""


def series_data(
    df: pd.DataFrame,
    *,
    x: Literal["time", "commit"] = "time",
    thresholds: Sequence[Threshold] = (),
    branches: Sequence[str] | None = None,
    main: str = "main",
    markers: Sequence[Marker] = (),
) -> PlotData:
    """The sources and layout of `series_plot` (see there for the parameters)."""
    if x not in ("time", "commit"):
        raise ValueError(f"x must be 'time' or 'commit', not {x!r}")
    columns = SeriesColumns(df, x)
    labels = branch_labels(df)
    names = list(branches) if branches is not None else branch_order(list(labels), main)
    lines = merge_thresholds(thresholds)
    sources: dict[str, dict[str, Any]] = {}
    drawn = []
    shown = np.zeros(len(df), dtype=bool)
    for i, name in enumerate(names):
        index = np.flatnonzero(labels == name)
        if len(index) == 0:
            continue
        shown[index] = True
        sources[f"branch:{name}"] = columns.data(index)
        pr = common_pr(df, index)
        drawn.append((name, f"{name} ({pr})" if pr else name, i, name == main))
    fail_index = np.flatnonzero(failing_mask(columns.values, lines) & shown)
    sources["failing"] = columns.data(fail_index)
    xs = columns.xs[shown]
    sources["markers"] = _marker_data(columns, shown, markers)
    has_markers = bool(len(sources["markers"]["x"]))
    # An invisible point on each threshold lets the y range reach it.
    first = float(xs[0]) if len(xs) else 0.0
    sources["threshold-extent"] = {"x": [first] * len(lines), "y": [t.value for t in lines]}
    sources["expected"] = main_line_band(columns.xs, columns.values, labels == main, shown)
    layout = (
        "series",
        x,
        tuple(drawn),
        tuple(lines),
        bool(len(xs)),
        bool(len(fail_index)),
        has_markers,
        int(shown.sum()) > DENSE_POINTS,
    )
    return PlotData(sources, layout, lines)


def _marker_data(
    columns: SeriesColumns, shown: np.ndarray, markers: Sequence[Marker]
) -> dict[str, Any]:
    """Where each marker's first bad job is drawn: its point, if shown."""
    position = {int(j): i for i, j in enumerate(columns.job_ids) if shown[i]}
    rows = [(position[m.job_id], m) for m in markers if m.job_id in position]
    return {
        "x": [columns.xs[i] for i, _ in rows],
        "value": [columns.values[i] for i, _ in rows],
        "id": [m.id for _, m in rows],
        "label": [m.label for _, m in rows],
        "colour": [MARKER_COLOURS.get(m.kind, MARKER_COLOURS["regression"]) for _, m in rows],
    }


def series_plot(
    df: pd.DataFrame,
    *,
    x: Literal["time", "commit"] = "time",
    thresholds: Sequence[Threshold] = (),
    branches: Sequence[str] | None = None,
    main: str = "main",
    unit: str | None = None,
    title: str | None = None,
    y_label: str | None = None,
    job_url: str | None = "/jobs/@job_id",
    height: int = 380,
    markers: Sequence[Marker] = (),
) -> figure:
    """A metric's history: the main line and branches, thresholds and failing points.

    With more than `DENSE_POINTS` points the lines carry the hover and the click, and
    the markers (each point, the failing circles) show once zooming brings at most that
    many into view; the legend's "fails a threshold" entry shows them at any zoom.

    Parameters
    ----------
    df
        One row per measurement, in job order, with columns ``value`` (NaN allowed),
        ``time`` and ``branch``, and optionally ``job_id``, ``commit_sha``,
        ``pull_request`` and ``packages_changed`` (shown on hover). This is what
        `vigil.client.Client.series` returns.
    x
        ``time`` (the job's date) or ``commit`` (the jobs' order, ticks labelled with
        commits).
    thresholds
        Lines to draw, in the values' unit; a point failing any of them is circled red.
    branches
        The lines to draw, in legend order; default every branch in *df*, *main* first.
        Jobs without a branch are the `NO_BRANCH` line.
    main
        The main line's branch name: drawn darker, first in the legend.
    unit
        The values' unit, for the axis and threshold labels.
    title, y_label
        The figure's title and y axis label.
    job_url
        Where a click on a point leads (``@job_id`` is replaced); None disables it.
    height
        Height in pixels; the width follows the page.
    markers
        Regressions, improvements and failing specifications to mark at their jobs.
    """
    data = series_data(
        df, x=x, thresholds=thresholds, branches=branches, main=main, markers=markers
    )
    return series_figure(
        data, unit=unit, title=title, y_label=y_label, job_url=job_url, height=height
    )


def series_figure(
    data: PlotData,
    *,
    unit: str | None = None,
    title: str | None = None,
    y_label: str | None = None,
    job_url: str | None = "/jobs/@job_id",
    height: int = 380,
    marker_url: str = "/regressions/@id",
    hint: str | None = None,
) -> figure:
    """The figure of `series_plot` from its `series_data`.

    *hint* is a last line of each point's hover (the metric page's `HOVER_HINT`, which
    tells how to select a point); a click on a marker opens *marker_url* (``@id``).
    """
    _, x, drawn, lines, has_points, has_failing, has_markers, dense = data.layout
    fig = base_figure(
        height=height,
        title=title,
        x_axis_type="datetime" if x == "time" else "linear",
        x_axis_label="time" if x == "time" else "commit order",
        y_axis_label=y_label or (unit or "value"),
    )
    if x == "time":
        # A lone point (or points of one instant) spans two days, not two milliseconds.
        fig.x_range.default_span = 2 * _DAY_MS
        fig.xaxis.formatter = DatetimeTickFormatter(
            hours="%H:%M",
            hourmin="%H:%M",
            minutes="%H:%M",
            minsec="%H:%M:%S",
            seconds="%H:%M:%S",
            milliseconds="%H:%M:%S.%3N",
            microseconds="%H:%M:%S.%3N",
        )
    clickable: list[DataRenderer] = []
    tappable: list[DataRenderer] = []
    sources = []
    items: list[LegendItem] = []
    # A canvas paints markers one by one, each costing about as much as a whole line:
    # thousands of markers, more than the plot has pixels across, would take most of a
    # second to show nothing a line does not. A dense plot hovers and clicks on its
    # lines, and shows markers once zoomed in (`_ZOOM_MARKERS`).
    zoom_only: list[tuple[DataRenderer | None, DataRenderer]] = []
    # Renderers are built from glyph models (add_glyph), not figure.line/scatter, which
    # would also build faded and muted copies of every glyph: on a page, building and
    # sending models costs more than the points themselves.
    for name, renderer_name, i, is_main in drawn:
        source = ColumnDataSource(data.sources[f"branch:{name}"], name=f"branch:{name}")
        sources.append(source)
        colour = MAIN_COLOUR if is_main else BRANCH_COLOURS[(i - 1) % len(BRANCH_COLOURS)]
        line = fig.add_glyph(
            source,
            Line(
                x="x",
                y="value",
                line_color=colour,
                line_width=1.8 if is_main else 1.4,
                line_alpha=0.9,
            ),
            # The renderer's name is the hover's "branch" ($name): a constant of the line
            # rather than a column of thousands of strings.
            name=renderer_name if dense else None,
        )
        points = fig.add_glyph(
            source,
            Scatter(
                x="x",
                y="value",
                size=5 if is_main else 6,
                fill_color=colour,
                line_color=colour,
                marker="circle" if is_main else "diamond",
            ),
            name=renderer_name,
            visible=not dense,
        )
        if dense:
            zoom_only.append((line, points))
        clickable.append(line if dense else points)
        items.append(LegendItem(label=name, renderers=[line, points]))
    failing = ColumnDataSource(data.sources["failing"], name="failing")
    failed = fig.add_glyph(
        failing,
        Scatter(x="x", y="value", size=10, fill_color=None, line_color=FAIL_COLOUR, line_width=2),
        name="failing",
        visible=not dense,
    )
    if dense:
        zoom_only.append((None, failed))
        fig.x_range.js_on_change(
            "end",
            CustomJS(
                args={
                    "x_range": fig.x_range,
                    "sources": sources,
                    "pairs": zoom_only,
                    "limit": DENSE_POINTS,
                },
                code=_ZOOM_MARKERS,
            ),
        )
    if has_failing:
        items.append(LegendItem(label="fails a threshold", renderers=[failed]))
    if has_markers:
        marked = fig.add_glyph(
            ColumnDataSource(data.sources["markers"], name="markers"),
            Scatter(
                x="x",
                y="value",
                size=16,
                marker="inverted_triangle",
                fill_color="colour",
                line_color="#222222",
                fill_alpha=0.85,
            ),
            name="markers",
        )
        items.append(LegendItem(label="regression / improvement", renderers=[marked]))
        fig.add_tools(HoverTool(renderers=[marked], tooltips=[("", "@label")]))
        tappable.append(marked)
    draw_thresholds(fig, lines, unit=unit)
    if lines and has_points:
        extent = ColumnDataSource(data.sources["threshold-extent"], name="threshold-extent")
        fig.add_glyph(extent, Scatter(x="x", y="y", size=0, fill_alpha=0, line_alpha=0))
    time = "@x" if x == "time" else "@time"
    fig.add_tools(
        HoverTool(
            renderers=clickable,
            tooltips=tooltips(time=time, hint=hint),
            formatters=formatters(time),
            # On a dense plot's lines: the point nearest the pointer.
            line_policy="nearest",
        )
    )
    if job_url:
        tappable.extend(clickable)
    if tappable:
        callback = CustomJS(
            args={
                "job_url": job_url or "",
                "marker_url": marker_url,
                "event_name": SELECT_POINT_EVENT,
            },
            code=_TAP,
        )
        fig.add_tools(TapTool(renderers=tappable, behavior="inspect", callback=callback))
    if x == "commit":
        fig.xaxis.formatter = CustomJSTickFormatter(args={"sources": sources}, code=_COMMIT_TICKS)
        fig.xaxis.major_label_orientation = 0.6
    items.extend(main_line_legend(fig, data.sources["expected"], any(d[3] for d in drawn)))
    _add_legend(fig, items)
    return cast("figure", fig)


def _add_legend(fig: figure, items: list[LegendItem]) -> None:
    if not items:
        return
    legend = Legend(
        items=items,
        click_policy="hide",
        label_text_font_size="12px",
        background_fill_alpha=0.85,
        border_line_color=None,
        spacing=0,
    )
    legend.padding = 4  # type: ignore[assignment]
    # Outside the frame, so that no entry hides the first or last points: a few entries
    # in a row above the plot, more in a column beside it.
    if len(items) > 4:
        fig.add_layout(legend, "right")
    else:
        legend.orientation = "horizontal"
        legend.location = "top_left"
        fig.add_layout(legend, "above")
