"""Drill-down plots of a blob's arrays: a histogram of one, a scatter of two."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from bokeh.models import ColumnDataSource, HoverTool

from ._style import MAIN_COLOUR, base_figure, lean

if TYPE_CHECKING:
    from bokeh.plotting import figure

__all__ = ["BlobArray", "blob_arrays", "blob_plot", "default_axes"]


@dataclass(frozen=True, slots=True)
class BlobArray:
    """A numeric array of a blob, with its unit and label."""

    name: str
    values: np.ndarray
    unit: str
    label: str

    @property
    def title(self) -> str:
        """The axis title: label (or name) and unit."""
        text = self.label or self.name
        return f"{text} [{self.unit}]" if self.unit else text


def _array(value: Any) -> np.ndarray | None:
    if not isinstance(value, list | tuple | np.ndarray) or len(value) == 0:
        return None
    try:
        array = np.asarray([np.nan if v is None else v for v in value], dtype=float)
    except (TypeError, ValueError):
        return None
    return array if array.ndim == 1 else None


def blob_arrays(data: Mapping[str, Any]) -> dict[str, BlobArray]:
    """The numeric one-dimensional arrays of a blob's data.

    *data* maps datum names to lsst.verify datums (``{"value": [...], "unit": "mag",
    "label": ...}``) or directly to arrays. Scalars, strings and nested arrays are left out.
    """
    found = {}
    for name, datum in data.items():
        if isinstance(datum, Mapping):
            values = _array(datum.get("value"))
            unit = str(datum.get("unit") or "")
            label = str(datum.get("label") or "")
        else:
            values, unit, label = _array(datum), "", ""
        if values is not None:
            found[name] = BlobArray(name, values, unit, label)
    return found


def default_axes(arrays: Mapping[str, BlobArray]) -> tuple[str | None, str | None]:
    """What to plot by default: two arrays of one length (scatter), else the longest."""
    by_length: dict[int, list[str]] = {}
    for name, array in arrays.items():
        by_length.setdefault(len(array.values), []).append(name)
    pairs = [names for length, names in by_length.items() if len(names) >= 2 and length > 1]
    if pairs:
        names = max(pairs, key=lambda n: len(arrays[n[0]].values))
        return names[0], names[1]
    if not arrays:
        return None, None
    return max(arrays, key=lambda n: len(arrays[n].values)), None


def blob_plot(
    data: Mapping[str, Any],
    *,
    x: str | None = None,
    y: str | None = None,
    title: str | None = None,
    bins: int | None = None,
    height: int = 300,
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

    Raises
    ------
    ValueError
        The blob has no numeric array, a name is not one of its arrays, or the two
        arrays of a scatter differ in length.
    """
    arrays = blob_arrays(data)
    if not arrays:
        raise ValueError("the blob has no numeric array to plot")
    if x is None and y is None:
        x, y = default_axes(arrays)
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
    fig = base_figure(
        height=height,
        title=title or f"{ya.label or ya.name} vs {xa.label or xa.name}",
        x_axis_label=xa.title,
        y_axis_label=ya.title,
    )
    source = ColumnDataSource({"x": xa.values, "y": ya.values}, name="blob")
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
