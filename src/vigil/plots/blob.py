"""Drill-down plots of a blob's arrays: a histogram of one, a scatter of two."""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from bokeh.models import ColumnDataSource, HoverTool

from ._blob_axes import choose_axes, why_not_drawn
from ._style import MAIN_COLOUR, base_figure, lean

if TYPE_CHECKING:
    from bokeh.plotting import figure

__all__ = [
    "MAX_SCATTER_POINTS",
    "BlobArray",
    "blob_arrays",
    "blob_plot",
    "default_axes",
    "scatter_step",
    "why_not_drawn",
]

MAX_SCATTER_POINTS = 20_000
"""The most points a blob's scatter draws; longer arrays are thinned evenly (`scatter_step`)."""


@dataclass(frozen=True, slots=True)
class BlobArray:
    """A numeric array of a blob, with its unit and label.

    A datum holding a table (a list of rows of one length, as validate_drp's PA1 blob
    keeps one row of ``magDiff`` per random sample) is drawn by its first row; *rows*
    is then the number of rows (0 for a plain array).
    """

    name: str
    values: np.ndarray
    unit: str
    label: str
    rows: int = 0

    @property
    def title(self) -> str:
        """The axis title: label (or name), the row drawn of a table, and unit."""
        text = self.label or self.name
        if self.rows:
            text += f" (row 1 of {self.rows})"
        return f"{text} [{self.unit}]" if self.unit else text


def _array(value: Any) -> tuple[np.ndarray, int] | None:
    """The numbers of a datum's value and its count of rows, or None if it has none."""
    if not isinstance(value, list | tuple | np.ndarray) or len(value) == 0:
        return None
    rows = 0
    first = value[0]
    if isinstance(first, list | tuple):
        if any(not isinstance(row, list | tuple) or len(row) != len(first) for row in value):
            return None  # ragged: no row stands for the others
        rows, value = len(value), first
    if any(isinstance(v, str | bytes) for v in value):
        return None
    try:
        array = np.asarray([np.nan if v is None else v for v in value], dtype=float)
    except (TypeError, ValueError, OverflowError):
        return None
    return (array, rows) if array.ndim == 1 and len(array) else None


_LABEL_NOTE = re.compile(r"\n[^()\n]*")


def clean_label(label: Any) -> str:
    """A datum's label on one line.

    validate_drp wrote labels with another datum's text inside (``RMS(r\nFilter name)``:
    the filter's value, a newline, its description); what follows a newline, up to a
    parenthesis, is left out (``RMS(r)``).
    """
    text = str(label or "")
    return " ".join(_LABEL_NOTE.sub("", text).split())


def blob_arrays(data: Mapping[str, Any]) -> dict[str, BlobArray]:
    """The numeric arrays of a blob's data.

    *data* maps datum names to lsst.verify datums (``{"value": [...], "unit": "mag",
    "label": ...}``) or directly to arrays. A table of rows of one length gives its
    first row (`BlobArray.rows`). Scalars, strings, ragged and deeper arrays are left out.
    """
    found = {}
    for name, datum in data.items():
        if isinstance(datum, Mapping):
            got = _array(datum.get("value"))
            unit = str(datum.get("unit") or "")
            label = clean_label(datum.get("label"))
        else:
            got, unit, label = _array(datum), "", ""
        if got is not None:
            found[name] = BlobArray(name, got[0], unit, label, got[1])
    return found


def default_axes(
    arrays: Mapping[str, BlobArray], units: Collection[str] = ()
) -> tuple[str | None, str | None]:
    """What to plot by default, from the datums' lsst.verify names and units.

    *units* are those of the metrics whose measurements refer to the blob. (None, None)
    when no array is worth a plot (two values, constant, no finite value): see
    `vigil.plots._blob_axes.choose_axes` for the order of preference.
    """
    return choose_axes(arrays, units)


