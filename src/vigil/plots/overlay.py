"""Several series of one metric on one plot: bands, patches, datasets, each its own line.

Each line has a legend entry (a click hides it) and, behind it, its expected range
(`vigil.plots._band`): a robust centre and spread of the line's recent main-line values.
Lines share the x axis by time, or by commit order: every job of every line takes one
position, in job order, so that values measured by one job line up.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, cast

import numpy as np
from bokeh.models import (
    ColumnDataSource,
    CustomJSTickFormatter,
    HoverTool,
    Line,
    OpenURL,
    Scatter,
    TapTool,
)
from bokeh.models.annotations import Legend, LegendItem
from bokeh.models.renderers import DataRenderer, GlyphRenderer

from ._band import (
    EXPECTED_WIDTH,
    EXPECTED_WINDOW,
    ExpectedRange,
    band_source,
    draw_band,
    expected_range,
)
from ._columns import PlotData, SeriesColumns, branch_labels, formatters, tooltips
from ._style import BRANCH_COLOURS, MAIN_COLOUR, base_figure

if TYPE_CHECKING:
    import pandas as pd
    from bokeh.plotting import figure

__all__ = [
    "EXPECTED_WIDTH",
    "EXPECTED_WINDOW",
    "OVERLAY_COLOURS",
    "ExpectedRange",
    "expected_range",
    "overlay_data",
    "overlay_figure",
    "overlay_plot",
]

OVERLAY_COLOURS = (MAIN_COLOUR, *BRANCH_COLOURS)
"""The lines' colours, in legend order: an overlay draws at most this many lines."""

_DENSE_POINTS = 2_000
# More points than this in all (about the plot's width in pixels): lines only, which
# carry the hover and the click.

# Commit order: a tick at position i shows the commit of the i-th job of the plot.
_COMMIT_TICKS = """
const i = Math.round(tick)
const commits = source.data.commit
if (i !== tick || i < 0 || i >= commits.length) return ""
const c = commits[i]
return c < 0 ? "" : c.toString(16).padStart(8, "0").slice(0, 7)
"""


def overlay_data(
    frames: Mapping[str, pd.DataFrame],
    *,
    x: Literal["time", "commit"] = "time",
    main: str = "main",
    window: int = EXPECTED_WINDOW,
    width: float = EXPECTED_WIDTH,
) -> PlotData:
    """The sources and layout of `overlay_plot` (see there for the parameters)."""
    if x not in ("time", "commit"):
        raise ValueError(f"x must be 'time' or 'commit', not {x!r}")
    if len(frames) > len(OVERLAY_COLOURS):
        raise ValueError(
            f"an overlay draws at most {len(OVERLAY_COLOURS)} lines, not {len(frames)}"
        )
    columns = {label: SeriesColumns(df, "time") for label, df in frames.items()}
    order = _job_order(frames, columns) if x == "commit" else None
    sources: dict[str, dict[str, Any]] = {}
    xs_of: dict[str, np.ndarray] = {}
    for i, (label, c) in enumerate(columns.items()):
        data = c.data(np.arange(len(c.values)))
        if order is not None:
            data["time"] = data["x"]
            data["x"] = order.positions[label]
        sources[f"line:{i}"] = data
        xs_of[label] = np.asarray(data["x"], dtype=float)
    every_x = np.concatenate(list(xs_of.values())) if xs_of else np.zeros(0)
    x_end = float(every_x.max()) if every_x.size else None
    for i, (label, df) in enumerate(frames.items()):
        # No window, no range: the band's source is then empty.
        on_main = (branch_labels(df) == main) & (window > 0)
        sources[f"band:{i}"] = band_source(
            xs_of[label][on_main],
            columns[label].values[on_main],
            x_end=x_end,
            window=max(window, 1),
            width=width,
        )
    if order is not None:
        sources["ticks"] = {
            "x": np.arange(len(order.commits), dtype=float),
            "commit": order.commits,
        }
    layout = ("overlay", x, tuple(frames), every_x.size > _DENSE_POINTS)
    return PlotData(sources, layout)


@dataclass(frozen=True, slots=True)
class _JobOrder:
    """Positions of the jobs of several lines on one commit-order axis, and the commit
    (`commit_numbers`) of each position."""

    positions: dict[str, np.ndarray]
    commits: np.ndarray


