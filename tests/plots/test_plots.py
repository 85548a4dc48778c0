"""`vigil.plots`: figures built from DataFrames and arrays, as in a notebook."""

from __future__ import annotations

import math
from typing import Any, TypeVar

import numpy as np
import pandas as pd
import pytest
from bokeh.embed import json_item
from bokeh.models import ColumnDataSource, CustomJS, FactorRange, HoverTool, TapTool
from bokeh.models.annotations import Span
from bokeh.models.renderers import GlyphRenderer

from vigil import plots
from vigil.plots._style import FAIL_COLOUR

T = TypeVar("T")


def frame(values: list[float], branches: list[str | None] | None = None) -> pd.DataFrame:
    n = len(values)
    return pd.DataFrame(
        {
            "job_id": np.arange(1, n + 1),
            "time": pd.date_range("2026-01-01", periods=n, freq="D", tz="UTC"),
            "value": values,
            "branch": branches or ["main"] * n,
            "commit_sha": [f"{i:040x}" for i in range(n)],
            "pull_request": pd.array([None] * n, dtype="Int64"),
            "packages_changed": pd.array([i % 3 for i in range(n)], dtype="Int64"),
        }
    )


def one(fig: Any, kind: type[T], name: str | None = None) -> T:
    """The model of type *kind* (and name *name*) in *fig*."""
    query: dict[str, Any] = {"type": kind} if name is None else {"type": kind, "name": name}
    found = fig.select_one(query)
    assert isinstance(found, kind), (kind, name)
    return found


def source(fig: Any, name: str) -> ColumnDataSource:
    return one(fig, ColumnDataSource, name)


def test_series_plot_draws_thresholds_and_circles_failures() -> None:
    df = frame([4.0, 4.5, 5.5, 6.0, float("nan"), 4.2])
    fig = plots.series_plot(
        df, thresholds=[plots.Threshold("design", 5.0, "<=", "design")], unit="mmag"
    )
    spans = [s for s in fig.center if isinstance(s, Span)]
    assert [(s.location, s.tags) for s in spans] == [(5.0, ["design", "<=", 5.0])]
    failing = source(fig, "failing")
    assert list(failing.data["value"]) == [5.5, 6.0]  # NaN never fails
    assert list(failing.data["job_id"]) == [3, 4]
    main = source(fig, "branch:main")
    assert len(main.data["value"]) == 6
    # Sent as binary arrays, not lists of Python objects.
    assert all(isinstance(v, np.ndarray) for v in main.data.values())
    tap = one(fig, TapTool)
    assert isinstance(tap.callback, CustomJS) and tap.callback.args["job_url"] == "/jobs/@job_id"
    item = json_item(fig)
    assert item["doc"]["roots"]


def test_threshold_semantics_follow_the_operator() -> None:
    values = np.array([1.0, 5.0, 9.0, math.nan])
    assert list(plots.Threshold("t", 5.0, "<=").fails(values)) == [False, False, True, False]
    assert list(plots.Threshold("t", 5.0, ">").fails(values)) == [True, True, False, False]
    merged = plots.merge_thresholds(
        [plots.Threshold("a", 5.0), plots.Threshold("b", 5.0), plots.Threshold("c", 3.0)]
    )
    assert [(t.name, t.value) for t in merged] == [("c", 3.0), ("a, b", 5.0)]


def test_branches_overlay_and_commit_order() -> None:
    df = frame([1.0, 2.0, 3.0, 4.0, 5.0], ["main", "main", "feature", None, "main"])
    fig = plots.series_plot(df, x="commit")
    assert list(source(fig, "branch:main").data["x"]) == [0.0, 1.0, 4.0]
    assert list(source(fig, "branch:feature").data["x"]) == [2.0]
    assert list(source(fig, f"branch:{plots.NO_BRANCH}").data["x"]) == [3.0]
    assert plots.branch_order(["a", "main", "b", "a"], "main") == ["main", "b", "a"]
    only = plots.series_plot(df, branches=["feature"])
    assert only.select_one({"type": ColumnDataSource, "name": "branch:main"}) is None
    # The branch (with its PR) is the renderer's name, shown by the hover as $name.
    hover = one(fig, HoverTool)
    assert isinstance(hover.tooltips, list) and ("branch", "$name") in hover.tooltips


@pytest.mark.parametrize("values", [[], [float("nan")] * 3, [7.0]])
def test_degenerate_series_still_make_a_figure(values: list[float]) -> None:
    fig = plots.series_plot(frame(values), thresholds=[plots.Threshold("d", 5.0)])
    assert json_item(fig)["doc"]["roots"]
    assert json_item(plots.branch_plot(frame(values)))["doc"]["roots"]


