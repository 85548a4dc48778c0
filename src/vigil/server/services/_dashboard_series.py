"""How a metric page chooses and describes its series: periods, bands, dataIds, the
default series and what the page says about its points."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np

from ..domain import SeriesInfo

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "BAND_KEYS",
    "CHANGES_POINTS",
    "DEFAULT_BRANCHES",
    "MAX_POINTS",
    "PERIODS",
    "aware",
    "band_of",
    "default_series",
    "distinct_data_ids",
    "possible_branches",
    "series_message",
]

MAX_POINTS = 20_000
"""At most this many points of a series are drawn; the page says when it cut."""

DEFAULT_BRANCHES = 8
"""How many branches besides the main line a metric plot shows unless asked for others."""

CHANGES_POINTS = 1_000
"""Package changes (shown on hover) are counted for the latest this many points."""

PERIODS: dict[str, timedelta | None] = {
    "7d": timedelta(days=7),
    "30d": timedelta(days=30),
    "90d": timedelta(days=90),
    "1y": timedelta(days=365),
    "all": None,
}
"""The periods a metric page offers, ending at the series' newest job; default ``1y``."""

BAND_KEYS = ("band", "filter", "physical_filter", "abstract_filter")
"""dataId keys that name a filter/band, first found wins."""


def band_of(data_id: Mapping[str, Any]) -> str | None:
    """The band/filter a dataId names (`BAND_KEYS`), or None."""
    for key in BAND_KEYS:
        if key in data_id and data_id[key] is not None:
            return str(data_id[key])
    return None


def aware(value: datetime) -> datetime:
    """*value*, read as UTC when it has no time zone."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def distinct_data_ids(series: Iterable[SeriesInfo]) -> list[dict[str, Any]]:
    """The dataIds of *series*, each once, the shortest first."""
    seen: dict[str, dict[str, Any]] = {}
    for s in series:
        key = repr(sorted(s.data_id.items()))
        seen.setdefault(key, s.data_id)
    return sorted(seen.values(), key=lambda d: (len(d), repr(sorted(d.items()))))


def default_series(
    candidates: Sequence[SeriesInfo], counts: Mapping[int, tuple[int, int]] | None = None
) -> SeriesInfo | None:
    """The richest series: the most points on the main line, then the most points (from
    *counts*: ``series id → (main-line points, all points)``), then the fewest dataId
    keys (the aggregate), then the oldest."""
    if not candidates:
        return None
    counts = counts or {}

    def richness(s: SeriesInfo) -> tuple[int, int, int, int]:
        main, total = counts.get(s.id, (0, 0))
        return (-main, -total, len(s.data_id), s.id)

    return min(candidates, key=richness)


def possible_branches(wanted: Sequence[str] | None, branches: Sequence[str]) -> list[str] | None:
    """The branches of *wanted* that *branches* (those of the chosen series) has; None
    (every branch) when none of them is left: a filter kept from another series that
    would empty the plot is dropped."""
    if not wanted:
        return None
    kept = [b for b in wanted if b in branches]
    return kept or None


def series_message(frame: pd.DataFrame, truncated: bool) -> str | None:
    """What the metric page says above a series' plot (nothing to draw, one point, cut
    short), or None."""
    n = len(frame)
    if n == 0:
        return "No measurements of this series in the selected period and filters."
    finite = int(np.isfinite(frame["value"].to_numpy(dtype=float)).sum())
    if finite == 0:
        return f"All {n} values are NaN (not a number): there is nothing to draw."
    if n == 1:
        return "Only one measurement so far: no trend to show yet."
    if truncated:
        return (
            f"Showing the first {MAX_POINTS:,} points of the period; choose a shorter"
            " period to see the latest."
        )
    return None
