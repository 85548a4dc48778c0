"""Per-dataId values of a metric on a grid: tract by patch, visit by detector, ..."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
from bokeh.models import (
    ColumnDataSource,
    FactorRange,
    HoverTool,
    LinearColorMapper,
    OpenURL,
    TapTool,
)
from bokeh.models.annotations import ColorBar
from bokeh.palettes import RdBu11, Viridis256

from vigil.verify.spec import operator_direction

from ._style import Threshold, base_figure, lean

if TYPE_CHECKING:
    import pandas as pd
    from bokeh.plotting import figure

__all__ = ["dataid_grid", "grid_axes"]

_PAIRS = (
    ("tract", "patch"),
    ("visit", "detector"),
    ("visit", "ccd"),
    ("exposure", "detector"),
    ("tract", "band"),
    ("visit", "band"),
)


def grid_axes(data_ids: Iterable[Mapping[str, Any]]) -> tuple[str | None, str | None]:
    """The dataId keys to use as grid rows and columns.

    A known pair (tract-patch, visit-detector, visit-ccd...) when the dataIds
    have both keys; else the first two keys whose values vary; one varying key gives a
    single row ``(None, key)``; nothing varying gives ``(None, None)``.
    """
    ids = list(data_ids)
    keys: dict[str, set[str]] = {}
    for data_id in ids:
        for key, value in data_id.items():
            keys.setdefault(key, set()).add(repr(value))
    for row, col in _PAIRS:
        if row in keys and col in keys and len(keys[col]) > 1:
            return row, col
    varying = [k for k, v in keys.items() if len(v) > 1]
    if len(varying) >= 2:
        return varying[0], varying[1]
    if varying:
        return None, varying[0]
    return None, None


def _factors(values: Iterable[Any]) -> list[str]:
    distinct = {v for v in values if v is not None}

    def key(v: Any) -> tuple[int, Any]:
        return (0, v) if isinstance(v, int | float) and not isinstance(v, bool) else (1, str(v))

    return [str(v) for v in sorted(distinct, key=key)]


def dataid_grid(
    df: pd.DataFrame,
    *,
    row: str | None,
    col: str,
    value: str = "value",
    threshold: Threshold | None = None,
    unit: str | None = None,
    title: str | None = None,
    job_url: str | None = None,
    height: int | None = None,
) -> figure:
    """A colour-coded grid of values, one cell per dataId.

    Parameters
    ----------
    df
        One row per dataId with the columns *row* and *col* (dataId values) and *value*;
        optionally ``job_id``.
    row, col
        The dataId keys of the grid's rows and columns (*row* None: a single row).
    value
        The column coloured.
    threshold
        When given, a diverging palette centred on it: blue passes, red fails, darker
        further away. Else a sequential palette.
    unit, title
        Colour bar unit and figure title.
    job_url
        Where a click on a cell leads (``@job_id`` is replaced), if anywhere.
    height
        Height in pixels; default from the number of rows.
    """
    values = df[value].to_numpy(dtype=float) if len(df) else np.zeros(0)
    rows = [str(v) for v in df[row]] if row is not None else ["all"] * len(df)
    cols = [str(v) for v in df[col]]
    row_factors = _factors(df[row]) if row is not None else ["all"]
    col_factors = _factors(df[col])
    finite = values[np.isfinite(values)]
    if threshold is not None and np.isfinite(threshold.value):
        centre = threshold.value
        spread = float(np.max(np.abs(finite - centre))) if len(finite) else 1.0
        spread = spread or abs(centre) * 0.1 or 1.0
        # Red where a value fails: above an upper limit, below a lower one (Bokeh's
        # RdBu11 runs from blue to red).
        lower_is_better = operator_direction(threshold.operator) == "lower"
        palette = list(RdBu11) if lower_is_better else list(reversed(RdBu11))
        low, high = centre - spread, centre + spread
        # Dark cells, far from the threshold, get white labels.
        dark = np.abs(values - centre) > 0.55 * spread
    else:
        palette = list(Viridis256)
        low = float(finite.min()) if len(finite) else 0.0
        high = float(finite.max()) if len(finite) else 1.0
        high = high if high > low else low + 1.0
        dark = (values - low) < 0.35 * (high - low)
    mapper = LinearColorMapper(palette=palette, low=low, high=high, nan_color="#e5e7eb")
    data: dict[str, Any] = {
        "text_colour": np.where(dark & np.isfinite(values), "#ffffff", "#111827"),
        "row": rows,
        "col": cols,
        "value": values,
        "label": ["NaN" if np.isnan(v) else f"{v:.3g}" for v in values],
        "job_id": df["job_id"].to_numpy() if "job_id" in df else np.zeros(len(df), dtype=int),
    }
    source = ColumnDataSource(data, name="cells")
    fig = base_figure(
        height=height or max(180, 60 + 36 * len(row_factors)),
        title=title,
        x_range=FactorRange(factors=col_factors),
        y_range=FactorRange(factors=list(reversed(row_factors))),
        x_axis_label=col,
        y_axis_label=row or "",
        tools="hover,save,reset",
        toolbar_location=None,
    )
    renderer = fig.rect(
        "col",
        "row",
        0.94,
        0.94,
        source=source,
        line_color=None,
        fill_color={"field": "value", "transform": mapper},
    )
    if len(df) <= 400:
        fig.text(
            "col",
            "row",
            text="label",
            source=source,
            text_align="center",
            text_baseline="middle",
            text_font_size="11px",
            text_color="text_colour",
        )
    hover = fig.select_one(HoverTool)
    hover.renderers = [renderer]
    hover.tooltips = [(row or "", "@row"), (col, "@col"), ("value", "@value{0.[0000]}")]
    if job_url:
        fig.add_tools(TapTool(renderers=[renderer], callback=OpenURL(url=job_url, same_tab=True)))
    fig.add_layout(
        ColorBar(color_mapper=mapper, title=unit or value, width=10, label_standoff=6), "right"
    )
    fig.grid.grid_line_color = None
    if row is None:
        fig.yaxis.visible = False
    fig.axis.major_tick_line_color = None
    if len(col_factors) > 12:
        fig.xaxis.major_label_orientation = 0.8
    return lean(fig)
