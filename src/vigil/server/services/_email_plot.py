"""A small PNG of a series around a change, drawn without a browser, for emails.

Pillow draws it (about 480x200 px, a few milliseconds): the main-line values from
`BEFORE` points before the first bad job to `AFTER` points after it, the levels before
and after the change as lines, the first bad job marked, and the axes labelled (the
value axis with the unit). Missing values (NaN) are left out; a series with one point
still draws; a series with no number at all gives no plot (None), never an error.
"""

from __future__ import annotations

import io
import itertools
import math
from collections.abc import Sequence
from datetime import UTC, datetime
from functools import cache

from PIL import Image, ImageDraw, ImageFont

from ..domain.regressions import SeriesValue
from ._rows import finite

__all__ = ["AFTER", "BEFORE", "HEIGHT", "WIDTH", "change_plot"]

WIDTH = 480
HEIGHT = 200
BEFORE = 30
"""Points shown before the first bad job."""
AFTER = 10
"""Points shown after the first bad job (it included)."""

# Drawn at twice the size and scaled down: Pillow's lines are not antialiased.
_SCALE = 2
_LEFT, _RIGHT, _TOP, _BOTTOM = 58, 12, 18, 36
_INK = (40, 40, 40)
_GRID = (225, 225, 225)
_POINT = (31, 119, 180)
_BEFORE_LEVEL = (44, 160, 44)
_AFTER_LEVEL = (214, 39, 40)
_MARK = (150, 150, 150)


@cache
def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=size * _SCALE)


def _tick(value: float) -> str:
    if not math.isfinite(value):
        return ""
    if value != 0 and (abs(value) >= 1e5 or abs(value) < 1e-3):
        return f"{value:.2e}"
    return f"{value:.4g}"


def _date(value: datetime) -> str:
    if value.tzinfo is not None:
        value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%d")


def change_plot(
    values: Sequence[SeriesValue],
    first_bad_job_id: int,
    *,
    before: float | None = None,
    after: float | None = None,
    unit: str = "",
    label: str = "",
) -> bytes | None:
    """A PNG of *values* (a main line in time order) around the job *first_bad_job_id*.

    Parameters
    ----------
    values
        The series' main-line values, oldest first (None for a missing value).
    first_bad_job_id
        The first job at the new level: marked, with `BEFORE` points before it and
        `AFTER` from it on.
    before, after
        The levels before and after the change, drawn as lines (left out if None).
    unit
        The unit of the values, on the value axis.
    label
        What the values are (the metric name), on the value axis before the unit.

    Returns
    -------
    bytes or None
        The PNG, or None when the window holds no finite value (nothing to draw).
    """
    index = next((i for i, v in enumerate(values) if v.job_id == first_bad_job_id), None)
    if index is None:
        # The job is not on the main line (any more): show the latest points instead.
        index = max(len(values) - AFTER, 0)
    window = list(values[max(index - BEFORE, 0) : index + AFTER])
    change_at = index - max(index - BEFORE, 0)
    points = [(i, y) for i, v in enumerate(window) if (y := finite(v.value)) is not None]
    if not points:
        return None
    levels = [finite(before), finite(after)]
    # Drawn in units of the largest magnitude, so that no difference overflows (1e308).
    scale = max(abs(y) for y in [y for _, y in points] + [y for y in levels if y is not None])
    scale = scale or 1.0
    points = [(i, y / scale) for i, y in points]
    levels = [None if y is None else y / scale for y in levels]
    ys = [y for _, y in points] + [y for y in levels if y is not None]
    low, high = min(ys), max(ys)
    span = high - low
    if span <= 0:
        span = abs(high) * 0.1 or 1.0
        low, high = low - span / 2, high + span / 2
    low, high = low - span * 0.08, high + span * 0.08

    s = _SCALE
    image = Image.new("RGB", (WIDTH * s, HEIGHT * s), "white")
    draw = ImageDraw.Draw(image)
    x0, x1 = _LEFT * s, (WIDTH - _RIGHT) * s
    y0, y1 = _TOP * s, (HEIGHT - _BOTTOM) * s
    count = max(len(window) - 1, 1)

    def px(i: float) -> float:
        return x0 + (x1 - x0) * (i / count if len(window) > 1 else 0.5)

    def py(y: float) -> float:
        scaled = y1 - (y1 - y0) * (y - low) / (high - low)
        return min(max(scaled, y0 - s), y1 + s)

    small = _font(10)
    for fraction in (0.0, 0.5, 1.0):
        value = low + (high - low) * fraction
        y = py(value)
        draw.line([(x0, y), (x1, y)], fill=_GRID, width=s)
        draw.text((x0 - 4 * s, y), _tick(value * scale), fill=_INK, font=small, anchor="rm")
    draw.rectangle([x0, y0, x1, y1], outline=_INK, width=s)

    # The change: a dashed line at the first bad job, and the levels on both sides.
    if 0 <= change_at < len(window):
        xc = px(change_at - 0.5) if change_at > 0 else px(0)
        dash = 6 * s
        for y in range(int(y0), int(y1), 2 * dash):
            draw.line([(xc, y), (xc, min(y + dash, y1))], fill=_MARK, width=s)
        draw.text((xc, y0 - 2 * s), "first bad", fill=_INK, font=small, anchor="md")
        if levels[0] is not None and change_at > 0:
            y = py(levels[0])
            draw.line([(px(0), y), (xc, y)], fill=_BEFORE_LEVEL, width=2 * s)
        if levels[1] is not None:
            y, end = py(levels[1]), px(len(window) - 1) if len(window) > 1 else x1
            draw.line([(xc, y), (end, y)], fill=_AFTER_LEVEL, width=2 * s)

    # The values: a line through consecutive finite points, a dot on each.
    for (i, a), (j, b) in itertools.pairwise(points):
        if j == i + 1:
            draw.line([(px(i), py(a)), (px(j), py(b))], fill=_POINT, width=s)
    radius = 2.5 * s
    for i, y in points:
        x, yy = px(i), py(y)
        draw.ellipse([x - radius, yy - radius, x + radius, yy + radius], fill=_POINT)

    # Axes: dates under the first, the first bad and the last point; the unit at the side.
    # (a date is about 60 px wide: one too close to the first bad job's is left out)
    dates = [(change_at, "ma")] if 0 <= change_at < len(window) else []
    for i, anchor in ((0, "la"), (len(window) - 1, "ra")):
        if all(abs(px(i) - px(j)) >= 70 * s for j, _ in dates):
            dates.append((i, anchor))
    for i, anchor in dates:
        draw.text((px(i), y1 + 3 * s), _date(window[i].time), fill=_INK, font=small, anchor=anchor)
    draw.text(
        ((x0 + x1) / 2, HEIGHT * s - 2 * s),
        "run time (UTC), main line",
        fill=_INK,
        font=small,
        anchor="md",
    )
    axis = f"{label} [{unit}]" if unit else (label or "value")
    text = Image.new("RGB", (int(y1 - y0), 14 * s), "white")
    ImageDraw.Draw(text).text(
        (text.width / 2, text.height / 2), axis[:60], fill=_INK, font=small, anchor="mm"
    )
    image.paste(text.rotate(90, expand=True), (0, int(y0)))

    out = io.BytesIO()
    small_image = image.resize((WIDTH, HEIGHT), Image.Resampling.LANCZOS)
    # A palette of 64 colours: a third of the bytes, and the same look for a line plot.
    small_image.quantize(64).save(out, format="PNG", optimize=True)
    return out.getvalue()
