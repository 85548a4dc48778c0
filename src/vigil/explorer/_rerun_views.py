"""The overview of what changed between two reruns: the Compare tab's table of every metric.

`overview_view` draws `vigil.explorer._rerun.rerun_overview` for the explorer's chosen
tract and visit; a click on a row opens that metric's per-group comparison (the
explorer's ``metric``), drawn below it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

import pandas as pd
import panel as pn
from bokeh.models.widgets.tables import NumberFormatter
from panel.models.tabulator import CellClickEvent

from ._panel import markdown, plain, tabulator
from ._rerun import MISSING, rerun_overview, selection_title
from ._rollup import RangeStatus
from .query import MetricInfo, Repository

__all__ = ["Comparing", "overview_frame", "overview_view", "repository_names"]

_STATUS_COLOURS: dict[str, str] = {
    RangeStatus.OK: "#d4edda",
    RangeStatus.BAD: "#f8d7da",
    RangeStatus.UNKNOWN: "#d6d8db",
    MISSING: "#fff3cd",
}
_TITLES = {
    "value_a": "value in A",
    "value_b": "value in B",
    "change": "change (B - A)",
    "size": "size of change",
    "status_a": "status in A",
    "status_b": "status in B",
}
_PLAIN = {"type": "plaintext"}  # names and notes shown as written, never as markup
_VALUE = NumberFormatter(format="0.[0000]")
_SIZE = NumberFormatter(format="0.[00]")


class Comparing(Protocol):
    """What the overview reads of the explorer, and the metric a click sets."""

    repo: Repository
    other: Repository | None
    tract: Any
    visit: Any
    metric: Any

    @property
    def infos(self) -> Mapping[str, MetricInfo]:
        """The metrics of the first repository by name."""


def repository_names(repo: Repository, other: Repository) -> tuple[str, str]:
    """The names of two repositories, by folder when they share one (a rerun)."""
    names = (repo.name, other.name)
    return (repo.path.name, other.path.name) if names[0] == names[1] else names


def _number(value: Any, everything: str) -> int | None:
    """A tract or visit selector's value (None for *everything*)."""
    return None if value is None or value == everything else int(value)


def _colour(status: object) -> str:
    colour = _STATUS_COLOURS.get(str(status))
    return f"background-color: {colour}" if colour else ""


def overview_view(explorer: Comparing, everything: str) -> pn.viewable.Viewable:
    """Every metric of both repositories in the chosen tract and visit, largest change
    first; a click on a metric of the first repository sets ``explorer.metric``.

    Parameters
    ----------
    explorer
        The explorer (`vigil.explorer.app.Explorer`).
    everything
        The selectors' value meaning no tract or visit is chosen.
    """
    if explorer.other is None:
        return markdown("")
    tract = _number(explorer.tract, everything)
    visit = _number(explorer.visit, everything)
    frame = overview_frame(explorer, everything)
    first, second = repository_names(explorer.repo, explorer.other)
    title = markdown(
        f"**What changed, every metric**: B = **{plain(second)}** against A ="
        f" **{plain(first)}**, {plain(selection_title(tract, visit))}. Largest change"
        " first: |B - A| in robust sigmas of A's values per patch (per detector of a"
        " visit), or relative to A without a spread. Click a metric to compare its"
        " groups below.",
        name="overview-title",
    )
    table = tabulator(
        frame,
        show_index=False,
        disabled=True,
        selectable=False,
        titles=_TITLES,
        formatters={
            "metric": _PLAIN,
            "table": _PLAIN,
            "scale": _PLAIN,
            "note": _PLAIN,
            "value_a": _VALUE,
            "value_b": _VALUE,
            "change": _VALUE,
            "size": _SIZE,
        },
        sizing_mode="stretch_width",
        layout="fit_data_table",
        pagination=None,
    )
    if table.style is not None:  # Panel gives every DataFrame value a Styler
        table.style.map(_colour, subset=["status_a", "status_b"])

    def on_click(event: CellClickEvent) -> None:
        name = str(frame.iloc[event.row]["metric"])
        if name in explorer.infos:  # a metric only B has has no groups in A to open
            explorer.metric = name

    table.on_click(on_click)
    return pn.Column(title, table, sizing_mode="stretch_width")


def overview_frame(explorer: Comparing, everything: str) -> pd.DataFrame:
    """The frame `overview_view` shows (empty without a second repository)."""
    if explorer.other is None:
        return pd.DataFrame()
    tract = _number(explorer.tract, everything)
    visit = _number(explorer.visit, everything)
    return rerun_overview(explorer.repo, explorer.other, tract, visit)
