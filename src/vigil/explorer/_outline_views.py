"""The explorer's views of outlines: boxes on the sky map, the visits behind a patch, the
way back to the patch.

Bokeh escapes the values it puts in a hover tooltip, so the tooltips take the frames'
text as it is; Markdown gets it through `plain`, Tabulator shows cells as text.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import holoviews as hv
import pandas as pd
import panel as pn
from bokeh.palettes import Category20
from panel.models.tabulator import CellClickEvent

from . import _outlines
from ._metrics import MetricInfo
from ._panel import button, markdown, plain, tabulator

if TYPE_CHECKING:
    from .query import Repository

__all__ = [
    "OUTLINE_LEVELS",
    "back_link",
    "behind_table",
    "outline_rectangles",
    "tract_outlines",
    "visit_metric",
]

OUTLINE_LEVELS = ("visits", "detectors")
"""What the outlines on a coadd metric's sky map are: whole visits, or their detectors."""

_VISIT_COLOURS = list(Category20[20][::2] + Category20[20][1::2])
"""Twenty colours, the ten strong ones first, so that a few visits differ clearly."""
_LEGEND_ENTRIES = 10
"""Above this many visits or bands the legend would hide the map: the hover names them."""

OpenVisit = Callable[[Mapping[str, Any]], None]


def tract_outlines(
    repo: Repository, tract: int | None, level: str, limit: int = _outlines.MAX_OUTLINES
) -> tuple[pd.DataFrame, str]:
    """The outlines over *tract* (every tract when None) at *level* (`OUTLINE_LEVELS`):
    the visits, or their detectors (at most *limit*), and a title naming them and any
    cut."""
    place = f"tract {tract}" if tract is not None else "every tract"
    if level != "detectors":
        return _outlines.visit_outlines(repo, tract=tract), f"visits over {place}"
    frame = _outlines.tract_detector_outlines(repo, tract, limit)
    title = f"detectors of the visits over {place}"
    if frame.attrs["truncated"]:
        total = frame.attrs["total"]
        title += f" (the first {len(frame):,} of {total:,}: whole visits, by visit)"
    return frame, title


def outline_rectangles(frame: pd.DataFrame, title: str) -> hv.Rectangles:
    """The boxes of *frame* (`vigil.explorer._outlines`' visit or detector outlines) as
    rectangles with the visit, band and detectors in a tooltip, coloured by band (by
    visit for the detectors of several visits)."""
    per_detector = "detector" in frame.columns
    labels = ["visit", "band", "detector", "sources"] if per_detector else ["visit", "band"]
    labels += [] if per_detector else ["detectors", "sources"]
    shown = frame.assign(band=frame["band"].astype(str), group=frame["band"].astype(str))
    by_visit = per_detector and frame["visit"].nunique() > 1
    if by_visit:
        shown["group"] = frame["visit"].astype(str)
    tooltips = [(name, f"@{{{name}}}") for name in labels]
    return hv.Rectangles(
        shown, ["ra_min", "dec_min", "ra_max", "dec_max"], [*labels, "group"], label="outlines"
    ).opts(
        fill_color="group",
        line_color="group",
        cmap=_VISIT_COLOURS if by_visit else "Category10",
        show_legend=shown["group"].nunique() <= _LEGEND_ENTRIES,
        fill_alpha=0.06,
        line_alpha=0.9,
        line_width=1.5,
        tools=[_hover(tooltips)],
        invert_xaxis=True,
        width=640,
        height=340,
        title=title,
        xlabel="RA (deg)",
        ylabel="Dec (deg)",
    )


def _hover(tooltips: list[tuple[str, str]]) -> Any:
    from bokeh.models import HoverTool

    return HoverTool(tooltips=tooltips)


def visit_metric(infos: Mapping[str, MetricInfo], metric: str | None, band: str) -> str | None:
    """The visit metric to open for a visit of *band*, coming from *metric*.

    The visit counterpart of *metric* in *band* (``psf_size_residual_i`` ->
    ``visit_psf_size_residual_g``) when there is one, else the first visit metric of
    *band*, else the first over every band; None when there is none (a visit metric
    of another band has no value for the visit).
    """
    candidates = [name for name, info in infos.items() if info.table == "sources"]
    if not candidates:
        return None
    base = metric or ""
    info = infos.get(base)
    if info is not None and info.band:
        base = base.removesuffix(f"_{info.band}")
    base = base.removeprefix("visit_")
    for name in (f"visit_{base}_{band}", f"visit_{base}"):
        if name in candidates and infos[name].band in (band, None):
            return name
    same_band = [name for name in candidates if infos[name].band == band]
    every_band = [name for name in candidates if infos[name].band is None]
    found = same_band or every_band
    return found[0] if found else None


def behind_table(frame: pd.DataFrame, place: str, open_visit: OpenVisit | None) -> pn.Column:
    """The visits of *frame* (`vigil.explorer._outlines.visits_behind`) behind the patch
    named *place*; a click on a row calls *open_visit* with it (None: no visit metric)."""
    count = len(frame)
    hint = " (click one to open it)" if open_visit is not None and count else ""
    title = f"**Visits behind {plain(place)}**: {count}{hint}"
    if not count:
        return pn.Column(markdown(title, name="behind-title"))
    shown = pd.DataFrame(
        {
            "visit": frame["visit"].astype(str),
            "band": frame["band"].astype(str),
            "detectors": [", ".join(str(d) for d in ds) for ds in frame["detectors"]],
            "count": frame["count"].astype(int),
        }
    )
    table = tabulator(
        shown,
        show_index=False,
        disabled=True,
        selectable=False,
        pagination="local",
        page_size=8,
        width=420,
    )
    if open_visit is not None:

        def on_click(event: CellClickEvent) -> None:
            open_visit(frame.iloc[event.row])

        table.on_click(on_click)
    return pn.Column(markdown(title, name="behind-title"), table)


def back_link(place: str, back: Callable[[], None]) -> pn.widgets.Button:
    """A button going back to the patch named *place*."""
    link = button(label=f"Back to {place}", width=260)
    link.on_click(lambda _: back())
    return link
