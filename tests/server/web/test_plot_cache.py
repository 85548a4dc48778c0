"""Figures reused by layout: a refilled figure carries exactly its own data."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
from bokeh.embed import json_item

from vigil import plots
from vigil.server.handlers.web._plots import _FigureCache, _models


def frame(values: list[float]) -> pd.DataFrame:
    n = len(values)
    return pd.DataFrame(
        {
            "job_id": np.arange(1, n + 1),
            "time": pd.date_range("2026-01-01", periods=n, freq="D", tz="UTC"),
            "value": values,
            "branch": ["main"] * (n - 1) + ["feature"],
            "commit_sha": [f"{i:040x}" for i in range(n)],
        }
    )


def sources_of(text: str) -> dict[str, object]:
    item = json.loads(text.replace("<\\/", "</"))
    return {
        m["attributes"]["name"]: m["attributes"]["data"]
        for m in _models(item["doc"])
        if m.get("name") == "ColumnDataSource" and m["attributes"].get("name")
    }


def test_a_cached_layout_is_refilled_with_the_new_data() -> None:
    cache = _FigureCache()
    thresholds = [plots.Threshold("design", 5.0)]
    first = plots.series_data(frame([4.0, 6.0, 4.5, 7.0]), thresholds=thresholds)
    second = plots.series_data(frame([1.0, 2.0, 9.0, 8.0, 3.0, 5.5]), thresholds=thresholds)
    assert first.layout == second.layout

    def build(data: plots.PlotData) -> object:
        return plots.series_figure(data, title="t")

    cache.item("k", first.sources, lambda: build(first), "plot")
    refilled = cache.item("k", second.sources, lambda: build(second), "plot")
    fresh = json.dumps(json_item(build(second), "plot"))  # type: ignore[arg-type]
    assert sources_of(refilled) == sources_of(fresh)
    assert set(sources_of(refilled)) == {
        "branch:main",
        "branch:feature",
        "failing",
        "threshold-extent",
        "expected",
    }
    # Another layout (another threshold) is another figure.
    other = plots.series_data(frame([1.0, 2.0]), thresholds=[plots.Threshold("design", 6.0)])
    assert other.layout != first.layout