def scatter_step(length: int) -> int:
    """Every how many points a scatter of *length* points draws (1: all of them)."""
    return max(1, -(-length // MAX_SCATTER_POINTS))


def blob_plot(
    data: Mapping[str, Any],
    *,
    x: str | None = None,
    y: str | None = None,
    title: str | None = None,
    bins: int | None = None,
    height: int = 300,
    units: Collection[str] = (),
    arrays: Mapping[str, BlobArray] | None = None,
) -> figure:
    """A histogram of one array of a blob, or a scatter of two.

    Parameters
    ----------
    data
        The blob's data (see `blob_arrays`).
    x, y
        Datum names. Both: a scatter of *y* against *x* (same length). One: a histogram
        of it. Neither: chosen by `default_axes`.
    title
        The figure title.
    bins
        Histogram bins; default: about the square root of the count, 5 to 50.
    height
        Height in pixels.
    units
        The units of the blob's metrics, for `default_axes`.
    arrays
        ``blob_arrays(data)`` when the caller has it already.

    Raises
    ------
    ValueError
        The blob has no numeric array, a name is not one of its arrays, or the two
        arrays of a scatter differ in length.
    """
    if arrays is None:
        arrays = blob_arrays(data)
    if not arrays:
        raise ValueError("the blob has no numeric array to plot")
    if x is None and y is None:
        x, y = default_axes(arrays, units)
        if x is None:
            raise ValueError(
                "no array of this blob is worth a plot (each has two values or fewer,"
                " is constant or has no finite value); choose one to draw it anyway"
            )
    for name in (x, y):
        if name is not None and name not in arrays:
            raise ValueError(
                f"{name!r} is not a numeric array of this blob; it has {', '.join(arrays)}"
            )
    if x is not None and y is not None:
        return _scatter(arrays[x], arrays[y], title, height)
    return _histogram(arrays[x or y or ""], title, bins, height)


def _scatter(xa: BlobArray, ya: BlobArray, title: str | None, height: int) -> figure:
    if len(xa.values) != len(ya.values):
        raise ValueError(
            f"{xa.name!r} has {len(xa.values)} values and {ya.name!r} {len(ya.values)}:"
            " a scatter needs two arrays of one length"
        )
    text = title or f"{ya.label or ya.name} vs {xa.label or xa.name}"
    # Thinned evenly rather than cut: the drawn points keep the shape of the whole.
    step = scatter_step(len(xa.values))
    if step > 1:
        text += f" (one point in {step:,} of {len(xa.values):,})"
    fig = base_figure(height=height, title=text, x_axis_label=xa.title, y_axis_label=ya.title)
    source = ColumnDataSource({"x": xa.values[::step], "y": ya.values[::step]}, name="blob")
    renderer = fig.scatter("x", "y", source=source, size=6, color=MAIN_COLOUR, alpha=0.7)
    fig.add_tools(
        HoverTool(
            renderers=[renderer], tooltips=[(xa.name, "@x{0.[0000]}"), (ya.name, "@y{0.[0000]}")]
        )
    )
    return lean(fig)


def _histogram(array: BlobArray, title: str | None, bins: int | None, height: int) -> figure:
    finite = array.values[np.isfinite(array.values)]
    count = bins or int(min(50, max(5, round(np.sqrt(max(len(finite), 1))))))
    counts, edges = np.histogram(finite, bins=count) if len(finite) else (np.zeros(0), np.zeros(1))
    fig = base_figure(
        height=height,
        title=title or f"Distribution of {array.label or array.name}",
        x_axis_label=array.title,
        y_axis_label="count",
    )
    source = ColumnDataSource(
        {"left": edges[:-1], "right": edges[1:], "count": counts}, name="blob"
    )
    renderer = fig.quad(
        left="left",
        right="right",
        top="count",
        bottom=0,
        source=source,
        fill_color="#9db4e8",
        line_color="#ffffff",
    )
    fig.add_tools(
        HoverTool(
            renderers=[renderer],
            tooltips=[("range", "@left{0.[000]} to @right{0.[000]}"), ("count", "@count")],
        )
    )
    fig.y_range.start = 0
    return lean(fig)
