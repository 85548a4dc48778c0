"""Several series of one metric on one plot: the reads behind the overlay page.

The series are those of the metric whose dataId contains a given partial dataId
(``{"patch": 40}`` matches ``{"tract": 9813, "patch": 40, "band": "i"}``), compared as
the API's ``/api/series?data_id=`` compares them, on one dataset. They are grouped by a
dataId key (``band``, ``patch``, ``tract``...), by dataset, or not at all (``series``):
each group is one line, drawn from the series of the group with the fewest dataId keys
(its aggregate), so that ``by=band`` over per-patch and per-band series draws the bands.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

import orjson
from sqlalchemy.orm import Session

from vigil.plots.overlay import OVERLAY_COLOURS, ExpectedRange, expected_range

from ..database import read_transaction
from ..domain import MetricInfo, SeriesInfo
from ..exceptions import InvalidRequestError, MetricNotFoundError
from ..storage import MetricStore
from ..storage.dashboard import DashboardStore
from ._dashboard_series import MAX_POINTS, PERIODS, aware, band_of
from ._dashboard_views import points_frame
from .series import SeriesQuery, SeriesService

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "BY_DATASET",
    "BY_SERIES",
    "MATCH_LIMIT",
    "MAX_LINES",
    "OverlayLine",
    "OverlayQuery",
    "OverlayService",
    "OverlayView",
]

MAX_LINES = len(OVERLAY_COLOURS)
"""At most this many lines are drawn; the page names the groups left out."""

MATCH_LIMIT = 5_000
"""At most this many matching series are grouped; the page says when it cut."""

BY_DATASET = "dataset"
"""Group by dataset (``by=dataset``) rather than by a dataId key."""

BY_SERIES = "series"
"""No grouping (``by=series``): each matching series is a line."""

# The photometric bands in wavelength order; other values follow, sorted.
_BAND_ORDER = {b: i for i, b in enumerate("ugrizy")}


@dataclass(slots=True)
class OverlayQuery:
    """The state of an overlay page, all of it in the query string."""

    by: str = "band"
    dataset: str | None = None
    data_id: dict[str, Any] | None = None
    x: Literal["time", "commit"] = "time"
    period: str = "1y"
    branch: str | None = None
    """The branch drawn; None is the main line."""


@dataclass(slots=True)
class OverlayLine:
    """One line of the overlay: a series, its points and its expected range."""

    label: str
    series: SeriesInfo
    frame: pd.DataFrame
    expected: ExpectedRange | None
    """The robust range of its recent main-line values (None: none to summarise)."""
    others: int = 0
    """Matching series of the same group not drawn (they have more dataId keys)."""
    truncated: bool = False


@dataclass(slots=True)
class OverlayView:
    """An overlay page: the lines drawn and what the filters offer."""

    metric: MetricInfo
    query: OverlayQuery
    """The query with its defaults filled in (the dataset chosen, the branch)."""
    lines: list[OverlayLine]
    main_branch: str
    matched: int
    """Series of the metric whose dataId contains the query's, on the dataset."""
    matched_truncated: bool
    without_key: int
    """Matching series without the grouping key (not drawn)."""
    omitted: list[str]
    """Labels of the groups beyond `MAX_LINES`, not drawn."""
    keys: list[str]
    """What the lines can be grouped by: ``dataset``, dataId keys, ``series``."""
    datasets: list[str]
    since: datetime | None
    message: str | None = None
    data_ids: list[dict[str, Any]] = field(default_factory=list)
    """The dataIds of the matching series, each once (shortest first), for the picker."""


class OverlayService:
    """Reads several series of a metric for one plot.

    Parameters
    ----------
    session
        The database session; every call ends with a rollback (reads only).
    main_branch
        The name of the main line.
    series
        The series service: matching (as the API does) and reading points.
    metrics, store
        The stores the page reads.
    """

    def __init__(
        self,
        session: Session,
        main_branch: str,
        series: SeriesService,
        *,
        metrics: MetricStore,
        store: DashboardStore,
    ) -> None:
        self._session = session
        self._main = main_branch
        self._series = series
        self._metrics = metrics
        self._store = store

    def overlay(self, name: str, query: OverlayQuery) -> OverlayView:
        """The series of metric *name* that *query* selects, one line per group.

        Raises
        ------
        MetricNotFoundError
            No metric has this name.
        InvalidRequestError
            An unknown period, or an empty grouping key.
        """
        if query.period not in PERIODS:
            raise InvalidRequestError(
                f"period must be one of {', '.join(PERIODS)}, not {query.period!r}.",
                field="period",
            )
        if not query.by.strip():
            raise InvalidRequestError(
                "by must name a dataId key (band, patch, tract...), dataset or series.",
                field="by",
            )
        with read_transaction(self._session):
            metric = self._metrics.get(name)
        if metric is None:
            raise MetricNotFoundError(
                f"No metric is named {name!r}. The metrics page lists every metric this"
                " server knows."
            )
        page = self._series.list_series(metric=name, data_id=query.data_id, limit=MATCH_LIMIT)
        found = page.items
        datasets = sorted({s.dataset for s in found if s.dataset is not None})
        dataset = query.dataset
        if dataset is None and query.by != BY_DATASET and found:
            # One dataset at a time: a band of two datasets would be two series.
            counts: dict[str | None, int] = {}
            for s in found:
                counts[s.dataset] = counts.get(s.dataset, 0) + 1
            dataset = max(sorted(counts, key=str), key=counts.__getitem__)
        if dataset is not None or query.by != BY_DATASET:
            found = [s for s in found if s.dataset == dataset]
        groups, without_key = _groups(found, query.by)
        branch = query.branch or self._main
        drawn = groups[:MAX_LINES]
        since = self._since([g.series for g in drawn], query.period)
        lines = [self._line(g, branch, since) for g in drawn]
        effective = replace(query, dataset=dataset, branch=branch)
        return OverlayView(
            metric=metric,
            query=effective,
            lines=lines,
            main_branch=self._main,
            matched=len(found),
            matched_truncated=page.next_cursor is not None,
            without_key=without_key,
            omitted=[g.label for g in groups[MAX_LINES:]],
            keys=_keys(found),
            datasets=datasets,
            since=since,
            message=_message(name, effective, found, lines, without_key),
            data_ids=_distinct(found),
        )

    def _since(self, series: Sequence[SeriesInfo], period: str) -> datetime | None:
        """The start of *period* before the newest job of any of *series*."""
        span = PERIODS[period]
        if span is None or not series:
            return None
        with read_transaction(self._session):
            times = [t for s in series if (t := self._store.last_time(s.id)) is not None]
        return max(aware(t) for t in times) - span if times else None

    def _line(self, group: _Group, branch: str, since: datetime | None) -> OverlayLine:
        history = self._series.history(
            group.series.series_key,
            SeriesQuery(branch=branch, since=since),
            limit=MAX_POINTS,
        )
        frame = points_frame(history.points.items, {})
        expected = None
        if branch == self._main:
            expected = expected_range(frame["value"].to_numpy(dtype=float))
        return OverlayLine(
            label=group.label,
            series=group.series,
            frame=frame,
            expected=expected,
            others=group.others,
            truncated=history.points.next_cursor is not None,
        )


