"""A QA plot: the noise of every amplifier of every unit of a processing."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bokeh.plotting import figure

from vigil.plugins import PluginQaValue


def noise_per_amplifier(key: str, values: Sequence[PluginQaValue]) -> Any:
    """One line of points per unit: its amplifiers' values of *key*."""
    fig = figure(title=f"{key} per amplifier", height=250, sizing_mode="stretch_width")
    for qa in values:
        amplifiers = list(range(len(qa.values)))
        # A missing value (None) is a gap in the line; bokeh's annotation leaves None out.
        fig.scatter(amplifiers, list(qa.values), size=7, legend_label=qa.unit)  # type: ignore[arg-type]
    fig.xaxis.axis_label = "amplifier"
    return fig
