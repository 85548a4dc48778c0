"""Blob renderers: a Bokeh figure for a blob by its name, HTML for a metric's blobs."""

from __future__ import annotations

import html
from typing import Any

from bokeh.plotting import figure

from vigil.plugins import PluginBlob


def residuals(blob: PluginBlob) -> Any:
    """The residuals of blob ``example.residuals`` against their position."""
    x = blob.data["x"]["value"]
    residual = blob.data["residual"]["value"]
    fig = figure(title="Residuals by position", height=300, sizing_mode="stretch_width")
    fig.scatter(x, residual, size=5, name="example-residuals")
    fig.line([min(x), max(x)], [0, 0], color="grey")
    return fig


def summary(blob: PluginBlob) -> str:
    """A table of the scalars of any blob that ``example.summary_metric`` refers to."""
    rows = "".join(
        f"<tr><td>{html.escape(name)}</td><td>{html.escape(str(datum['value']))}</td></tr>"
        for name, datum in blob.data.items()
        if isinstance(datum, dict) and not isinstance(datum.get("value"), list)
    )
    return f'<table class="example-summary">{rows}</table>'
