"""Time series of one metric: main line and branches over time or commit order, and by branch."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from bokeh.models import (
    ColumnDataSource,
    CustomJS,
    CustomJSHover,
    CustomJSTickFormatter,
    FactorRange,
    HoverTool,
    Line,
    OpenURL,
    Scatter,
    Segment,
    TapTool,
    VBar,
)
from bokeh.models.annotations import Legend, LegendItem
from bokeh.models.renderers import DataRenderer
from bokeh.transform import jitter

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

if TYPE_CHECKING:
    import pandas as pd
    from bokeh.plotting import figure

__all__ = [
    "DENSE_POINTS",
    "NO_BRANCH",
    "PlotData",
    "branch_data",
    "branch_figure",
    "branch_order",
    "branch_plot",
    "series_data",
    "series_figure",
    "series_plot",
]

NO_BRANCH = "(no branch)"
"""The line of jobs that carry no branch."""

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

# Every column of the plotted sources is numeric, so that Bokeh sends it as one binary
# buffer: commits travel as the integer of their first 8 hex digits, shown by _HEX, in a
# float64 (exact for 32 bits): BokehJS has no int64 arrays, so Bokeh would send an int64
# column that does not fit int32 as a list, one JSON number per point.
_HEX = "return value < 0 ? '' : value.toString(16).padStart(8, '0')"
_COUNT = "return value < 0 ? 'unknown' : value.toString()"


def _tooltips(*, branch: str = "$name", time: str = "@time") -> list[tuple[str, str]]:
    return [
        ("job", "@job_id"),
        ("time", time + "{%F %H:%M}"),
        ("branch", branch),
        ("commit", "@commit{hex}"),
        ("value", "@value{0.[0000]}"),
        ("packages changed", "@changed{count}"),
    ]


def _formatters(time: str = "@time") -> dict[str, Any]:
    # Fresh models per figure: a Bokeh model belongs to one document only.
    return {
        time: "datetime",
        "@commit": CustomJSHover(code=_HEX),
        "@changed": CustomJSHover(code=_COUNT),
    }


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


def branch_order(branches: Sequence[Any], main: str = "main") -> list[str]:
    """Distinct branch names of *branches* (None as `NO_BRANCH`): *main* first, then by
    the position of their last point (most recent last)."""
    last: dict[str, int] = {}
    for i, b in enumerate(branches):
        last[NO_BRANCH if b is None or b != b else str(b)] = i
    others = sorted((b for b in last if b != main), key=last.__getitem__)
    return ([main] if main in last else []) + others


def _branch_labels(df: pd.DataFrame) -> np.ndarray:
    if "branch" not in df:
        return np.full(len(df), NO_BRANCH, dtype=object)
    return df["branch"].astype(object).where(df["branch"].notna(), NO_BRANCH).to_numpy()


def _time_ms(df: pd.DataFrame) -> np.ndarray:
    import pandas as pd

    if "time" not in df or len(df) == 0:
        return np.arange(len(df), dtype=float)
    times = pd.to_datetime(df["time"], utc=True)
    # Milliseconds since the epoch, what Bokeh's datetime axis reads.
    return times.dt.tz_localize(None).to_numpy(dtype="datetime64[ms]").astype(np.int64) / 1.0


_HEX_DIGITS = np.full(256, -1, dtype=np.int64)
for _i, _c in enumerate(b"0123456789abcdef"):
    _HEX_DIGITS[_c] = _i
for _i, _c in enumerate(b"ABCDEF"):
    _HEX_DIGITS[_c] = 10 + _i


def commit_numbers(commits: Any) -> np.ndarray:
    """Commits as the integer of their first 8 hex digits (as float64); -1 where unknown.

    Vectorised: one pass over a byte matrix.
    """
    text = ["" if not isinstance(c, str) else c[:8] for c in commits]
    raw = np.array(text, dtype="S8").view(np.uint8).reshape(len(text), 8) if text else None
    if raw is None:
        return np.zeros(0, dtype=float)
    digits = _HEX_DIGITS[raw]
    valid = (digits >= 0).all(axis=1)
    weights = 16 ** np.arange(7, -1, -1, dtype=np.int64)
    numbers = (np.where(digits < 0, 0, digits) * weights).sum(axis=1)
    return np.where(valid, numbers, -1).astype(float)


def _int_column(df: pd.DataFrame, name: str) -> np.ndarray:
    if name not in df:
        return np.full(len(df), -1, dtype=np.int64)
    values = df[name].to_numpy(dtype=float, na_value=np.nan)
    return np.where(np.isnan(values), -1, values).astype(np.int64)


def _common_pr(df: pd.DataFrame, index: np.ndarray) -> str:
    if "pull_request" not in df or len(index) == 0:
        return ""
    prs = df["pull_request"].iloc[index].dropna()
    return f"#{int(prs.mode().iloc[0])}" if len(prs) else ""


class _Columns:
    """The numeric columns of a series frame, computed once for every source."""

    def __init__(self, df: pd.DataFrame, x: str) -> None:
        self.values = df["value"].to_numpy(dtype=float) if "value" in df else np.zeros(0)
        self.times = _time_ms(df)
        self.xs = self.times if x == "time" else np.arange(len(df), dtype=float)
        self.job_ids = _int_column(df, "job_id").astype(np.int32)
        self.changed = _int_column(df, "packages_changed").astype(np.int32)
        self.commits = (
            commit_numbers(df["commit_sha"].to_numpy(dtype=object))
            if "commit_sha" in df
            else np.full(len(df), -1.0)
        )

    def data(self, index: np.ndarray) -> dict[str, Any]:
        data = {
            "x": self.xs[index],
            "value": self.values[index],
            "job_id": self.job_ids[index],
            "commit": self.commits[index],
            "changed": self.changed[index],
        }
        if self.xs is not self.times:
            data["time"] = self.times[index]
        return data


@dataclass(slots=True)
class PlotData:
    """What a figure draws, computed from a DataFrame.

    ``sources`` maps the name of each ColumnDataSource of the figure to its columns;
    ``layout`` is everything else the figure depends on (lines, colours, thresholds),
    hashable: two `PlotData` with one layout give figures that differ only in the
    sources' data. A page can therefore reuse a figure built once per layout.
    """

    sources: dict[str, dict[str, Any]]
    layout: tuple[Any, ...]
    thresholds: list[Threshold] = field(default_factory=list)


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
    columns = _Columns(df, x)
    labels = _branch_labels(df)
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
        pr = _common_pr(df, index)
        drawn.append((name, f"{name} ({pr})" if pr else name, i, name == main))
    fail_index = np.flatnonzero(failing_mask(columns.values, lines) & shown)
    sources["failing"] = columns.data(fail_index)
    xs = columns.xs[shown]
    sources["markers"] = _marker_data(columns, shown, markers)
    has_markers = bool(len(sources["markers"]["x"]))
    # An invisible point on each threshold lets the y range reach it.
    first = float(xs[0]) if len(xs) else 0.0
    sources["threshold-extent"] = {"x": [first] * len(lines), "y": [t.value for t in lines]}
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


def _marker_data(columns: _Columns, shown: np.ndarray, markers: Sequence[Marker]) -> dict[str, Any]:
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
) -> figure:
    """The figure of `series_plot` from its `series_data`."""
    _, x, drawn, lines, has_points, has_failing, has_markers, dense = data.layout
    fig = base_figure(
        height=height,
        title=title,
        x_axis_type="datetime" if x == "time" else "linear",
        x_axis_label="time" if x == "time" else "commit order",
        y_axis_label=y_label or (unit or "value"),
    )
    clickable: list[DataRenderer] = []
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
        fig.add_tools(
            HoverTool(renderers=[marked], tooltips=[("", "@label")]),
            TapTool(renderers=[marked], callback=OpenURL(url=marker_url, same_tab=True)),
        )
    draw_thresholds(fig, lines, unit=unit)
    if lines and has_points:
        extent = ColumnDataSource(data.sources["threshold-extent"], name="threshold-extent")
        fig.add_glyph(extent, Scatter(x="x", y="y", size=0, fill_alpha=0, line_alpha=0))
    time = "@x" if x == "time" else "@time"
    fig.add_tools(
        HoverTool(
            renderers=clickable,
            tooltips=_tooltips(time=time),
            formatters=_formatters(time),
            # On a dense plot's lines: the point nearest the pointer.
            line_policy="nearest",
        )
    )
    if job_url:
        fig.add_tools(TapTool(renderers=clickable, callback=OpenURL(url=job_url, same_tab=True)))
    if x == "commit":
        fig.xaxis.formatter = CustomJSTickFormatter(args={"sources": sources}, code=_COMMIT_TICKS)
        fig.xaxis.major_label_orientation = 0.6
    _add_legend(fig, items)
    return fig


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


def branch_data(
    df: pd.DataFrame,
    *,
    last: int = 10,
    thresholds: Sequence[Threshold] = (),
    branches: Sequence[str] | None = None,
    main: str = "main",
) -> PlotData:
    """The sources and layout of `branch_plot` (see there for the parameters)."""
    columns = _Columns(df, "time")
    values = columns.values
    labels = _branch_labels(df)
    names = list(branches) if branches is not None else branch_order(list(labels), main)
    lines = merge_thresholds(thresholds)
    picked: list[np.ndarray] = []
    factors: list[str] = []
    boxes: dict[str, list[Any]] = {k: [] for k in ("branch", "q1", "q2", "q3", "lo", "hi", "n")}
    for name in names:
        index = np.flatnonzero(labels == name)[-last:] if last > 0 else np.zeros(0, dtype=int)
        if len(index) == 0:
            continue
        picked.append(index)
        factors.append(name)
        finite = values[index][~np.isnan(values[index])]
        if len(finite) == 0:
            continue
        q1, q2, q3 = (float(q) for q in np.percentile(finite, [25, 50, 75]))
        boxes["branch"].append(name)
        boxes["q1"].append(q1)
        boxes["q2"].append(q2)
        boxes["q3"].append(q3)
        boxes["lo"].append(float(finite.min()))
        boxes["hi"].append(float(finite.max()))
        boxes["n"].append(len(finite))
    index = np.concatenate(picked) if picked else np.zeros(0, dtype=int)
    points = columns.data(index)
    points["time"] = columns.times[index]
    points["x"] = list(labels[index])
    points["colour"] = np.where(failing_mask(values[index], lines), FAIL_COLOUR, MAIN_COLOUR)
    sources = {
        "boxes": boxes,
        "points": points,
        "threshold-extent": {
            "x": [factors[0]] * len(lines) if factors else [],
            "y": [t.value for t in lines] if factors else [],
        },
    }
    return PlotData(sources, ("branch", last, tuple(factors), tuple(lines)), lines)


def branch_plot(
    df: pd.DataFrame,
    *,
    last: int = 10,
    thresholds: Sequence[Threshold] = (),
    branches: Sequence[str] | None = None,
    main: str = "main",
    unit: str | None = None,
    title: str | None = None,
    y_label: str | None = None,
    job_url: str | None = "/jobs/@job_id",
    height: int = 380,
) -> figure:
    """Branches side by side: a box of the last *last* values of each, and the points.

    Parameters
    ----------
    df
        As for `series_plot`; rows in job order.
    last
        How many of each branch's most recent points to show.
    thresholds, branches, main, unit, title, y_label, job_url, height
        As for `series_plot`. Failing points are red.
    """
    data = branch_data(df, last=last, thresholds=thresholds, branches=branches, main=main)
    return branch_figure(
        data, unit=unit, title=title, y_label=y_label, job_url=job_url, height=height
    )


def branch_figure(
    data: PlotData,
    *,
    unit: str | None = None,
    title: str | None = None,
    y_label: str | None = None,
    job_url: str | None = "/jobs/@job_id",
    height: int = 380,
) -> figure:
    """The figure of `branch_plot` from its `branch_data`."""
    _, last, factors, lines = data.layout
    fig = base_figure(
        height=height,
        title=title,
        x_range=FactorRange(factors=list(factors)),
        x_axis_label=f"branch (last {last} jobs each)",
        y_axis_label=y_label or (unit or "value"),
    )
    box_source = ColumnDataSource(data.sources["boxes"], name="boxes")
    fig.add_glyph(
        box_source, Segment(x0="branch", y0="lo", x1="branch", y1="hi", line_color="#8a93a3")
    )
    fig.add_glyph(
        box_source,
        VBar(
            x="branch",
            top="q3",
            bottom="q1",
            width=0.55,
            fill_color="#dbe4f7",
            line_color="#6d7fa8",
        ),
    )
    fig.add_glyph(
        box_source,
        Scatter(x="branch", y="q2", marker="dash", size=34, line_color=MAIN_COLOUR),
    )
    points = ColumnDataSource(data.sources["points"], name="points")
    renderer = fig.add_glyph(
        points,
        Scatter(
            x=jitter("x", width=0.3, range=fig.x_range),
            y="value",
            size=6,
            fill_color="colour",
            line_color="colour",
            fill_alpha=0.75,
            line_alpha=0.75,
        ),
    )
    draw_thresholds(fig, lines, unit=unit)
    if factors and lines:
        extent = ColumnDataSource(data.sources["threshold-extent"], name="threshold-extent")
        fig.add_glyph(extent, Scatter(x="x", y="y", size=0, fill_alpha=0, line_alpha=0))
    tips = _tooltips(branch="@x")
    fig.add_tools(HoverTool(renderers=[renderer], tooltips=tips, formatters=_formatters()))
    if job_url:
        fig.add_tools(TapTool(renderers=[renderer], callback=OpenURL(url=job_url, same_tab=True)))
    fig.xgrid.grid_line_color = None
    if len(factors) > 4:
        fig.xaxis.major_label_orientation = 0.5
    return fig
