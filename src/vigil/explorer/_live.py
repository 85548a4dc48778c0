"""Plots and views redrawn in place: a click that changes what a plot or view shows, not
what kind of thing it is, sends the browser new data and text instead of new models.

A HoloViews pane given a new element builds a new Bokeh figure (its axes, tools, colour
bar, glyphs) and the browser builds a new view of each of them; for a click that only
narrows the selection that is most of its time. `LivePlot` keeps one figure per kind of
element: a plain element of the same type, dimensions and options (but for its title,
labels, colour limits, colour bar label and hooks, which are applied to every frame)
goes through a `holoviews.streams.Pipe` into the `holoviews.DynamicMap` drawn, whose
ranges follow each frame. A rasterised plot (a DynamicMap computed from nothing but the
plot's ranges, as Datashader's ``rasterize`` at a fixed size makes) is drawn in place
too: its frame is computed over the new data's extent, and again over the range of
each zoom. Anything else (an overlay, another kind) replaces the plot.

Each view the browser replaces makes it lay out the whole page again; `LiveView` keeps a
view whose text alone changed, or that is the very object shown, where it is.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from typing import Any

import holoviews as hv
import panel as pn
import param
from holoviews.core.spaces import get_nested_streams

from ._panel import holoviews_pane

__all__ = ["LivePlot", "LiveView", "follow", "live_row"]

Tap = Callable[[Any, list[int]], None]
"""Called with the element drawn and the indices of its tapped points."""

_PER_FRAME = frozenset({"title", "xlabel", "ylabel", "clim", "clabel", "hooks", "selected"})
"""Plot options applied again to each frame of a dynamic plot (by HoloViews; the colour
bar's label by `_colour_label`)."""


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


def _follows_ranges(obj: Any) -> bool:
    """Whether *obj* is a DynamicMap computed from the plot's ranges alone."""
    if not isinstance(obj, hv.DynamicMap):
        return False
    streams = get_nested_streams(obj)
    return bool(streams) and all(isinstance(s, hv.streams.RangeXY) for s in streams)


def _colour_label(plot: Any, element: Any) -> None:
    """Title the colour bar with the frame's ``clabel`` (HoloViews titles it once, from
    the first frame)."""
    label = hv.Store.lookup_options("bokeh", element, "plot").kwargs.get("clabel")
    for key, bar in plot.handles.items():  # "colorbar", or "color_colorbar" for points
        if key.endswith("colorbar") and label is not None and bar.title != label:
            bar.title = label


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
        self._ranges = hv.streams.RangeXY()
        self._computed: tuple[Any, set[str], Any] | None = None
        self.pane = holoviews_pane(hv.Div(""), name=name)
        self.show(element)

    def show(self, element: Any) -> None:
        """Draw *element*: through the current plot when it is of the same kind."""
        rasterised = _follows_ranges(element)
        if rasterised:
            self._ranges.reset()  # the new data's extent, not the last zoom's range
        frame = self._frame(element) if rasterised else self._framed(element)
        self.element = frame
        kind = _kind(frame)
        if kind is not None:
            kind = (rasterised, kind)
        if kind is not None and kind == self._kind and self._pipe is not None:
            self._pipe.send(element if rasterised else frame)
            return
        self._kind = kind
        if kind is None:
            self._pipe = None
            self.pane.object = element
            return
        self._pipe = hv.streams.Pipe(data=element if rasterised else frame)
        if rasterised:
            self._ranges = hv.streams.RangeXY()  # a stream follows one plot only
            dynamic = hv.DynamicMap(self._frame, streams=[self._pipe, self._ranges])
        else:
            dynamic = hv.DynamicMap(_identity, streams=[self._pipe])
        if self.on_tap is not None:
            tap = hv.streams.Selection1D(source=dynamic)
            tap.add_subscriber(self._tapped)
        self.pane.object = dynamic

    def _framed(self, element: Any) -> Any:
        """*element* with the options of a frame: ranges that follow it, no selection kept
        from the previous frame (the same index there is another group), its own colour
        bar label."""
        if not isinstance(element, hv.Element):
            return element
        extra: dict[str, Any] = {"framewise": True}
        if self.on_tap is not None:
            extra["selected"] = []
        options = hv.Store.lookup_options("bokeh", element, "plot").kwargs
        if "clabel" in options:
            extra["hooks"] = [*(options.get("hooks") or ()), _colour_label]
        return element.opts(**extra)

    def _frame(self, data: Any, **ranges: Any) -> Any:
        """The frame of the rasterised plot *data* over *ranges* (``x_range`` and
        ``y_range``; by default the plot's, None: the data's extent)."""
        ranges = {**self._ranges.contents, **ranges}
        key = repr(sorted(ranges.items()))
        if self._computed is not None and self._computed[0] is data and key in self._computed[1]:
            return self._computed[2]  # by `show`, to know its kind; or over the same extent
        for stream in get_nested_streams(data):
            stream.update(**ranges)
        frame = self._framed(data[()])
        keys = {key}
        if all(value is None for value in ranges.values()):
            # Over the data's extent: also the frame over that extent given, which
            # HoloViews asks for once it has drawn the plot.
            extent = {"x_range": frame.range(0), "y_range": frame.range(1)}
            keys.add(repr(sorted({**ranges, **extent}.items())))
        self._computed = (data, keys, frame)
        return frame

    def _tapped(self, index: list[int]) -> None:
        if index and self.on_tap is not None:
            self.on_tap(self.element, index)


def _same_but_text(old: Any, new: Any) -> bool:
    """Whether the Markdown panes *old* and *new* differ in their text (and name) alone."""
    same_type = type(old) is type(new) and isinstance(old, pn.pane.Markdown)
    return same_type and all(
        getattr(old, name) == getattr(new, name)
        for name in old.param
        if name not in ("object", "name")
    )


class LiveView:
    """The Panel view returned by the method *method* of *owner*, shown again whenever
    what it depends on changes (`follow`).

    A view that is the one shown, or a Markdown pane that differs from it in its text
    alone, leaves the page's layout as it is; any other view replaces the one shown. A
    widget is never updated in place: its callbacks belong to the view that made it.
    """

    def __init__(self, owner: param.Parameterized, method: str) -> None:
        self._view: Callable[[], Any] = getattr(owner, method)
        self.pane = pn.Column(self._view(), sizing_mode="stretch_width")
        follow(owner, method, self.refresh)

    def refresh(self) -> None:
        """Show the method's view again."""
        old: Any = self.pane[0]
        new = self._view()
        if new is old:
            return
        if _same_but_text(old, new):
            old.object = new.object
            return
        self.pane[0] = new


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
