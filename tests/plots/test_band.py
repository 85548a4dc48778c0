"""The expected range: a robust centre and spread of a series' recent main line."""

from __future__ import annotations

import math
from typing import Any, TypeVar

import numpy as np
import pandas as pd
import pytest
from bokeh.models import ColumnDataSource
from bokeh.models.annotations import Legend

from vigil import plots
from vigil.plots._band import (
    EXPECTED_WIDTH,
    EXPECTED_WINDOW,
    band_source,
    expected_range,
)

T = TypeVar("T")

MAD_TO_SIGMA = 1.482602218505602
LARGEST = float(np.finfo(np.float64).max)


def test_known_median_and_mad() -> None:
    # median 3, absolute deviations 2 1 0 1 97: MAD 1.
    found = expected_range([1.0, 2.0, 3.0, 4.0, 100.0])
    assert found is not None
    assert found.centre == 3.0
    assert found.spread == pytest.approx(MAD_TO_SIGMA)
    assert found.low == pytest.approx(3.0 - EXPECTED_WIDTH * MAD_TO_SIGMA)
    assert found.high == pytest.approx(3.0 + EXPECTED_WIDTH * MAD_TO_SIGMA)
    assert (found.count, found.start) == (5, 0)


def test_an_outlier_moves_neither_centre_nor_spread_much() -> None:
    rng = np.random.default_rng(3)
    values = [*rng.normal(10.0, 0.5, 29).tolist(), 1e6]
    found = expected_range(values)
    assert found is not None
    assert found.centre == pytest.approx(10.0, abs=0.3)
    assert found.spread == pytest.approx(0.5, rel=0.4)


def test_gaussian_spread_is_its_standard_deviation() -> None:
    rng = np.random.default_rng(7)
    found = expected_range(rng.normal(-4.0, 2.0, 20_000), window=20_000)
    assert found is not None
    assert found.centre == pytest.approx(-4.0, abs=0.05)
    assert found.spread == pytest.approx(2.0, rel=0.03)


def test_only_the_newest_window_counts() -> None:
    # An old level of 100, then 30 values of a new level.
    values = [100.0] * 50 + [5.0, 6.0, 7.0] * 10
    found = expected_range(values)
    assert found is not None
    assert found.count == EXPECTED_WINDOW
    assert found.start == 50
    assert found.centre == 6.0
    assert expected_range(values, window=3) is not None


def test_no_points_and_only_nan() -> None:
    assert expected_range([]) is None
    assert expected_range([math.nan, None, math.inf, -math.inf]) is None


def test_one_point_is_a_line() -> None:
    found = expected_range([42.5])
    assert found is not None
    assert (found.centre, found.spread, found.low, found.high) == (42.5, 0.0, 42.5, 42.5)
    assert found.count == 1


def test_constant_series_is_a_line_not_nan() -> None:
    found = expected_range([7.25] * 12)
    assert found is not None
    assert (found.centre, found.spread, found.low, found.high) == (7.25, 0.0, 7.25, 7.25)


def test_mostly_equal_values_fall_back_to_mean_deviation() -> None:
    # MAD is 0 (more than half equal); the mean absolute deviation is 4/5.
    found = expected_range([1.0, 1.0, 1.0, 3.0, 3.0])
    assert found is not None
    assert found.centre == 1.0
    assert found.spread == pytest.approx(math.sqrt(math.pi / 2) * 0.8)


def test_nan_values_are_skipped_and_positions_kept() -> None:
    found = expected_range([math.nan, 1.0, None, 2.0, math.nan, 3.0], window=2)
    assert found is not None
    assert found.centre == 2.5
    # The window's first value (2.0) sits at position 3 of the values given.
    assert (found.count, found.start) == (2, 3)


def test_huge_values_do_not_overflow() -> None:
    found = expected_range([1e308, -1e308, 0.0])
    assert found is not None
    assert found.centre == 0.0
    assert found.spread == pytest.approx(MAD_TO_SIGMA * 1e308)
    # centre ± 2 spreads is beyond the largest float: clipped, never inf or NaN.
    assert (found.low, found.high) == (-LARGEST, LARGEST)
    scaled = expected_range([3e307, 4e307, 5e307])
    assert scaled is not None
    assert scaled.centre == 4e307
    assert scaled.spread == pytest.approx(MAD_TO_SIGMA * 1e307)


