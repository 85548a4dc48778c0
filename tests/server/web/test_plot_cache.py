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


def test_sources_inside_a_tick_formatter_are_refilled_too() -> None:
    """In commit order the axis' formatter holds the sources (its arguments are a map,
    whose entries Bokeh gives as tuples): those are refilled like the glyphs' ones."""
    from vigil.plots.overlay import overlay_data, overlay_figure

    cache = _FigureCache()
    first = plots.series_data(frame([4.0, 6.0, 4.5]), x="commit")
    second = plots.series_data(frame([1.0, 2.0, 9.0, 8.0, 3.0]), x="commit")
    assert first.layout == second.layout
    cache.item("series", first.sources, lambda: plots.series_figure(first), "plot")
    refilled = cache.item("series", second.sources, lambda: plots.series_figure(second), "plot")
    fresh = json.dumps(json_item(plots.series_figure(second), "plot"))  # type: ignore[arg-type]
    assert sources_of(refilled) == sources_of(fresh)

    few = overlay_data({"g": frame([1.0, 2.0]), "r": frame([3.0, 4.0])}, x="commit")
    many = overlay_data({"g": frame([1.0, 2.0, 5.0, 6.0]), "r": frame([3.0, 4.0])}, x="commit")
    assert few.layout == many.layout and "ticks" in many.sources
    cache.item("overlay", few.sources, lambda: overlay_figure(few), "plot")
    refilled = cache.item("overlay", many.sources, lambda: overlay_figure(many), "plot")
    fresh = json.dumps(json_item(overlay_figure(many), "plot"))  # type: ignore[arg-type]
    assert sources_of(refilled) == sources_of(fresh)
    assert "ticks" in sources_of(refilled)
