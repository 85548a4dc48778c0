"""The overview's small multiples: one inline SVG sparkline per key metric.

Drawn on the server (no script, nothing to lay out in the browser): the series' recent
main-line values in job order, the main specification's threshold as a dashed line,
and the newest value as a dot coloured by its verdict. Only numbers computed here go
into attributes; every string (names, units) is escaped where it lands.
"""

from __future__ import annotations

from markupsafe import Markup, escape

from ...services.dashboard import KeyMetric
from ._format import data_id_text, fmt_time, fmt_value

__all__ = ["SPARK_HEIGHT", "SPARK_WIDTH", "sparkline", "sparkline_title"]

SPARK_WIDTH = 220
SPARK_HEIGHT = 56
_PAD = 5.0


def _y_range(values: list[float], threshold: float | None) -> tuple[float, float, bool]:
    """The drawn value range, and whether the threshold lies in it.

    The threshold widens the range only when it lies within one data span of the values:
    further away, it would flatten the history into a line.
    """
    lo, hi = min(values), max(values)
    span = hi - lo or abs(hi) * 0.1 or 1.0
    shown = threshold is not None and lo - span <= threshold <= hi + span
    if shown and threshold is not None:
        lo, hi = min(lo, threshold), max(hi, threshold)
    if hi == lo:
        lo, hi = lo - span / 2, hi + span / 2
    return lo, hi, shown


def sparkline_title(key: KeyMetric) -> str:
    """What the sparkline shows, in words (its tooltip and accessible name)."""
    first, last = key.points[0], key.latest
    where = ", ".join(p for p in (key.dataset or "", data_id_text(key.data_id)) if p)
    text = (
        f"{key.metric}{f' ({where})' if where else ''}: {len(key.points)} main-line values,"
        f" {fmt_time(first.time)} to {fmt_time(last.time)}; latest"
        f" {fmt_value(last.value)} {key.unit}".rstrip()
    )
    if key.spec is not None and key.threshold is not None:
        text += (
            f"; {key.spec_short_name} {key.spec.threshold_operator}"
            f" {fmt_value(key.threshold)} {key.unit}".rstrip()
            + f": {key.status}"
        )
    return text


def sparkline(key: KeyMetric, *, width: int = SPARK_WIDTH, height: int = SPARK_HEIGHT) -> Markup:
    """An inline SVG of *key*'s recent values against its main specification."""
    values = [p.value for p in key.points]
    lo, hi, threshold_shown = _y_range(values, key.threshold)
    inner_w, inner_h = width - 2 * _PAD, height - 2 * _PAD

    def x(i: int) -> float:
        return _PAD + (inner_w * i / (len(values) - 1) if len(values) > 1 else inner_w / 2)

    def y(v: float) -> float:
        return _PAD + inner_h * (hi - v) / (hi - lo)

    title = escape(sparkline_title(key))
    parts = [
        f'<svg class="spark" viewBox="0 0 {width} {height}" width="{width}" height="{height}"'
        f' role="img" aria-label="{title}" data-testid="sparkline"><title>{title}</title>'
    ]
    if threshold_shown and key.threshold is not None:
        ty = y(key.threshold)
        parts.append(
            f'<line class="spark-spec" x1="{_PAD:.1f}" y1="{ty:.1f}" x2="{width - _PAD:.1f}"'
            f' y2="{ty:.1f}"/>'
        )
    elif key.threshold is not None:
        # Far outside the values: the line sits on the edge it lies beyond, faint.
        ty = 1.0 if key.threshold > hi else height - 1.0
        parts.append(
            f'<line class="spark-spec off" x1="{_PAD:.1f}" y1="{ty:.1f}" x2="{width - _PAD:.1f}"'
            f' y2="{ty:.1f}" data-testid="spec-off-range"/>'
        )
    line = " ".join(f"{x(i):.1f},{y(v):.1f}" for i, v in enumerate(values))
    parts.append(f'<polyline class="spark-line" points="{line}"/>')
    status = key.status if key.status in ("pass", "fail") else "none"
    parts.append(
        f'<circle class="spark-last {status}" cx="{x(len(values) - 1):.1f}"'
        f' cy="{y(values[-1]):.1f}" r="3"/>'
    )
    parts.append("</svg>")
    # Every interpolated string above is a number formatted here or the escaped title.
    return Markup("".join(parts))  # noqa: S704
