"""`vigil.plots.overlay`: several series on one plot, each with a legend entry and a band."""

from __future__ import annotations

from typing import Any, TypeVar

import numpy as np
import pandas as pd
import pytest
from bokeh.embed import json_item
from bokeh.models import (
    ColumnDataSource,
    CustomJSTickFormatter,
    HoverTool,
    OpenURL,
    Quad,
    TapTool,
)
from bokeh.models.annotations import Legend

from vigil.plots.overlay import (
    OVERLAY_COLOURS,
    expected_range,
    overlay_data,
    overlay_figure,
    overlay_plot,
)


def frame(
    values: list[float], job_ids: list[int], branches: list[str] | None = None
) -> pd.DataFrame:
    n = len(values)
    return pd.DataFrame(
        {
            "job_id": job_ids,
            "time": pd.Timestamp("2025-12-31", tz="UTC") + pd.to_timedelta(job_ids, unit="D"),
            "value": values,
            "branch": branches or ["main"] * n,
            "commit_sha": [f"{j:08x}" + "0" * 32 for j in job_ids],
            "pull_request": pd.array([None] * n, dtype="Int64"),
            "packages_changed": pd.array([None] * n, dtype="Int64"),
        }
    )


BANDS = {
    "g": frame([10.0, 11.0, 10.5, 10.2], [1, 2, 3, 4]),
    "r": frame([7.0, 7.5, 7.2], [2, 3, 5]),
    "i": frame([5.0, 5.0, 5.0, 5.0], [1, 3, 4, 5]),
}


T = TypeVar("T")


def one(fig: Any, kind: type[T], name: str | None = None) -> T:
    """The model of type *kind* (and name *name*) in *fig*."""
    query: dict[str, Any] = {"type": kind} if name is None else {"type": kind, "name": name}
    found = fig.select_one(query)
    assert isinstance(found, kind), (kind, name)
    return found


def source(fig: Any, name: str) -> dict[str, Any]:
    data: dict[str, Any] = one(fig, ColumnDataSource, name).data
    return data


def legend_labels(fig: Any) -> list[Any]:
    legend: Any = one(fig, Legend)
    return [item.label.value for item in legend.items]


def test_one_legend_entry_per_line_holding_its_band() -> None:
    fig = overlay_plot(BANDS)
    legend: Any = one(fig, Legend)
    assert legend_labels(fig) == ["g", "r", "i"]
    assert legend.click_policy == "hide"
    for i, item in enumerate(legend.items):
        # Hiding a line hides its band too.
        names = {r.name for r in item.renderers}
        assert f"band:{i}" in names
        colours = {getattr(r.glyph, "line_color", None) for r in item.renderers}
        assert OVERLAY_COLOURS[i] in colours
    json_item(fig)


def test_each_band_is_its_line_expected_range() -> None:
    fig = overlay_plot(BANDS)
    for i, df in enumerate(BANDS.values()):
        band = source(fig, f"band:{i}")
        truth = expected_range(df["value"].to_numpy())
        assert truth is not None
        assert band["centre"].tolist() == [truth.centre]
        assert band["low"].tolist() == [truth.low]
        assert band["high"].tolist() == [truth.high]
    # The constant band (i) is a line: zero height, finite.
    constant = source(fig, "band:2")
    assert constant["low"].tolist() == constant["high"].tolist() == [5.0]
    assert len(fig.select({"type": Quad})) == 3


def test_band_counts_only_main_line_values() -> None:
    df = frame([1.0, 2.0, 3.0, 50.0], [1, 2, 3, 4], ["main", "main", "main", "tickets/DM-1"])
    data = overlay_data({"a": df})
    assert data.sources["band:0"]["centre"].tolist() == [2.0]
    # Nothing on the main line: no band, but the line is drawn.
    data = overlay_data({"a": df}, main="develop")
    assert len(data.sources["band:0"]["centre"]) == 0
    assert len(data.sources["line:0"]["x"]) == 4


def test_bands_reach_the_right_end_of_the_plot() -> None:
    data = overlay_data(BANDS)
    last = max(float(np.max(data.sources[f"line:{i}"]["x"])) for i in range(3))
    for i in range(3):
        assert data.sources[f"band:{i}"]["x1"].tolist() == [last]


def test_commit_order_lines_up_jobs_of_every_line() -> None:
    data = overlay_data(BANDS, x="commit")
    # Jobs 1..5 take positions 0..4, whatever line measured them.
    assert data.sources["line:0"]["x"].tolist() == [0.0, 1.0, 2.0, 3.0]
    assert data.sources["line:1"]["x"].tolist() == [1.0, 2.0, 4.0]
    assert data.sources["line:2"]["x"].tolist() == [0.0, 2.0, 3.0, 4.0]
    ticks = data.sources["ticks"]
    assert ticks["x"].tolist() == [0.0, 1.0, 2.0, 3.0, 4.0]
    assert ticks["commit"].tolist() == [1.0, 2.0, 3.0, 4.0, 5.0]
    # Hover still reads the job's time.
    assert "time" in data.sources["line:0"]
    fig = overlay_figure(data)
    assert isinstance(fig.xaxis[0].formatter, CustomJSTickFormatter)
    assert fig.xaxis[0].axis_label == "commit order"


def test_time_axis_uses_the_jobs_dates() -> None:
    data = overlay_data(BANDS)
    expected = pd.Timestamp("2026-01-02", tz="UTC").value / 1e6
    assert data.sources["line:1"]["x"][0] == expected
    assert "ticks" not in data.sources


def test_hover_names_the_series_and_click_opens_the_job() -> None:
    fig = overlay_plot(BANDS, job_url="/jobs/@job_id")
    hover = next(t for t in fig.tools if isinstance(t, HoverTool))
    assert isinstance(hover.tooltips, list) and ("series", "$name") in hover.tooltips
    tap = next(t for t in fig.tools if isinstance(t, TapTool))
    assert isinstance(tap.callback, OpenURL) and tap.callback.url == "/jobs/@job_id"
    assert len(tap.renderers) == 3
    assert not [t for t in overlay_plot(BANDS, job_url=None).tools if isinstance(t, TapTool)]


def test_window_zero_draws_no_band() -> None:
    data = overlay_data(BANDS, window=0)
    assert all(len(data.sources[f"band:{i}"]["x0"]) == 0 for i in range(3))


def test_empty_nan_and_hostile_lines() -> None:
    hostile = "</script><img src=x onerror=alert(1)>"
    empty = frame([], [])
    nans = frame([float("nan")] * 3, [1, 2, 3])
    fig = overlay_plot({hostile: BANDS["g"], "empty": empty, "nan": nans}, x="commit")
    assert legend_labels(fig) == [hostile, "empty", "nan"]
    assert len(source(fig, "band:1")["x0"]) == 0
    assert len(source(fig, "band:2")["x0"]) == 0
    json_item(fig)


def test_too_many_lines_and_bad_axis() -> None:
    many = {str(i): BANDS["g"] for i in range(len(OVERLAY_COLOURS) + 1)}
    with pytest.raises(ValueError, match="at most"):
        overlay_data(many)
    with pytest.raises(ValueError, match="x must be"):
        overlay_data(BANDS, x="branch")  # type: ignore[arg-type]


def test_dense_lines_draw_no_markers() -> None:
    n = 2_500
    df = frame(list(np.linspace(0, 1, n)), list(range(1, n + 1)))
    fig = overlay_plot({"a": df})
    legend: Any = one(fig, Legend)
    kinds = {type(r.glyph).__name__ for r in legend.items[0].renderers}
    assert kinds == {"Quad", "Segment", "Line"}
