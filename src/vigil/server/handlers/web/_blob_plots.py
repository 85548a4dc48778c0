"""The job page's drill-down figures: one per blob, drawn by Vigil or by a plugin.

Only what means something is drawn by default: the axes come from the datums'
lsst.verify names and units (`vigil.plots.default_axes`), a blob whose arrays are all
parameters (two values), constant or not a number is listed instead (`UndrawnBlob`,
one link away from a plot), and blobs whose chosen arrays hold the same values share one
figure (validate_drp repeats ``AM1``'s arrays in six ``AD1``/``AF1`` blobs). The whole
set is drawn once per job and choice of axes and kept in `_DRAWN`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any

from vigil.plots.blob import BlobArray, blob_arrays, blob_plot, default_axes, why_not_drawn
from vigil.plugins import PluginBlob, Plugins, load_plugins

from ...cache import LruCache
from ...domain import JobSummary
from ._blob_table import DatumRow, datum_rows
from ._plots import _item
from ._plugin_output import call_plugin

__all__ = ["BlobDrawings", "BlobFigure", "UndrawnBlob", "blob_drawings"]


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
    same_as: list[tuple[str, str]] = field(default_factory=list)
    """(identifier, name) of the other blobs whose arrays this figure shows too."""


@dataclass(frozen=True, slots=True)
class UndrawnBlob:
    """A blob with arrays, none worth a plot by default; each can be drawn on request."""

    identifier: str
    name: str
    arrays: list[str]
    reasons: list[str]
    """Why each array is not drawn (``"magRange: 2 values"``)."""


@dataclass(slots=True)
class BlobDrawings:
    """What the job page shows of its blobs."""

    figures: list[BlobFigure]
    undrawn: list[UndrawnBlob]
    datums: list[DatumRow]
    """The datums no plot shows (scalars, text, short or odd arrays)."""

    @property
    def has_plots(self) -> bool:
        """Whether a figure needs BokehJS."""
        return any(f.plot_json for f in self.figures)


Choice = dict[str, tuple[str | None, str | None]]

# Whole drawings by the job's identity and the choice of axes (a few hundred kB each).
_DRAWN: LruCache[Hashable, BlobDrawings] = LruCache(32)


def blob_drawings(
    job: JobSummary,
    blobs: Sequence[Any],
    choice: Choice,
    measurements: Sequence[Any] = (),
) -> BlobDrawings:
    """The figures of *blobs*; *choice* maps an identifier to the (x, y) asked for.

    A blob that a plugin's renderer (`vigil.plugins`) draws, chosen by the blob's name or
    by the metric of a measurement in *measurements* that refers to it, is drawn by that
    renderer instead; when it draws nothing or fails, Vigil's plot is shown. A blob with
    a choice is always drawn on its own.
    """
    renderers = load_plugins()
    # A job is written once: its id, identifier, creation time and blob rows identify
    # its content (a deleted job's id reused by a new one differs in the others).
    key = (
        job.id,
        job.identifier,
        job.created_at,
        tuple(b.id for b in blobs),
        tuple(sorted(choice.items(), key=lambda item: item[0])),
        id(renderers),
    )
    found = _DRAWN.get(key)
    if found is None:
        found = _draw(renderers, blobs, choice, measurements)
        _DRAWN.put(key, found)
    return found


def _draw(
    renderers: Plugins, blobs: Sequence[Any], choice: Choice, measurements: Sequence[Any]
) -> BlobDrawings:
    drawings = BlobDrawings([], [], [])
    by_values: dict[str, BlobFigure] = {}
    for i, blob in enumerate(blobs):
        target = f"blob-plot-{i}"
        label = blob.name or blob.identifier
        refs = [m for m in measurements if blob.identifier in m.blob_refs]
        found = _plugin_figure(renderers, blob, tuple(m.metric_name for m in refs), target)
        arrays = blob_arrays(blob.data)
        drawings.datums.extend(datum_rows(label, blob.data, arrays))
        if found is not None and found.error is None:
            drawings.figures.append(found)
            continue
        if not arrays:
            if found is not None:
                drawings.figures.append(found)
            continue
        units = {m.unit for m in refs}
        asked = choice.get(blob.identifier)
        x, y = asked if asked and asked != (None, None) else default_axes(arrays, units)
        if x is None and y is None:
            reasons = [f"{n}: {why_not_drawn(a)}" for n, a in arrays.items()]
            # By name: PostgreSQL's JSONB keeps no key order, and the links must not
            # depend on the database.
            names = sorted(arrays, key=lambda n: (n.lower(), n))
            drawings.undrawn.append(UndrawnBlob(blob.identifier, label, names, reasons))
            continue
        same = None if asked else _values_key(arrays, x, y)
        if same is not None and same in by_values:
            by_values[same].same_as.append((blob.identifier, label))
            continue
        try:
            plot = blob_plot(blob.data, x=x, y=y, title=label, units=units, arrays=arrays)
            plot_json, error = _item(plot, target), found.error if found is not None else None
        except ValueError as exc:
            plot_json, error = None, str(exc)
        figure = BlobFigure(blob.identifier, label, list(arrays), x, y, target, plot_json, error)
        drawings.figures.append(figure)
        if same is not None:
            by_values[same] = figure
    return drawings


def _values_key(arrays: dict[str, BlobArray], x: str | None, y: str | None) -> str | None:
    """What identifies the drawing of *x* and *y*: their values, units and labels."""
    digest = hashlib.blake2b(digest_size=16)
    for name in (x, y):
        array = arrays.get(name) if name is not None else None
        if name is not None and array is None:
            return None  # an error to show for this blob
        if array is not None:
            digest.update(f"{name}\0{array.unit}\0{array.label}\0{array.rows}\0".encode())
            digest.update(array.values.tobytes())
        digest.update(b"\1")
    return digest.hexdigest()


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
