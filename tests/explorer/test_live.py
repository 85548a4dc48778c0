"""`LivePlot`: a plot of the same kind is redrawn in place, another kind replaces it."""

from __future__ import annotations

from typing import Any

import holoviews as hv
import pandas as pd
import param
import pytest

from vigil.explorer._live import LivePlot, follow
from vigil.explorer._panel import holoviews_pane


@pytest.fixture(autouse=True)
def _bokeh() -> None:
    hv.extension("bokeh", logo=False)


def _points(n: int, title: str, clabel: str = "value") -> hv.Points:
    frame = pd.DataFrame({"ra": range(n), "dec": range(n), "value": [float(i) for i in range(n)]})
    return hv.Points(frame, ["ra", "dec"], ["value"]).opts(
        color="value", colorbar=True, clabel=clabel, clim=(0, n), title=title
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


def test_another_kind_replaces_the_plot() -> None:
    live = LivePlot(_points(3, "three"), "sky")
    shown = live.pane.object
    live.show(_points(3, "other metric", clabel="another"))  # its colour bar differs
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
