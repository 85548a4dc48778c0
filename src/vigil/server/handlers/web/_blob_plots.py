"""The job page's drill-down figures: one per blob, drawn by Vigil or by a plugin."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from vigil import plots
from vigil.plugins import PluginBlob, Plugins, load_plugins

from ._plots import _item
from ._plugin_output import call_plugin

__all__ = ["BlobFigure", "blob_figures"]


@dataclass(slots=True)
class BlobFigure:
    """A drill-down plot of one blob of a job (drawn by Vigil, or by a plugin's renderer)."""

    identifier: str
    name: str
    arrays: list[str]
    x: str | None
    y: str | None
    target: str
    plot_json: str | None
    error: str | None
    html: str | None = None
    """A plugin's HTML drawing, sanitised (`_plugin_output.sanitise_html`)."""


def blob_figures(
    blobs: list[Any],
    choice: dict[str, tuple[str | None, str | None]],
    measurements: Sequence[Any] = (),
) -> list[BlobFigure]:
    """One figure per blob with numeric arrays; *choice* maps an identifier to (x, y).

    A blob that a plugin's renderer (`vigil.plugins`) draws, chosen by the blob's name or
    by the metric of a measurement in *measurements* that refers to it, is drawn by that
    renderer instead; when it draws nothing or fails, Vigil's plot is shown.
    """
    out = []
    renderers = load_plugins()
    for i, blob in enumerate(blobs):
        target = f"blob-plot-{i}"
        metrics = tuple(m.metric_name for m in measurements if blob.identifier in m.blob_refs)
        found = _plugin_figure(renderers, blob, metrics, target)
        if found is not None and found.error is None:
            out.append(found)
            continue
        arrays = plots.blob_arrays(blob.data)
        if not arrays:
            if found is not None:
                out.append(found)
            continue
        x, y = choice.get(blob.identifier) or plots.default_axes(arrays)
        try:
            plot = _item(plots.blob_plot(blob.data, x=x, y=y, title=blob.name), target)
            error = found.error if found is not None else None
        except ValueError as exc:
            plot, error = None, str(exc)
        out.append(
            BlobFigure(
                blob.identifier,
                blob.name or blob.identifier,
                list(arrays),
                x,
                y,
                target,
                plot,
                error,
            )
        )
    return out


def _plugin_figure(
    renderers: Plugins, blob: Any, metrics: tuple[str, ...], target: str
) -> BlobFigure | None:
    """The plugin's drawing of *blob*, its failure, or None when no plugin draws it."""
    given = PluginBlob(blob.identifier, blob.name, blob.data, metrics)
    found = renderers.blob_renderer(given)
    if found is None:
        return None
    name, renderer = found
    drawing, error = call_plugin(name, renderer, given, target=target)
    if drawing is None and error is None:
        return None
    label = blob.name or blob.identifier
    if drawing is None:
        return BlobFigure(blob.identifier, label, [], None, None, target, None, error)
    return BlobFigure(
        blob.identifier, label, [], None, None, target, drawing.plot_json, None, drawing.html
    )
