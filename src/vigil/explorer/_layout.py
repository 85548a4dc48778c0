"""The explorer's page: side controls, the quick look, metric, linked, PSF and compare tabs.

The page is sent with the quick look; the metric tab is filled just after the browser
has drawn it (or as soon as it is shown, if that comes first), the other tabs when first
shown. The metric tab's plots are `vigil.explorer._live.LivePlot` panes: a click that
keeps the kind of each plot (another rasterised metric after the first, the groups of a
tract after those of every tract, a patch's sources after a tract's) redraws the figures
in place instead of building new ones, so that opening a metric from the quick look
sends new data to figures already in the page. Its other views are `param.depends`
methods of the `Explorer` shown by `vigil.explorer._live.LiveView`; the path and the
list of groups are each one component the `Explorer` redraws in place.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import panel as pn

from . import _psf_views
from ._linked import LinkedView, cut_controls
from ._live import LivePlot, LiveView, follow, live_row
from ._panel import file_download, markdown, one_redraw, param_controls, tabs

if TYPE_CHECKING:
    from .app import Explorer

__all__ = ["explorer_layout", "metric_tab"]

_CONTROLS = ("metric", "tract", "patch", "visit", "detector", "outlines", "outline_level")


def _tapped_group(explorer: Explorer) -> Any:
    """What a tap on the live sky map does: drill into the group of the tapped point."""

    def on_tap(element: Any, index: list[int]) -> None:
        explorer.select_group(element.data.iloc[index[0]])

    return on_tap


def _elements(row: pn.Row) -> list[Any]:
    """The HoloViews objects of a row of HoloViews panes."""
    return [getattr(pane, "object", None) for pane in row]


def metric_tab(explorer: Explorer) -> pn.Column:
    """The metric tab: where it is, the groups, the sky map, the metric plots, the
    focal plane and the sources."""
    sky = LivePlot(explorer.sky_map(live=True), "sky", on_tap=_tapped_group(explorer))
    follow(explorer, "sky_map", lambda: sky.show(explorer.sky_map(live=True)))
    first = _elements(explorer.metric_view())
    plots = [LivePlot(first[0], "scatter"), LivePlot(first[1], "skymap")]

    def show_metric() -> None:
        for plot, element in zip(plots, _elements(explorer.metric_view()), strict=True):
            plot.show(element)

    follow(explorer, "metric_view", show_metric)

    def live(method: str) -> pn.Column:
        return LiveView(explorer, method).pane

    return pn.Column(
        live("path_view"),
        pn.Row(pn.Column(live("groups_view"), live("behind_view")), sky.pane),
        live_row(*plots),
        live("focal_view"),
        live("sources_view"),
        sizing_mode="stretch_width",
    )


def _append_shown_later(parts: pn.Tabs, named: list[tuple[str, Any]]) -> None:
    """Append a tab to *parts* for each name and content of *named*, the content put in
    when the tab is first shown."""
    waiting: dict[int, tuple[pn.Column, Any]] = {}
    for name, content in named:
        empty = pn.Column(sizing_mode="stretch_width")
        waiting[len(parts)] = (empty, content)
        parts.append((name, empty))

    def shown(*_: object) -> None:
        empty, content = waiting.pop(parts.active, (None, None))
        if empty is not None:
            empty.objects = [content]

    parts.param.watch(shown, "active")


def _append_filled_after_load(parts: pn.Tabs, name: str, build: Callable[[], Any]) -> None:
    """Append a tab named *name* to *parts*, and put what *build* returns into it once the
    browser has drawn the page, or when the tab is shown before that: whichever comes
    first, once. Outside a served session (Jupyter, a test's document) it is put in at
    once."""
    index = len(parts)
    empty = pn.Column(sizing_mode="stretch_width")
    parts.append((name, empty))
    built = False

    def fill(*_: object) -> None:
        nonlocal built
        if built:
            return
        built = True
        parts.param.unwatch(watcher)
        with one_redraw():
            empty.objects = [build()]

    def shown(*_: object) -> None:
        if parts.active == index:
            fill()

    watcher = parts.param.watch(shown, "active")
    pn.state.onload(fill)


def explorer_layout(explorer: Explorer) -> pn.Column:
    """The whole app of *explorer*."""
    controls = param_controls(
        explorer.param,
        parameters=list(_CONTROLS),
        widgets={"metric": pn.widgets.Select},
        show_name=False,
        width=260,
    )
    download = file_download(
        callback=explorer.notebook_bytes,
        filename="vigil-explore.ipynb",
        label="Open in Jupyter (.ipynb)",
        width=240,
    )
    hint = markdown(
        "Click a metric to open it, or its worst group to go straight there.",
        name="hint",
    )
    later = [
        ("Linked", LinkedView(explorer).panel()),
        (_psf_views.TAB_NAME, _psf_views.psf_tab(explorer)),
    ]
    if explorer.other is not None:
        compare = pn.Column(explorer.overview, explorer.comparison, sizing_mode="stretch_width")
        later.append(("Compare", compare))
    # The metric tab is built right after the page is drawn, hidden, so that opening a
    # metric redraws its plots in place instead of building them, while the page itself
    # carries the quick look alone (the metric plots' figures and data would double the
    # time to a drawn quick look). The linked plots are read when their tab is first
    # shown, not with the page, nor after every click before that.
    parts = tabs(("Quick look", pn.Column(hint, explorer.quicklook(), sizing_mode="stretch_width")))
    _append_filled_after_load(parts, "Metric", lambda: metric_tab(explorer))
    _append_shown_later(parts, later)
    if explorer.opened:
        parts.active = 1
    explorer.tabs = parts
    banner = explorer.banner()
    side = pn.Column(controls, cut_controls(explorer), download)
    return pn.Column(
        explorer.header(),
        *([banner] if banner is not None else []),
        pn.Row(side, parts, sizing_mode="stretch_width"),
        sizing_mode="stretch_width",
        name="vigil-explorer",
    )
