"""Shared look of Vigil's Bokeh figures: colours, sizes, thresholds."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
from bokeh.models.annotations import Label, Span, Title
from bokeh.models.renderers import GlyphRenderer
from bokeh.plotting import figure

from vigil.verify.spec import OPERATORS, passes_threshold

__all__ = [
    "BRANCH_COLOURS",
    "FAIL_COLOUR",
    "MAIN_COLOUR",
    "MARKER_COLOURS",
    "Marker",
    "Threshold",
    "base_figure",
    "draw_thresholds",
    "failing_mask",
    "lean",
    "merge_thresholds",
    "threshold_colour",
]

MAIN_COLOUR = "#1f3b73"
FAIL_COLOUR = "#d62728"
MARKER_COLOURS = {"regression": "#ff7f0e", "spec_failure": "#d62728", "improvement": "#2ca02c"}
"""Fill of a change marker by the kind of record it marks."""
# Category10 without its red (kept for failures) and blue (close to the main line's).
BRANCH_COLOURS = (
    "#ff7f0e",
    "#2ca02c",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#17becf",
    "#bcbd22",
    "#7f7f7f",
)
_THRESHOLD_COLOURS = {"minimum": "#c0392b", "design": "#e67e22", "stretch": "#27ae60"}
_THRESHOLD_DEFAULT = "#7f8c8d"


@dataclass(frozen=True, slots=True)
class Marker:
    """A mark on a series plot at one job: a regression, an improvement, a failing spec.

    Drawn as a triangle on that job's point, labelled on hover, linked to ``id``'s page.
    """

    job_id: int
    kind: str
    label: str
    id: int = 0


@dataclass(frozen=True, slots=True)
class Threshold:
    """A specification threshold, in the unit of the plotted values.

    Parameters
    ----------
    name
        What the line is labelled with (a specification's short name, or several).
    value
        The threshold, already converted to the values' unit.
    operator
        How a value passes: ``value <operator> threshold`` (``<``, ``<=``, ``>``...).
    tag
        ``minimum``, ``design``, ``stretch`` or another tag; chooses the line colour.
    """

    name: str
    value: float
    operator: str = "<="
    tag: str | None = None

    def passes(self, values: np.ndarray) -> np.ndarray:
        """Which *values* pass (False for NaN: NaN never passes nor fails, see `fails`)."""
        return np.asarray(passes_threshold(values, self.operator, self.value), dtype=bool)

    def fails(self, values: np.ndarray) -> np.ndarray:
        """Which *values* fail; NaN gives no verdict, so it never fails."""
        values = np.asarray(values, dtype=float)
        return cast(np.ndarray, ~self.passes(values) & ~np.isnan(values))


def merge_thresholds(thresholds: Iterable[Threshold]) -> list[Threshold]:
    """One threshold per (operator, value): several specifications often share a line."""
    merged: dict[tuple[str, float], Threshold] = {}
    for t in thresholds:
        if t.operator not in OPERATORS or not math.isfinite(t.value):
            continue
        key = (t.operator, t.value)
        if key in merged:
            old = merged[key]
            merged[key] = Threshold(f"{old.name}, {t.name}", t.value, t.operator, old.tag or t.tag)
        else:
            merged[key] = t
    return sorted(merged.values(), key=lambda t: t.value)


def failing_mask(values: np.ndarray, thresholds: Sequence[Threshold]) -> np.ndarray:
    """Which *values* fail at least one of *thresholds*."""
    values = np.asarray(values, dtype=float)
    mask = np.zeros(values.shape, dtype=bool)
    for t in thresholds:
        mask |= t.fails(values)
    return mask


def base_figure(**kwargs: Any) -> Any:
    """A figure with Vigil's defaults: responsive width, light grid, no logo."""
    # Any, not figure: bokeh annotates a figure's axes, ranges and tool lookups more
    # narrowly than it accepts them (``fig.y_range.start``, ``select_one(HoverTool)``).
    options: dict[str, Any] = {
        "height": 380,
        "sizing_mode": "stretch_width",
        "tools": "pan,wheel_zoom,box_zoom,reset,save",
        "active_scroll": None,
        "toolbar_location": "above",
    }
    options.update(kwargs)
    if options.get("title") is None:
        options["title"] = ""
    fig = figure(**options)
    fig.toolbar.logo = None
    fig.outline_line_color = None
    fig.grid.grid_line_color = "#e6e9ef"
    fig.axis.axis_line_color = "#c9ced8"
    fig.axis.major_tick_line_color = "#c9ced8"
    fig.axis.minor_tick_line_color = None
    fig.axis.major_label_text_color = "#4a5263"
    fig.axis.axis_label_text_color = "#4a5263"
    fig.axis.axis_label_text_font_style = "normal"
    title = fig.title
    if isinstance(title, Title):
        title.text_font_size = "13px"
        title.text_color = "#1c2330"
    fig.min_border_left = 60
    return fig


def lean(fig: figure) -> figure:
    """Drop the faded (non-selected) and muted copies of every glyph of *fig*; return it.

    Clicking a point opens its job rather than selecting it, and legends hide lines
    rather than mute them: the copies would only cost models to build and send.
    """
    for renderer in fig.renderers:
        if isinstance(renderer, GlyphRenderer):
            renderer.nonselection_glyph = None
            renderer.muted_glyph = None
    return fig


def threshold_colour(tag: str | None) -> str:
    """The line colour of a threshold with *tag*."""
    return _THRESHOLD_COLOURS.get(tag or "", _THRESHOLD_DEFAULT)


def draw_thresholds(fig: Any, thresholds: Sequence[Threshold], *, unit: str | None = None) -> None:
    """Draw each threshold as a dashed horizontal line with its label.

    The lines are named ``threshold`` and carry ``tags=[name, operator, value]`` so that
    a test or a notebook can find them in the figure.
    """
    suffix = f" {unit}" if unit else ""
    for t in thresholds:
        colour = threshold_colour(t.tag)
        fig.add_layout(
            Span(
                location=t.value,
                dimension="width",
                line_color=colour,
                line_dash="dashed",
                line_width=1.5,
                name="threshold",
                tags=[t.name, t.operator, t.value],
            )
        )
        fig.add_layout(
            Label(
                x=6,
                x_units="screen",
                y=t.value,
                text=f"{t.name} {t.operator} {t.value:g}{suffix}",
                text_font_size="11px",
                text_color=colour,
                y_offset=2,
                background_fill_color="white",
                background_fill_alpha=0.7,
                name="threshold-label",
            )
        )
