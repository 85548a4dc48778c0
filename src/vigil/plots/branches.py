"""One metric by branch: a box of each branch's last values, and the points."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, cast

import numpy as np
from bokeh.models import (
    ColumnDataSource,
    CustomJSHover,
    FactorRange,
    HoverTool,
    OpenURL,
    Scatter,
    Segment,
    TapTool,
    VBar,
)
from bokeh.transform import jitter

from ._columns import (
    SIGNIFICANT,
    PlotData,
    SeriesColumns,
    branch_labels,
    branch_order,
    formatters,
    tooltips,
)
from ._style import (
    FAIL_COLOUR,
    MAIN_COLOUR,
    Threshold,
    base_figure,
    draw_thresholds,
    failing_mask,
    merge_thresholds,
)

if TYPE_CHECKING:
    import pandas as pd
    from bokeh.plotting import figure

__all__ = ["BASELINE_COLOUR", "branch_data", "branch_figure", "branch_plot", "same_period"]


BASELINE_COLOUR = "#eceff3"
"""Fill of the box of the main line over a branch's period."""
_BRANCH_FILL = "#dbe4f7"


def same_period(
    main: np.ndarray, times: np.ndarray, start: float, end: float, last: int
) -> np.ndarray:
    """The points of *main* (indices into *times*, in job order) to compare with a
    branch whose points span *start* to *end*: those in that period; when fewer than
    three (or *last*) ran then, the last *last* main-line points up to *end* (the main
    line as the branch knew it), else its first *last* points."""
    on_main = times[main]
    inside = main[(on_main >= start) & (on_main <= end)]
    if len(inside) >= min(last, 3):
        return cast(np.ndarray, inside)
    before = main[on_main <= end][-last:]
    return cast(np.ndarray, before if len(before) else main[:last])


def branch_data(
    df: pd.DataFrame,
    *,
    last: int = 10,
    thresholds: Sequence[Threshold] = (),
    branches: Sequence[str] | None = None,
    main: str = "main",
) -> PlotData:
    """The sources and layout of `branch_plot` (see there for the parameters).

    Each branch's last *last* points stand beside the main line's points of the same
    period (`same_period`), the factor ``main (branch)``: a branch run in June is
    compared with the main line of June, not with today's. The factor *main* holds the
    main line's last *last* points.
    """
    columns = SeriesColumns(df, "time")
    values = columns.values
    labels = branch_labels(df)
    names = list(branches) if branches is not None else branch_order(list(labels), main)
    lines = merge_thresholds(thresholds)
    main_index = np.flatnonzero(labels == main)
    # (factor, points, hover label, whether it is the main line over a branch's period)
    groups: list[tuple[str, np.ndarray, str, bool]] = []
    for name in names:
        index = np.flatnonzero(labels == name)[-last:] if last > 0 else np.zeros(0, dtype=int)
        if len(index) == 0:
            continue
        if name == main:
            groups.append((name, index, name, False))
            continue
        groups.append((name, index, name, False))
        start, end = columns.times[index[0]], columns.times[index[-1]]
        baseline = same_period(main_index, columns.times, start, end, last)
        if len(baseline):
            factor = f"{main} ({name})"
            groups.append((factor, baseline, f"{main} over the period of {name}", True))
    factors = [factor for factor, _, _, _ in groups]
    keys = ("branch", "label", "q1", "q2", "q3", "lo", "hi", "n", "fill")
    boxes: dict[str, list[Any]] = {k: [] for k in keys}
    for factor, index, label, is_baseline in groups:
        finite = values[index][~np.isnan(values[index])]
        if len(finite) == 0:
            continue
        q1, q2, q3 = (float(q) for q in np.percentile(finite, [25, 50, 75]))
        boxes["branch"].append(factor)
        boxes["label"].append(label)
        boxes["q1"].append(q1)
        boxes["q2"].append(q2)
        boxes["q3"].append(q3)
        boxes["lo"].append(float(finite.min()))
        boxes["hi"].append(float(finite.max()))
        boxes["n"].append(len(finite))
        boxes["fill"].append(BASELINE_COLOUR if is_baseline else _BRANCH_FILL)
    # The main line's points over a branch's period stand as a box only: they are points
    # of the main line, drawn once (in its own group and over time).
    drawn = [(factor, i, line) for factor, i, line, is_baseline in groups if not is_baseline]
    index = np.concatenate([i for _, i, _ in drawn]) if drawn else np.zeros(0, dtype=int)
    points = columns.data(index)
    points["time"] = columns.times[index]
    points["x"] = [factor for factor, i, _ in drawn for _ in range(len(i))]
    points["line"] = [line for _, i, line in drawn for _ in range(len(i))]
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
    """Branches side by side: a box of the last *last* values of each beside a box of
    the main line over the same period, and the points.

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
        x_axis_label=f"branch: its last {last} jobs, and the main line over their period",
        y_axis_label=y_label or (unit or "value"),
    )
    box_source = ColumnDataSource(data.sources["boxes"], name="boxes")
    fig.add_glyph(
        box_source, Segment(x0="branch", y0="lo", x1="branch", y1="hi", line_color="#8a93a3")
    )
    bars = fig.add_glyph(
        box_source,
        VBar(
            x="branch",
            top="q3",
            bottom="q1",
            width=0.55,
            fill_color="fill",
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
    box_tips = [("", "@label"), ("median", "@q2{significant}"), ("jobs", "@n")]
    fig.add_tools(
        HoverTool(
            renderers=[bars], tooltips=box_tips, formatters={"@q2": CustomJSHover(code=SIGNIFICANT)}
        )
    )
    tips = tooltips(branch="@line")
    fig.add_tools(HoverTool(renderers=[renderer], tooltips=tips, formatters=formatters()))
    if job_url:
        fig.add_tools(TapTool(renderers=[renderer], callback=OpenURL(url=job_url, same_tab=True)))
    fig.xgrid.grid_line_color = None
    if len(factors) > 4:
        fig.xaxis.major_label_orientation = 0.5
    return cast("figure", fig)
