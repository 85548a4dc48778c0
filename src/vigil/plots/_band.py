"""The expected range of a series: a robust centre and spread of its recent main line.

Method
------
The last `EXPECTED_WINDOW` finite values of the main line (None, NaN and infinities are
skipped) give the centre, their median, and the spread, `vigil.analysis.robust_sigma`
of them: 1.4826 times their median absolute deviation (the standard deviation of a
Gaussian), or sqrt(pi/2) times their mean absolute deviation when more than half of
them are equal. The range is the centre plus or minus `EXPECTED_WIDTH` spreads: about
95 % of the values of a steady series with Gaussian noise fall in it, whatever a few
outliers or a recent step do to a mean and a standard deviation.

- No finite value: no range (None).
- One value, or values all equal: the spread is 0 and the range is the centre itself,
  drawn as a line.
- Values near the limits of a 64-bit float: the statistics are computed on the values
  scaled by a power of two (exact), so that no deviation overflows; a range edge beyond
  the largest float is clipped to it.

The band is drawn behind its series (`draw_band`): a shaded strip from the first value
of the window to the right end of the plot, and a dotted line at the centre.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from bokeh.models import ColumnDataSource, Quad, Segment
from bokeh.models.annotations import LegendItem
from bokeh.models.renderers import GlyphRenderer

from vigil.analysis import finite_values, robust_sigma

from ._style import MAIN_COLOUR

__all__ = [
    "EXPECTED_WIDTH",
    "EXPECTED_WINDOW",
    "ExpectedRange",
    "band_source",
    "draw_band",
    "expected_range",
    "main_line_band",
    "main_line_legend",
]

EXPECTED_WINDOW = 30
"""How many of the newest finite main-line values the expected range summarises."""

EXPECTED_WIDTH = 2.0
"""Half the range's height, in spreads (robust standard deviations)."""

_LARGEST = float(np.finfo(np.float64).max)
_BAND_COLUMNS = ("x0", "x1", "low", "high", "centre", "spread", "count")


@dataclass(frozen=True, slots=True)
class ExpectedRange:
    """Where a series' next value is expected, from its recent values.

    Parameters
    ----------
    centre
        The median of the recent values.
    spread
        Their robust standard deviation (0 for one value or equal values).
    low, high
        ``centre - width * spread`` and ``centre + width * spread``.
    count
        How many values were summarised.
    start
        The position, in the values given, of the first value summarised.
    """

    centre: float
    spread: float
    low: float
    high: float
    count: int
    start: int


def expected_range(
    values: Sequence[Any] | npt.ArrayLike,
    *,
    window: int = EXPECTED_WINDOW,
    width: float = EXPECTED_WIDTH,
) -> ExpectedRange | None:
    """The expected range of the newest *window* finite *values* (see the module's method).

    Parameters
    ----------
    values
        The main line's values in job order; None, NaN and infinities are skipped.
    window
        How many of the newest finite values to summarise.
    width
        Half the range's height, in spreads.

    Returns
    -------
    The range, or None when no value is finite.

    Raises
    ------
    ValueError
        *window* is below 1 or *width* is negative or not finite.
    TypeError
        A value is not a number (`vigil.analysis.finite_values`).
    """
    if window < 1:
        raise ValueError(f"window must be at least 1, not {window!r}")
    if not (math.isfinite(width) and width >= 0):
        raise ValueError(f"width must be a finite number >= 0, not {width!r}")
    finite, positions, _ = finite_values(values)
    if finite.size == 0:
        return None
    recent = finite[-window:]
    # A power of two scales exactly: values near 1e308 get deviations that cannot
    # overflow, values near 1e-308 keep every bit.
    peak = float(np.max(np.abs(recent)))
    exponent = math.frexp(peak)[1] if peak > 0 else 0
    scaled = np.ldexp(recent, -exponent)
    centre = float(np.median(scaled))
    spread = robust_sigma(scaled)
    low, high = centre - width * spread, centre + width * spread
    return ExpectedRange(
        centre=_unscaled(centre, exponent),
        spread=_unscaled(spread, exponent),
        low=_unscaled(low, exponent),
        high=_unscaled(high, exponent),
        count=int(recent.size),
        start=int(positions[finite.size - recent.size]),
    )


def _unscaled(value: float, exponent: int) -> float:
    with np.errstate(over="ignore"):
        restored = float(np.ldexp(value, exponent))
    return min(max(restored, -_LARGEST), _LARGEST)


def band_source(
    xs: npt.ArrayLike,
    values: npt.ArrayLike,
    *,
    x_end: float | None = None,
    window: int = EXPECTED_WINDOW,
    width: float = EXPECTED_WIDTH,
) -> dict[str, Any]:
    """The columns `draw_band` draws for a line with positions *xs* and *values*.

    One row (the band from the x of the window's first value to *x_end*, default the
    last x), or none when no value is finite.
    """
    xs = np.asarray(xs, dtype=float)
    found = expected_range(np.asarray(values, dtype=float), window=window, width=width)
    if found is None or xs.size == 0:
        return {name: np.zeros(0) for name in _BAND_COLUMNS}
    end = float(xs.max()) if x_end is None else max(float(x_end), float(xs[found.start]))
    row = (
        float(xs[found.start]),
        end,
        found.low,
        found.high,
        found.centre,
        found.spread,
        float(found.count),
    )
    return {name: np.array([value]) for name, value in zip(_BAND_COLUMNS, row, strict=True)}


def draw_band(
    fig: Any, source: dict[str, Any], colour: str, *, name: str = "expected"
) -> list[GlyphRenderer[Any]]:
    """Draw the band of *source* (`band_source`) under the other glyphs of *fig*.

    Returns the renderers (the strip and its centre line), for a legend entry.
    """
    data = ColumnDataSource(source, name=name)
    strip = fig.add_glyph(
        data,
        Quad(
            left="x0",
            right="x1",
            bottom="low",
            top="high",
            fill_color=colour,
            fill_alpha=0.13,
            line_color=None,
        ),
        name=name,
        level="underlay",
    )
    centre = fig.add_glyph(
        data,
        Segment(
            x0="x0",
            y0="centre",
            x1="x1",
            y1="centre",
            line_color=colour,
            line_alpha=0.6,
            line_dash="dotted",
            line_width=1.5,
        ),
        name=name,
        level="underlay",
    )
    return [strip, centre]


def main_line_band(
    xs: np.ndarray, values: np.ndarray, on_main: np.ndarray, shown: np.ndarray
) -> dict[str, Any]:
    """The band of a series plot (`vigil.plots.series_data`): the expected range of the
    main line's points drawn (*on_main* and *shown*), reaching the last point drawn."""
    main = on_main & shown
    x_end = float(xs[shown].max()) if shown.any() else None
    return band_source(xs[main], values[main], x_end=x_end)


def main_line_legend(fig: Any, source: dict[str, Any], main_drawn: bool) -> list[LegendItem]:
    """Draw the band of `main_line_band` on a series plot; its legend entry, if the main
    line is drawn (the band then hides on its own, from the legend)."""
    renderers = draw_band(fig, source, MAIN_COLOUR)
    return [LegendItem(label="expected range", renderers=renderers)] if main_drawn else []
