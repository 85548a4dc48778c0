"""`LivePlot`: a plot of the same kind, rasterised or not, is redrawn in place, another
kind replaces it; `LiveView`: a Markdown view changes its text in place."""

from __future__ import annotations

from typing import Any

import holoviews as hv
import numpy as np
import pandas as pd
import panel as pn
import param
import pytest
from bokeh.models.annotations import ColorBar
from holoviews.operation.datashader import rasterize

from vigil.explorer._live import LivePlot, LiveView, follow
from vigil.explorer._panel import button, holoviews_pane, markdown


@pytest.fixture(autouse=True)
def _bokeh() -> None:
    hv.extension("bokeh", logo=False)


def _points(n: int, title: str, clabel: str = "value", cmap: str = "viridis") -> hv.Points:
    frame = pd.DataFrame({"ra": range(n), "dec": range(n), "value": [float(i) for i in range(n)]})
    return hv.Points(frame, ["ra", "dec"], ["value"]).opts(
        color="value", colorbar=True, clabel=clabel, clim=(0, n), title=title, cmap=cmap
    )


def _drawn(live: LivePlot) -> Any:
    """The Bokeh plot of what *live* shows, kept up to date by its streams."""
    return hv.renderer("bokeh").get_plot(live.pane.object)


def test_the_same_kind_is_redrawn_in_place() -> None:
    live = LivePlot(_points(3, "three"), "sky")
    shown = live.pane.object
    plot = _drawn(live)
    figure = plot.state
    live.show(_points(5, "five"))
    assert live.pane.object is shown  # the figure in the page stays
    assert figure.title.text == "five"
    assert list(plot.handles["source"].data["ra"]) == [0, 1, 2, 3, 4]
    assert figure.x_range.end == pytest.approx(4, abs=0.5)  # the ranges follow the frame


def test_the_colour_bar_is_labelled_by_each_frame() -> None:
    live = LivePlot(_points(3, "three", clabel="one metric"), "sky")
    bar = next(iter(_drawn(live).state.select(ColorBar)))
    live.show(_points(4, "four", clabel="another metric"))
    assert bar.title == "another metric"


def test_another_kind_replaces_the_plot() -> None:
    live = LivePlot(_points(3, "three"), "sky")
    shown = live.pane.object
    live.show(_points(3, "other colours", cmap="magma"))
    assert live.pane.object is not shown
    overlay = _points(2, "a") * _points(2, "b")
    live.show(overlay)
    assert live.pane.object is overlay  # an overlay is drawn as it is


def test_a_tap_is_given_the_element_drawn() -> None:
    taps: list[tuple[int, list[int]]] = []
    live = LivePlot(_points(3, "three"), "sky", on_tap=lambda e, i: taps.append((len(e), i)))
    live.show(_points(6, "six"))
    streams = hv.streams.Stream.registry[live.pane.object]
    (stream,) = [s for s in streams if isinstance(s, hv.streams.Selection1D)]
    stream.event(index=[4])
    assert taps == [(6, [4])]


def test_follow_refreshes_once_per_batch() -> None:
    class Owner(param.Parameterized):
        a: Any = param.Integer(0)
        b: Any = param.Integer(0)
        c: Any = param.Integer(0)

        @param.depends("a", "b")
        def view(self) -> int:
            return int(self.a + self.b)

    owner = Owner()  # type: ignore[no-untyped-call]
    calls: list[int] = []
    follow(owner, "view", lambda: calls.append(owner.view()))
    with param.parameterized.batch_call_watchers(owner):
        owner.a, owner.b = 1, 2
    owner.c = 5  # not a dependency
    assert calls == [3]


def test_plots_draw_on_a_canvas() -> None:
    pane = holoviews_pane(_points(2, "two"))
    assert pane.renderer is not None
    assert hv.renderer("bokeh").webgl  # the process's own renderer is left as it is
    assert pane.renderer.get_plot(pane.object).state.output_backend == "canvas"


def _rasterised(low: float, high: float, title: str) -> hv.DynamicMap:
    """Points from *low* to *high* on both axes, rasterised at a fixed size."""
    values = np.linspace(low, high, 1000)
    points = hv.Points(pd.DataFrame({"x": values, "y": values}), ["x", "y"])
    shown: hv.DynamicMap = rasterize(
        points, width=40, height=30, streams=[hv.streams.RangeXY]
    ).opts(title=title)
    return shown


def test_a_rasterised_plot_is_redrawn_in_place_over_the_new_data() -> None:
    live = LivePlot(_rasterised(0, 10, "ten"), "scatter")
    shown = live.pane.object
    plot = _drawn(live)
    figure = plot.state
    live.show(_rasterised(100, 101, "one"))
    assert live.pane.object is shown
    assert figure.title.text == "one"
    (image,) = plot.handles["source"].data["image"]
    assert image.shape == (30, 40)  # the size asked for
    assert figure.x_range.start == pytest.approx(100, abs=0.1)  # the new extent, not the old
    assert figure.x_range.end == pytest.approx(101, abs=0.1)
    assert np.nansum(image) == 1000  # every point counted (no point: no colour, NaN)


def test_a_zoom_aggregates_the_range_zoomed_to() -> None:
    live = LivePlot(_rasterised(0, 10, "ten"), "scatter")
    plot = _drawn(live)
    (ranges,) = [s for s in plot.streams if isinstance(s, hv.streams.RangeXY)]
    ranges.event(x_range=(0.0, 5.0), y_range=(0.0, 5.0))
    (image,) = plot.handles["source"].data["image"]
    assert np.nansum(image) == pytest.approx(500, abs=2)  # the points in the range zoomed to
    live.show(_rasterised(20, 30, "next"))  # new data: its own extent again
    (image,) = plot.handles["source"].data["image"]
    assert np.nansum(image) == 1000


class _Owner(param.Parameterized):
    text: Any = param.String("one")
    table: Any = param.Boolean(False)

    @param.depends("text", "table")
    def view(self) -> Any:
        if self.table:
            return button(label=self.text)
        return markdown(self.text, name="words")


def test_a_markdown_view_changes_its_text_in_place() -> None:
    owner = _Owner()  # type: ignore[no-untyped-call]
    live = LiveView(owner, "view")
    shown: Any = live.pane[0]
    owner.text = "two"
    assert shown.object == "two"
    assert live.pane[0] is shown  # the same pane: the page keeps its layout
    owner.table = True  # another kind of view replaces it
    drawn: Any = live.pane[0]
    assert isinstance(drawn, pn.widgets.Button) and drawn.label == "two"
    owner.text = "three"  # a widget is never updated in place
    again: Any = live.pane[0]
    assert again is not drawn and again.label == "three"
