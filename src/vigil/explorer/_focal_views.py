"""The focal-plane view of a visit metric: every detector at its place in the focal plane,
coloured by the metric's value on it.

The layout is measured from the sources (`vigil.explorer._focal_plane`): each detector is
the median, over the visits shown, of the box of its sources in the gnomonic projection
about its visit's boresight. With a visit chosen the values are that visit's; without,
each detector's median over the visits of the metric (of its band). A tap on a detector
drills to it: in the chosen visit, or else in the visit where its value is the worst
(`vigil.explorer._focal_plane.worst_visit`).

Bokeh escapes the values it puts in a tooltip; the titles are plain text.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import holoviews as hv
import numpy as np
import pandas as pd
import panel as pn

from vigil.compute.errors import ComputeError
from vigil.compute.metric import AcceptableRange

from . import _focal_plane, _outlines
from ._metrics import MetricInfo
from ._panel import holoviews_pane, markdown, plain
from ._rollup import drill_levels
from ._views import robust_limits

if TYPE_CHECKING:
    from .query import Repository

__all__ = ["FOCAL_LABELS", "focal_frame", "focal_plot", "focal_view", "range_text"]

FOCAL_LABELS = 40
"""Detectors are labelled with their number on the plot when there are at most this many
(the hover always names them)."""

_OUTSIDE_COLOUR = "#000000"
"""The heavy outline of a detector whose value is outside the acceptable range."""

Drill = Callable[[Mapping[str, int]], None]


def range_text(acceptable: AcceptableRange | None) -> str:
    """``acceptable -1.5 to 1.5`` (``at least``/``at most`` for one bound); empty for None."""
    if acceptable is None or (acceptable.min is None and acceptable.max is None):
        return ""
    if acceptable.max is None:
        return f"acceptable at least {acceptable.min:g}"
    if acceptable.min is None:
        return f"acceptable at most {acceptable.max:g}"
    return f"acceptable {acceptable.min:g} to {acceptable.max:g}"


def focal_frame(
    values: pd.DataFrame, frames: pd.DataFrame, info: MetricInfo, visit: int | None
) -> pd.DataFrame:
    """Each detector's place in the focal plane and the value drawn on it.

    Parameters
    ----------
    values
        *info*'s aggregate per ``visit`` and ``detector`` (of the chosen visit only,
        or of every visit).
    frames
        The detectors' boxes in their visits' focal planes
        (`vigil.explorer._focal_plane.detector_frames`).
    info
        The metric.
    visit
        The chosen visit (its values and its boxes), or None: each detector's median
        value and median box over the visits of *values*.

    Returns
    -------
    pandas.DataFrame
        `vigil.explorer._focal_plane.LAYOUT_COLUMNS`, ``value`` (NaN where the
        detector has none), ``count`` (its sources), ``status`` (``ok``, ``outside``,
        ``no range`` or ``no value``), by detector.
    """
    if visit is not None:
        values = values[values["visit"] == visit]
    visits = sorted(int(v) for v in values["visit"].unique())
    places = _focal_plane.layout(frames, visits)
    if visit is not None:
        numbers = values[["detector", "value", "count"]]
    else:
        numbers = _focal_plane.detector_medians(values)[["detector", "value", "count"]]
    numbers = numbers.assign(
        detector=numbers["detector"].astype("int64"),
        value=pd.to_numeric(numbers["value"], errors="coerce").astype("float64"),
    )
    out = places.assign(detector=places["detector"].astype("int64")).merge(
        numbers, on="detector", how="left"
    )
    out["count"] = out["count"].fillna(0).astype("int64")
    out["status"] = [_status(info.acceptable, v) for v in out["value"]]
    return out


def _status(acceptable: AcceptableRange | None, value: float) -> str:
    if not np.isfinite(value):
        return "no value"
    if acceptable is None:
        return "no range"
    return "ok" if acceptable.contains(float(value)) else "outside"


def focal_plot(
    frame: pd.DataFrame,
    title: str,
    clabel: str,
    on_tap: Callable[[pd.Series], None] | None = None,
) -> hv.Overlay:
    """The detectors of *frame* (`focal_frame`) as boxes coloured by ``value``.

    The colours span the 1st to 99th percentiles of the values; a detector outside the
    acceptable range has a heavy black outline; the hover names the detector, its
    value, sources and status; with at most `FOCAL_LABELS` detectors each carries its
    number. A tap on a box calls *on_tap* with its row.
    """
    from bokeh.models import HoverTool

    shown = frame.assign(
        detector=frame["detector"].astype("int64"),
        value=frame["value"].astype("float64"),
    )
    limits = robust_limits(shown["value"])
    kdims = ["x_min", "y_min", "x_max", "y_max"]
    vdims = ["value", "detector", "count", "status", "visits"]
    tooltips = [
        ("detector", "@{detector}"),
        ("value", "@{value}{0.[0000]}"),
        ("sources", "@{count}"),
        ("status", "@{status}"),
        ("visits", "@{visits}"),
    ]
    boxes = hv.Rectangles(shown, kdims, vdims, label="detectors").opts(
        color="value",
        cmap="RdYlBu_r",
        colorbar=True,
        clabel=clabel,
        **({"clim": limits} if limits is not None else {}),
        line_color="#555555",
        line_width=0.5,
        nonselection_alpha=1.0,
        selection_alpha=1.0,
        tools=[HoverTool(tooltips=tooltips), "tap"],
    )
    outside = hv.Rectangles(shown[shown["status"] == "outside"], kdims, vdims).opts(
        fill_alpha=0.0,
        line_color=_OUTSIDE_COLOUR,
        line_width=2.5,
    )
    layers: list[Any] = [boxes, outside]
    if 0 < len(shown) <= FOCAL_LABELS:
        layers.append(
            hv.Labels(shown.assign(text=shown["detector"].astype(str)), ["x", "y"], "text").opts(
                text_font_size="8pt", text_color="#222222"
            )
        )
    if on_tap is not None:
        tap = hv.streams.Selection1D(source=boxes)

        def tapped(index: list[int]) -> None:
            if index:
                on_tap(shown.iloc[index[0]])

        tap.add_subscriber(tapped)
    return hv.Overlay(layers).opts(
        width=640,
        height=480,
        data_aspect=1,
        invert_xaxis=True,
        title=title,
        xlabel="focal plane x (deg, east)",
        ylabel="focal plane y (deg, north)",
        show_legend=False,
    )


def focal_view(
    repo: Repository, info: MetricInfo | None, visit: int | None, drill: Drill
) -> pn.viewable.Viewable:
    """The focal-plane view of *info* (a visit metric) for *visit*, or over its visits.

    A tap on a detector calls *drill* with its visit and detector. Other metrics get an
    empty pane; a metric without per-detector values, or sources without positions, a
    line saying so.
    """
    if info is None or info.table != "sources":
        return markdown("", name="focal-plane")
    name = plain(info.name)
    if ("visit", "detector") not in drill_levels(info):
        return markdown(f"*{name} has no per-detector values to put on the focal plane.*")
    where = {"visit": visit} if visit is not None else None
    try:
        values = repo.aggregate(info.name, ["visit", "detector"], where)
        frames = _outlines.focal_frames(repo)
    except ComputeError as exc:
        return markdown(f"*No focal plane: {plain(exc)}*", name="focal-plane")
    frame = focal_frame(values, frames, info, visit)
    if frame.empty:
        return markdown(f"*No detector of {name} has a position.*", name="focal-plane")
    if visit is not None:
        title = f"{info.name} per detector, visit {visit}"
    else:
        band = f" in {info.band}" if info.band else ""
        visits = values["visit"].nunique()
        title = f"{info.name}: median per detector over the {visits} visits{band}"
    clabel = "; ".join(part for part in (info.name, range_text(info.acceptable)) if part)

    def on_tap(row: pd.Series) -> None:
        detector = int(row["detector"])
        chosen = visit
        if chosen is None:
            chosen = _focal_plane.worst_visit(values, detector, info.acceptable)
        if chosen is not None:
            drill({"visit": chosen, "detector": detector})

    outside = int((frame["status"] == "outside").sum())
    notes = [f"**Focal plane**: {len(frame)} detectors"]
    if info.acceptable is not None:
        notes.append(f"{outside} outside the range (heavy outline)")
    hint = "tap one to open it" + ("" if visit is not None else " in its worst visit")
    text = ", ".join(notes) + f"; {hint}."
    return pn.Column(
        markdown(text, name="focal-title"),
        holoviews_pane(focal_plot(frame, title, clabel, on_tap), name="focal-plane"),
    )
