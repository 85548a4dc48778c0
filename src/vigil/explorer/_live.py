"""Plots redrawn in place: a click that changes what a plot shows, not what kind of plot
it is, sends the browser new columns, titles and ranges instead of a new figure.

A HoloViews pane given a new element builds a new Bokeh figure (its axes, tools, colour
bar, glyphs) and the browser builds a new view of each of them; for a click that only
narrows the selection that is most of its time. `LivePlot` keeps one figure per kind of
element: a plain element of the same type, dimensions and options (but for its title,
labels, colour limits and hooks, which HoloViews applies to every frame) goes through
a `holoviews.streams.Pipe` into the `holoviews.DynamicMap` drawn, whose ranges follow each
frame; anything else (an overlay, a rasterised plot, another kind) replaces the plot.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from typing import Any

import holoviews as hv
import panel as pn
import param

from ._panel import holoviews_pane

__all__ = ["LivePlot", "follow", "live_row"]

Tap = Callable[[Any, list[int]], None]
"""Called with the element drawn and the indices of its tapped points."""

_PER_FRAME = frozenset({"title", "xlabel", "ylabel", "clim", "hooks", "selected"})
"""Plot options HoloViews applies again to each frame of a dynamic plot."""


def _kind(element: Any) -> Hashable | None:
    """What must stay the same for *element* to be drawn in place of the last one
    (None: never in place)."""
    if not isinstance(element, hv.Element):
        return None
    options = hv.Store.lookup_options("bokeh", element, "plot").kwargs
    fixed = tuple(sorted((k, repr(v)) for k, v in options.items() if k not in _PER_FRAME))
    style = hv.Store.lookup_options("bokeh", element, "style").kwargs
    dimensions = tuple((d.name, d.label) for d in element.dimensions())
    hooks = len(options.get("hooks") or ())  # a hook left out would leave its drawing
    return (type(element), dimensions, fixed, repr(sorted(style.items())), hooks)


def _identity(data: Any) -> Any:
    return data


class LivePlot:
    """A HoloViews pane showing the elements given to `show`, in place when it can.

    Parameters
    ----------
    element
        The first element (or any HoloViews object) shown.
    name
        The pane's name.
    on_tap
        Called with the element drawn and the tapped indices when the user taps a
        point of a plot drawn in place (a replaced plot keeps the streams of its own).
    """

    def __init__(self, element: Any, name: str, on_tap: Tap | None = None) -> None:
        self.on_tap = on_tap
        self.element: Any = None
        self._kind: Hashable | None = None
        self._pipe: hv.streams.Pipe | None = None
        self.pane = holoviews_pane(hv.Div(""), name=name)
        self.show(element)

    def show(self, element: Any) -> None:
        """Draw *element*: through the current plot when it is of the same kind."""
        kind = _kind(element)
        if kind is not None:
            # Ranges follow each frame; a tap on the previous frame is not kept
            # selected on the next (the same index there is another group).
            extra: dict[str, Any] = {"framewise": True}
            if self.on_tap is not None:
                extra["selected"] = []
            element = element.opts(**extra)
        self.element = element
        if kind is not None and kind == self._kind and self._pipe is not None:
            self._pipe.send(element)
            return
        self._kind = kind
        if kind is None:
            self._pipe = None
            self.pane.object = element
            return
        self._pipe = hv.streams.Pipe(data=element)
        dynamic = hv.DynamicMap(_identity, streams=[self._pipe])
        if self.on_tap is not None:
            tap = hv.streams.Selection1D(source=dynamic)
            tap.add_subscriber(self._tapped)
        self.pane.object = dynamic

    def _tapped(self, index: list[int]) -> None:
        if index and self.on_tap is not None:
            self.on_tap(self.element, index)


def follow(owner: param.Parameterized, method: str, refresh: Callable[[], None]) -> None:
    """Call *refresh* whenever a parameter the method *method* of *owner* depends on
    (`param.depends`) changes: once per batch of changes (`Explorer.drill`)."""

    def changed(*_: object) -> None:
        refresh()

    names: Sequence[str] = [
        info.name for info in owner.param.method_dependencies(method) if info.inst is owner
    ]
    owner.param.watch(changed, list(names))


def live_row(*plots: LivePlot) -> pn.Row:
    """The panes of *plots* side by side, stretched to the width."""
    return pn.Row(*(plot.pane for plot in plots), sizing_mode="stretch_width")
