"""The explorer's page: side controls, the quick look, metric, linked, PSF and compare tabs.

The metric tab's plots are `vigil.explorer._live.LivePlot` panes: a drill-down that keeps
the kind of each plot (the groups of a tract after those of every tract, a patch's
sources after a tract's) redraws the figures in place instead of building new ones.
Every other view is a `param.depends` method of the `Explorer`, redrawn by Panel.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import panel as pn

from . import _psf_views
from ._linked import LinkedView, cut_controls
from ._live import LivePlot, follow, live_row
from ._panel import file_download, markdown, param_controls, tabs

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
    return pn.Column(
        explorer.path_view,
        pn.Row(pn.Column(explorer.groups_view, explorer.behind_view), sky.pane),
        live_row(*plots),
        explorer.focal_view,
        explorer.sources_view,
        sizing_mode="stretch_width",
    )


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
    parts = tabs(
        ("Quick look", pn.Column(hint, explorer.quicklook(), sizing_mode="stretch_width")),
        ("Metric", metric_tab(explorer)),
        ("Linked", LinkedView(explorer).panel()),
        (_psf_views.TAB_NAME, _psf_views.psf_tab(explorer)),
        dynamic=True,
    )
    if explorer.other is not None:
        compare = pn.Column(explorer.overview, explorer.comparison, sizing_mode="stretch_width")
        parts.append(("Compare", compare))
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