def _job_order(
    frames: Mapping[str, pd.DataFrame], columns: Mapping[str, SeriesColumns]
) -> _JobOrder:
    # Jobs are ordered by id (the order they arrived in, as on a single series' plot);
    # lines without job ids fall back to their times.
    by_id = all("job_id" in df for df in frames.values())
    keys = {label: (c.job_ids.astype(float) if by_id else c.times) for label, c in columns.items()}
    every = np.concatenate(list(keys.values())) if keys else np.zeros(0)
    unique, first = np.unique(every, return_index=True)
    commits = np.concatenate([c.commits for c in columns.values()]) if columns else np.zeros(0)
    positions = {label: np.searchsorted(unique, key).astype(float) for label, key in keys.items()}
    return _JobOrder(positions, commits[first])


def overlay_plot(
    frames: Mapping[str, pd.DataFrame],
    *,
    x: Literal["time", "commit"] = "time",
    main: str = "main",
    window: int = EXPECTED_WINDOW,
    width: float = EXPECTED_WIDTH,
    unit: str | None = None,
    title: str | None = None,
    y_label: str | None = None,
    job_url: str | None = "/jobs/@job_id",
    height: int = 420,
) -> figure:
    """Several series on one plot, each with its legend entry and its expected range.

    Parameters
    ----------
    frames
        The lines, by legend label, in legend order (at most `OVERLAY_COLOURS` of them):
        each a DataFrame as `vigil.plots.series_plot` takes (``value``, ``time``,
        optionally ``branch``, ``job_id``, ``commit_sha``, ``packages_changed``), rows
        in job order.
    x
        ``time`` (the jobs' dates) or ``commit`` (the jobs of all lines in job order,
        ticks labelled with commits).
    main
        The main line's branch: each line's expected range is that of its rows on it.
    window, width
        The expected range: how many recent main-line values it summarises, and its
        half height in spreads (`vigil.plots.overlay.expected_range`). A window of 0
        draws no range.
    unit, title, y_label, job_url, height
        As for `vigil.plots.series_plot`.
    """
    data = overlay_data(frames, x=x, main=main, window=window, width=width)
    return overlay_figure(
        data, unit=unit, title=title, y_label=y_label, job_url=job_url, height=height
    )


def overlay_figure(
    data: PlotData,
    *,
    unit: str | None = None,
    title: str | None = None,
    y_label: str | None = None,
    job_url: str | None = "/jobs/@job_id",
    height: int = 420,
) -> figure:
    """The figure of `overlay_plot` from its `overlay_data`."""
    _, x, labels, dense = data.layout
    fig = base_figure(
        height=height,
        title=title,
        x_axis_type="datetime" if x == "time" else "linear",
        x_axis_label="time" if x == "time" else "commit order",
        y_axis_label=y_label or (unit or "value"),
    )
    clickable: list[DataRenderer] = []
    items: list[LegendItem] = []
    for i, label in enumerate(labels):
        colour = OVERLAY_COLOURS[i]
        band = draw_band(fig, data.sources[f"band:{i}"], colour, name=f"band:{i}")
        source = ColumnDataSource(data.sources[f"line:{i}"], name=f"line:{i}")
        line = fig.add_glyph(
            source,
            Line(x="x", y="value", line_color=colour, line_width=1.6, line_alpha=0.9),
            # The renderer's name is the hover's "series" ($name).
            name=label,
        )
        renderers: list[GlyphRenderer[Any]] = [*band, line]
        if not dense:
            points = fig.add_glyph(
                source,
                Scatter(
                    x="x",
                    y="value",
                    size=5,
                    fill_color=colour,
                    line_color=colour,
                    marker=("circle", "diamond", "square", "triangle")[i % 4],
                ),
                name=label,
            )
            renderers.append(points)
        clickable.append(renderers[-1])
        items.append(LegendItem(label=label, renderers=renderers))
    time = "@x" if x == "time" else "@time"
    tips = [("series", "$name") if k == "branch" else (k, v) for k, v in tooltips(time=time)]
    fig.add_tools(
        HoverTool(
            renderers=clickable, tooltips=tips, formatters=formatters(time), line_policy="nearest"
        )
    )
    if job_url:
        fig.add_tools(TapTool(renderers=clickable, callback=OpenURL(url=job_url, same_tab=True)))
    if x == "commit" and "ticks" in data.sources:
        ticks = ColumnDataSource(data.sources["ticks"], name="ticks")
        fig.xaxis.formatter = CustomJSTickFormatter(args={"source": ticks}, code=_COMMIT_TICKS)
        fig.xaxis.major_label_orientation = 0.6
    if items:
        legend = Legend(
            items=items,
            click_policy="hide",
            label_text_font_size="12px",
            background_fill_alpha=0.85,
            border_line_color=None,
            spacing=0,
        )
        legend.padding = 4  # type: ignore[assignment]
        fig.add_layout(legend, "right")
    return cast("figure", fig)