def test_tiny_values_keep_their_precision() -> None:
    found = expected_range([1e-300, 2e-300, 3e-300])
    assert found is not None
    assert found.centre == pytest.approx(2e-300, rel=1e-12)
    assert found.spread == pytest.approx(MAD_TO_SIGMA * 1e-300, rel=1e-12)


def test_scaling_by_a_power_of_two_scales_exactly() -> None:
    rng = np.random.default_rng(11)
    values = rng.normal(3.0, 1.0, 40)
    a = expected_range(values)
    b = expected_range(values * 2.0**-900)
    assert a is not None and b is not None
    assert b.centre == a.centre * 2.0**-900
    assert b.spread == a.spread * 2.0**-900


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="window"):
        expected_range([1.0], window=0)
    with pytest.raises(ValueError, match="width"):
        expected_range([1.0], width=-1.0)
    with pytest.raises(ValueError, match="width"):
        expected_range([1.0], width=math.nan)
    with pytest.raises(TypeError, match="not a number"):
        expected_range(["1.5"])


def test_band_source_spans_the_window_to_the_end() -> None:
    xs = np.arange(10.0) * 100
    values = np.array([50.0] * 5 + [1.0, 2.0, 3.0, math.nan, 2.0])
    source = band_source(xs, values, x_end=5000.0, window=4)
    assert source["x0"].tolist() == [500.0]
    assert source["x1"].tolist() == [5000.0]
    assert source["centre"].tolist() == [2.0]
    assert source["count"].tolist() == [4.0]
    assert np.isfinite(source["low"]).all() and np.isfinite(source["high"]).all()


def test_band_source_without_values_is_empty() -> None:
    source = band_source([1.0, 2.0], [math.nan, math.nan])
    assert all(len(column) == 0 for column in source.values())
    assert {"x0", "x1", "low", "high", "centre"} <= set(source)


def one(fig: Any, kind: type[T], name: str | None = None) -> T:
    """The model of type *kind* (and name *name*) in *fig*."""
    query: dict[str, Any] = {"type": kind} if name is None else {"type": kind, "name": name}
    found = fig.select_one(query)
    assert isinstance(found, kind), (kind, name)
    return found


def legend_labels(fig: Any) -> list[Any]:
    legend: Any = one(fig, Legend)
    return [item.label.value for item in legend.items]


def series_frame(values: list[float], branches: list[str]) -> pd.DataFrame:
    n = len(values)
    return pd.DataFrame(
        {
            "job_id": np.arange(1, n + 1),
            "time": pd.date_range("2026-01-01", periods=n, freq="D", tz="UTC"),
            "value": values,
            "branch": branches,
        }
    )


def test_series_plot_draws_the_main_line_band() -> None:
    values = [4.0, 5.0, 6.0, 5.0, 9.0, 20.0]
    branches = ["main"] * 4 + ["tickets/DM-1"] * 2
    fig = plots.series_plot(series_frame(values, branches))
    band: dict[str, Any] = dict(one(fig, ColumnDataSource, "expected").data)
    truth = expected_range(values[:4])
    assert truth is not None
    assert band["centre"].tolist() == [truth.centre] == [5.0]
    assert (band["low"].tolist(), band["high"].tolist()) == ([truth.low], [truth.high])
    # From the main line's first point to the branch's last.
    xs = one(fig, ColumnDataSource, "branch:tickets/DM-1").data["x"]
    assert band["x1"].tolist() == [float(xs[-1])]
    assert "expected range" in legend_labels(fig)


def test_series_plot_without_the_main_line_has_no_band_entry() -> None:
    df = series_frame([1.0, 2.0, 3.0], ["main", "tickets/DM-1", "tickets/DM-1"])
    data = plots.series_data(df, branches=["tickets/DM-1"])
    assert len(data.sources["expected"]["centre"]) == 0
    fig = plots.series_figure(data)
    assert "expected range" not in legend_labels(fig)
    # A constant main line: a line at its value, never NaN.
    data = plots.series_data(series_frame([3.0, 3.0, 3.0], ["main"] * 3))
    assert data.sources["expected"]["low"].tolist() == [3.0]
    assert data.sources["expected"]["high"].tolist() == [3.0]