def test_branch_plot_boxes_the_last_points_of_each_branch() -> None:
    df = frame([1.0, 2.0, 3.0, 10.0, 11.0, 4.0], ["main", "main", "main", "b", "b", "main"])
    fig = plots.branch_plot(df, last=2, thresholds=[plots.Threshold("t", 9.0)])
    boxes = source(fig, "boxes")
    # b ran after main's third job: beside it, the main line up to then (2 and 3).
    assert boxes.data["branch"] == ["main", "b", "main (b)"]
    assert boxes.data["q2"] == [3.5, 10.5, 2.5]  # main's last two: 3 and 4
    points = source(fig, "points")
    assert sorted(points.data["value"]) == [3.0, 4.0, 10.0, 11.0]  # main's, once
    assert list(points.data["colour"]).count(FAIL_COLOUR) == 2


def test_blob_plot_scatter_and_histogram() -> None:
    data = {
        "mag": {"value": [17.0, 18.0, 19.0], "unit": "mag", "label": "Magnitude"},
        "rms": {"value": [3.0, 4.0, None], "unit": "mmag", "label": "RMS"},
        "annulus": {"value": [4.0, 6.0], "unit": "arcmin"},
        "D": {"value": 5.0, "unit": "arcmin"},
    }
    assert set(plots.blob_arrays(data)) == {"mag", "rms", "annulus"}
    assert plots.default_axes(plots.blob_arrays(data)) == ("mag", "rms")
    scatter = plots.blob_plot(data)
    assert scatter.xaxis[0].axis_label == "Magnitude [mag]"
    hist = plots.blob_plot(data, x="annulus")
    counts = source(hist, "blob").data["count"]
    assert int(np.sum(counts)) == 2
    with pytest.raises(ValueError, match="one length"):
        plots.blob_plot(data, x="mag", y="annulus")
    with pytest.raises(ValueError, match="not a numeric array"):
        plots.blob_plot(data, x="D")
    with pytest.raises(ValueError, match="no numeric array"):
        plots.blob_plot({"D": 5.0})


def test_dataid_grid_colours_against_the_threshold() -> None:
    ids = [{"tract": 1, "patch": p, "band": "r"} for p in range(4)]
    assert plots.grid_axes(ids) == ("tract", "patch")
    assert plots.grid_axes([{"visit": v, "detector": d} for v in (1, 2) for d in (3, 4)]) == (
        "visit",
        "detector",
    )
    assert plots.grid_axes([{"blend": "a"}, {"blend": "b"}]) == (None, "blend")
    assert plots.grid_axes([{"band": "r"}]) == (None, None)
    df = pd.DataFrame({"tract": [1] * 4, "patch": [0, 1, 2, 10], "value": [1.0, 2.0, 9.0, 3.0]})
    fig = plots.dataid_grid(df, row="tract", col="patch", threshold=plots.Threshold("d", 5.0))
    cells = source(fig, "cells")
    assert cells.data["col"] == ["0", "1", "2", "10"]
    assert isinstance(fig.x_range, FactorRange)
    assert fig.x_range.factors == ["0", "1", "2", "10"]  # numeric order, not text order
    renderer = next(r for r in fig.renderers if isinstance(r, GlyphRenderer))
    mapper = renderer.glyph.fill_color["transform"]
    # Centred on the threshold, red (the palette's end) above it for "<=".
    assert mapper.low + mapper.high == pytest.approx(10.0)
    assert mapper.palette[-1] == "#67001f"


def test_dense_series_hover_and_click_on_lines_and_show_markers_when_zoomed() -> None:
    n = plots.DENSE_POINTS + 1
    df = frame([float(i % 7) for i in range(n)])
    fig = plots.series_plot(df, thresholds=[plots.Threshold("design", 5.0, "<=", "design")])
    renderers = {
        type(r.glyph).__name__: r
        for r in fig.renderers
        if isinstance(r, GlyphRenderer) and r.name == "main"
    }
    line, points = renderers["Line"], renderers["Scatter"]
    failing = one(fig, GlyphRenderer, "failing")
    # Markers wait for a zoom; the line carries the hover and the click to the job.
    assert not points.visible and not failing.visible and line.visible
    assert one(fig, HoverTool).renderers == [line]
    assert one(fig, TapTool).renderers == [line]
    (callback,) = fig.x_range.js_property_callbacks["change:end"]
    assert isinstance(callback, CustomJS)
    assert callback.args["limit"] == plots.DENSE_POINTS
    assert callback.args["pairs"] == [(line, points), (None, failing)]
    # Commits travel as float64, which BokehJS receives as one binary array.
    commits = source(fig, "branch:main").data["commit"]
    assert isinstance(commits, np.ndarray) and commits.dtype == np.float64

    sparse = plots.series_plot(frame([1.0, 2.0, 3.0]))
    marks = [r for r in sparse.renderers if r.name == "main"]
    assert all(r.visible for r in marks)
    hovered = one(sparse, HoverTool).renderers
    assert isinstance(hovered, list)
    assert [type(r).__name__ for r in hovered] == ["GlyphRenderer"]
    assert [type(r.glyph).__name__ for r in hovered if isinstance(r, GlyphRenderer)] == ["Scatter"]
