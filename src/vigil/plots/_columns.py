"""The columns every series figure draws: numeric, built once per frame."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

import numpy as np
from bokeh.models import CustomJSHover

from ._style import Threshold

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "HOVER_HINT",
    "NO_BRANCH",
    "SIGNIFICANT",
    "PlotData",
    "SeriesColumns",
    "branch_labels",
    "branch_order",
    "commit_numbers",
    "common_pr",
    "formatters",
    "tooltips",
]

NO_BRANCH = "(no branch)"
"""The line of jobs that carry no branch."""

# Every column of the plotted sources is numeric, so that Bokeh sends it as one binary
# buffer: commits travel as the integer of their first 8 hex digits, shown by _HEX, in a
# float64 (exact for 32 bits): BokehJS has no int64 arrays, so Bokeh would send an int64
# column that does not fit int32 as a list, one JSON number per point.
_HEX = "return value < 0 ? '' : value.toString(16).padStart(8, '0')"
_COUNT = "return value < 0 ? 'unknown' : value.toString()"

SIGNIFICANT = r"""
if (value == null || Number.isNaN(value)) return "NaN"
if (!Number.isFinite(value)) return value > 0 ? "inf" : "-inf"
const size = Math.abs(value)
const exponent = (text) => text.replace(/e([+-])(\d)$/, (_, sign, digit) => `e${sign}0${digit}`)
if (value !== 0 && (size >= 1e6 || size < 1e-3)) return exponent(value.toExponential(3))
const text = value.toPrecision(4)
if (text.includes("e")) {
  const [mantissa, power] = text.split("e")
  return exponent(mantissa.replace(/\.?0+$/, "") + "e" + power)
}
return text.includes(".") ? text.replace(/\.?0+$/, "") : text
"""
"""A `CustomJSHover` body showing a value as the pages' ``fmt_value`` does: 4
significant digits, scientific notation below 1e-3 and from 1e6 (``2.963e-05``), never
a small value rounded to 0."""

HOVER_HINT = "click: open the job · shift+click: its code changes below the plot"
"""The last line of a point's hover on the pages' series plots."""


def tooltips(
    *, branch: str = "$name", time: str = "@time", hint: str | None = None
) -> list[tuple[str, str]]:
    """The hover of a series point; *hint* (say `HOVER_HINT`) is shown last."""
    rows = [
        ("job", "@job_id"),
        ("time", time + "{%F %H:%M}"),
        ("branch", branch),
        ("commit", "@commit{hex}"),
        ("value", "@value{significant}"),
        ("packages changed", "@changed{count}"),
    ]
    return rows + ([("", hint)] if hint else [])


def formatters(time: str = "@time") -> dict[str, Any]:
    """The formatters `tooltips` names."""
    # Fresh models per figure: a Bokeh model belongs to one document only.
    return {
        time: "datetime",
        "@commit": CustomJSHover(code=_HEX),
        "@changed": CustomJSHover(code=_COUNT),
        "@value": CustomJSHover(code=SIGNIFICANT),
    }


def branch_order(branches: Sequence[Any], main: str = "main") -> list[str]:
    """Distinct branch names of *branches* (None as `NO_BRANCH`): *main* first, then by
    the position of their last point (most recent last)."""
    last: dict[str, int] = {}
    for i, b in enumerate(branches):
        last[NO_BRANCH if b is None or b != b else str(b)] = i
    others = sorted((b for b in last if b != main), key=last.__getitem__)
    return ([main] if main in last else []) + others


def branch_labels(df: pd.DataFrame) -> np.ndarray:
    if "branch" not in df:
        return np.full(len(df), NO_BRANCH, dtype=object)
    return cast(
        np.ndarray, df["branch"].astype(object).where(df["branch"].notna(), NO_BRANCH).to_numpy()
    )


def _time_ms(df: pd.DataFrame) -> np.ndarray:
    import pandas as pd

    if "time" not in df or len(df) == 0:
        return np.arange(len(df), dtype=float)
    times = pd.to_datetime(df["time"], utc=True)
    # Milliseconds since the epoch, what Bokeh's datetime axis reads.
    return cast(
        np.ndarray,
        times.dt.tz_localize(None).to_numpy(dtype="datetime64[ms]").astype(np.int64) / 1.0,
    )


_HEX_DIGITS = np.full(256, -1, dtype=np.int64)
for _i, _c in enumerate(b"0123456789abcdef"):
    _HEX_DIGITS[_c] = _i
for _i, _c in enumerate(b"ABCDEF"):
    _HEX_DIGITS[_c] = 10 + _i


def commit_numbers(commits: Any) -> np.ndarray:
    """Commits as the integer of their first 8 hex digits (as float64); -1 where unknown.

    Vectorised: one pass over a byte matrix.
    """
    text = ["" if not isinstance(c, str) else c[:8] for c in commits]
    raw = np.array(text, dtype="S8").view(np.uint8).reshape(len(text), 8) if text else None
    if raw is None:
        return np.zeros(0, dtype=float)
    digits = _HEX_DIGITS[raw]
    valid = (digits >= 0).all(axis=1)
    weights = 16 ** np.arange(7, -1, -1, dtype=np.int64)
    numbers = (np.where(digits < 0, 0, digits) * weights).sum(axis=1)
    return np.where(valid, numbers, -1).astype(float)


def _int_column(df: pd.DataFrame, name: str) -> np.ndarray:
    if name not in df:
        return np.full(len(df), -1, dtype=np.int64)
    values = df[name].to_numpy(dtype=float, na_value=np.nan)
    return np.where(np.isnan(values), -1, values).astype(np.int64)


def common_pr(df: pd.DataFrame, index: np.ndarray) -> str:
    if "pull_request" not in df or len(index) == 0:
        return ""
    prs = df["pull_request"].iloc[index].dropna()
    return f"#{int(prs.mode().iloc[0])}" if len(prs) else ""


class SeriesColumns:
    """The numeric columns of a series frame, computed once for every source."""

    def __init__(self, df: pd.DataFrame, x: str) -> None:
        self.values = df["value"].to_numpy(dtype=float) if "value" in df else np.zeros(0)
        self.times = _time_ms(df)
        self.xs = self.times if x == "time" else np.arange(len(df), dtype=float)
        self.job_ids = _int_column(df, "job_id").astype(np.int32)
        self.changed = _int_column(df, "packages_changed").astype(np.int32)
        self.commits = (
            commit_numbers(df["commit_sha"].to_numpy(dtype=object))
            if "commit_sha" in df
            else np.full(len(df), -1.0)
        )

    def data(self, index: np.ndarray) -> dict[str, Any]:
        data = {
            "x": self.xs[index],
            "value": self.values[index],
            "job_id": self.job_ids[index],
            "commit": self.commits[index],
            "changed": self.changed[index],
        }
        if self.xs is not self.times:
            data["time"] = self.times[index]
        return data


@dataclass(slots=True)
class PlotData:
    """What a figure draws, computed from a DataFrame.

    ``sources`` maps the name of each ColumnDataSource of the figure to its columns;
    ``layout`` is everything else the figure depends on (lines, colours, thresholds),
    hashable: two `PlotData` with one layout give figures that differ only in the
    sources' data. A page can therefore reuse a figure built once per layout.
    """

    sources: dict[str, dict[str, Any]]
    layout: tuple[Any, ...]
    thresholds: list[Threshold] = field(default_factory=list)