@dataclass(slots=True)
class _Group:
    label: str
    order: tuple[Any, ...]
    series: SeriesInfo
    others: int = 0


def _groups(found: Sequence[SeriesInfo], by: str) -> tuple[list[_Group], int]:
    """One group per value of *by* (its aggregate series drawn), in a natural order;
    and how many series have no value of *by*."""
    groups: dict[bytes, _Group] = {}
    without = 0
    for s in found:
        if by == BY_SERIES:
            key, label, order = s.series_key.encode(), _series_label(s), ()
        else:
            value = _value_of(s, by)
            if value is None:
                without += 1
                continue
            key = orjson.dumps(value, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS)
            label = str(value) if by in (BY_DATASET, "band") else f"{by}={_text(value)}"
            order = _natural(value, band=by == "band")
        group = groups.get(key)
        if group is None:
            groups[key] = _Group(label, order, s)
        else:
            group.others += 1
            # The aggregate of the group: its fewest dataId keys, then the oldest.
            if (len(s.data_id), s.id) < (len(group.series.data_id), group.series.id):
                group.series = s
    ordered = sorted(groups.values(), key=lambda g: (g.order, g.label))
    _unique_labels(ordered)
    return ordered, without


def _value_of(series: SeriesInfo, by: str) -> Any:
    if by == BY_DATASET:
        return series.dataset
    if by == "band":
        return band_of(series.data_id)
    return series.data_id.get(by)


def _natural(value: Any, *, band: bool) -> tuple[Any, ...]:
    """Bands by wavelength, numbers by value, then text."""
    if band and str(value) in _BAND_ORDER:
        return (0, _BAND_ORDER[str(value)], "")
    if isinstance(value, int | float) and not isinstance(value, bool):
        number = float(value) if abs(value) < 1e308 else 0.0
        return (1, number if number == number else 0.0, "")
    return (2, 0, _text(value))


def _text(value: Any) -> str:
    return value if isinstance(value, str) else orjson.dumps(value).decode()


def _series_label(series: SeriesInfo) -> str:
    text = ", ".join(f"{k}={_text(v)}" for k, v in sorted(series.data_id.items()))
    return text or "(aggregate)"


def _unique_labels(groups: Sequence[_Group]) -> None:
    """Legend labels must differ: a repeated one (the text "40" after the number 40)
    gets its series' id."""
    seen: set[str] = set()
    for g in groups:
        if g.label in seen:
            g.label = f"{g.label} (#{g.series.id})"
        seen.add(g.label)


def _keys(found: Sequence[SeriesInfo]) -> list[str]:
    keys = sorted({k for s in found for k in s.data_id})
    return [BY_DATASET, *keys, BY_SERIES]


def _distinct(found: Sequence[SeriesInfo]) -> list[dict[str, Any]]:
    seen: dict[bytes, dict[str, Any]] = {}
    for s in found:
        key = orjson.dumps(s.data_id, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS)
        seen.setdefault(key, s.data_id)
    return sorted(seen.values(), key=lambda d: (len(d), _text(d)))[:200]


def _message(
    name: str,
    query: OverlayQuery,
    found: Sequence[SeriesInfo],
    lines: Sequence[OverlayLine],
    without_key: int,
) -> str | None:
    """What the page says above the plot when there is nothing (or little) to draw."""
    if not found:
        wanted = f" whose dataId contains {_text(query.data_id)}" if query.data_id else ""
        where = f" on {query.dataset}" if query.dataset else ""
        return f"No series of {name}{wanted}{where}."
    if not lines:
        return (
            f"None of the {len(found)} matching series has a dataId key {query.by!r}:"
            " choose another grouping."
        )
    if not any(len(line.frame) for line in lines):
        return f"No measurements on {query.branch} in the selected period."
    if without_key:
        verb = "is" if without_key == 1 else "are"
        return f"{without_key} matching series without {query.by!r} {verb} not drawn."
    return None
