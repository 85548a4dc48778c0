"""The judging of deltas behind the compare page: noise, unusualness, order, selection.

Pure functions over values (the method is in `vigil.server.services.compare` and
``docs/compare.md``); `CompareService` feeds them from the database.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from vigil.analysis import MIN_DIFFERENCE_HISTORY, difference_sigma, difference_significance

from ..exceptions import InvalidRequestError
from ..storage.compare import SeriesMeasurement

__all__ = [
    "DEFAULT_HISTORY",
    "MAX_HISTORY",
    "MIN_HISTORY",
    "SORT_KEYS",
    "UNUSUAL_Z",
    "CompareQuery",
    "SeriesDelta",
    "data_id_text",
    "judge",
    "order_worst_first",
    "robust_noise",
    "select_deltas",
]


DEFAULT_HISTORY = 30
"""Baseline points the noise of a series is estimated from, by default."""
MAX_HISTORY = 1000
"""The most baseline points a request may ask for."""
MIN_HISTORY = MIN_DIFFERENCE_HISTORY
"""Fewer finite baseline points than this: "not enough history", no unusualness."""
UNUSUAL_Z = 3.0
"""``|z|`` from which a change is called unusual (worse, better or changed)."""

_SORTED = orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS


def robust_noise(values: Sequence[float | None]) -> tuple[float | None, int]:
    """The robust noise of one value of a series and how many finite values it used.

    `vigil.analysis.difference_sigma` (the spread of a difference of two successive
    values) over ``sqrt(2)``: the standard deviation of white Gaussian noise, blind to
    steps, and widened (at most twice) by heavy tails. None with fewer than
    `MIN_HISTORY` values.

    Parameters
    ----------
    values
        The series in time order; None and NaN are skipped.
    """
    sigma, used = difference_sigma(values)
    return (None if sigma is None else sigma / math.sqrt(2.0)), used


SORT_KEYS = ("rank", "metric", "a", "b", "delta", "percent", "z")
"""Columns the deltas can be sorted by; ``rank`` is worst first."""


@dataclass(slots=True)
class CompareQuery:
    """What to compare, and which deltas to show in which order.

    Attributes
    ----------
    a, b
        Two job ids: *b* is judged against *a*.
    branch, baseline, dataset
        Instead: the latest job of *branch* (on *dataset*) against the latest
        comparable job of *baseline* (default: the server's default branch).
    history
        How many baseline points give each series' noise.
    text
        Show only series whose metric name or dataId contains it (any case).
    unusual_only
        Show only changes that stand out of the noise (NaN changes included).
    sort, descending
        One of `SORT_KEYS`; missing values always sort last.
    """

    a: int | None = None
    b: int | None = None
    branch: str | None = None
    baseline: str | None = None
    dataset: str | None = None
    history: int = DEFAULT_HISTORY
    text: str | None = None
    unusual_only: bool = False
    sort: str = "rank"
    descending: bool = False

    def check(self) -> None:
        """Raise `InvalidRequestError` unless the query names one comparison."""
        pair = self.a is not None or self.b is not None
        if pair and self.branch is not None:
            raise InvalidRequestError(
                "Give either two jobs (?a=<id>&b=<id>) or a branch (?branch=<name>), not both.",
                field="branch",
            )
        if self.branch is None and (self.a is None or self.b is None):
            missing = "b" if self.a is not None else "a"
            raise InvalidRequestError(
                f"Give two jobs, ?a=<baseline job id>&b=<job id> (`{missing}` is missing),"
                " or a branch, ?branch=<name>.",
                field=missing,
            )
        if self.branch is not None and not self.branch.strip():
            raise InvalidRequestError("The branch name is empty.", field="branch")
        if not MIN_HISTORY <= self.history <= MAX_HISTORY:
            raise InvalidRequestError(
                f"history must be between {MIN_HISTORY} and {MAX_HISTORY} points,"
                f" not {self.history}.",
                field="history",
            )
        if self.sort not in SORT_KEYS:
            raise InvalidRequestError(
                f"Cannot sort by {self.sort!r}; choose one of {', '.join(SORT_KEYS)}.",
                field="sort",
            )


@dataclass(slots=True)
class SeriesDelta:
    """How one series moved from job *a* to job *b*.

    Attributes
    ----------
    a, b
        The values in the metric's unit; None is NaN.
    delta, percent
        ``b - a`` and ``100 (b - a) / |a|``; None when not defined.
    sigma, history
        The baseline noise of one value (None: fewer than `MIN_HISTORY` points) and how
        many finite baseline points it came from.
    sigma_delta
        The noise of the delta, of a difference of two values: ``sigma * sqrt(2)``.
    p_value
        Two-sided: how often unchanged data differ at least this much.
    z
        The Gaussian-equivalent significance of ``delta / sigma_delta``, signed like the
        delta (None without a sigma, or with a constant history).
    direction
        ``lower`` or ``higher`` is better, or None when unknown.
    change
        ``worse``, ``better``, ``changed``, ``within noise``, ``unchanged``,
        ``became NaN``, ``no longer NaN`` or ``both NaN``.
    unusual
        Whether the change stands out of the noise (None: unknown).
    rank
        Position in the worst-first order (0 = worst).
    dataset
        The series' dataset (with ``metric`` and ``data_id``, what names it on the
        metric page).
    """

    series_key: str
    metric: str
    data_id: dict[str, Any]
    unit: str
    a: float | None
    b: float | None
    delta: float | None
    percent: float | None
    sigma: float | None
    history: int
    z: float | None
    direction: str | None
    change: str
    unusual: bool | None
    score: float = 0.0
    rank: int = 0
    sigma_delta: float | None = None
    p_value: float | None = None
    dataset: str | None = None


def judge(
    series: SeriesMeasurement,
    a: float | None,
    b: float | None,
    *,
    unit: str,
    direction: str | None,
    noise: Sequence[float | None],
) -> SeriesDelta:
    """The delta of one series from *a* to *b*, judged against its baseline *noise* values.

    The significance is that of a difference of two single values of the series
    (`vigil.analysis.difference_significance`).
    """
    judged = difference_significance(noise, a, b)
    worse = _worse_sign(direction)
    delta = percent = z = p_value = None
    unusual: bool | None = None
    score = 0.0
    if a is None or b is None:
        change = {(False, True): "became NaN", (True, False): "no longer NaN"}.get(
            (a is None, b is None), "both NaN"
        )
        unusual = change != "both NaN"
        if change == "became NaN":
            score = math.inf
    else:
        delta = b - a
        percent = 100.0 * delta / abs(a) if a != 0 else None
        if judged.sigma_difference is not None and judged.sigma_difference > 0:
            z, p_value = judged.z, judged.p_value
            assert z is not None
            unusual = abs(z) >= UNUSUAL_Z
            score = z * worse if worse else abs(z)
        elif judged.sigma_difference is not None:
            # A constant history: any change at all stands out.
            unusual = delta != 0
            if delta != 0:
                score = math.copysign(_CONSTANT_SCORE, delta * worse) if worse else _CONSTANT_SCORE
        if delta == 0:
            change = "unchanged"
        elif unusual is False:
            change = "within noise"
        elif worse:
            change = "worse" if delta * worse > 0 else "better"
        else:
            change = "changed"
    return SeriesDelta(
        series_key=series.series_key,
        metric=series.metric_name,
        data_id=series.data_id,
        unit=unit,
        a=a,
        b=b,
        delta=delta,
        percent=percent,
        sigma=judged.sigma,
        history=judged.history,
        z=z,
        direction=direction,
        change=change,
        unusual=unusual,
        score=score,
        sigma_delta=judged.sigma_difference,
        p_value=p_value,
        dataset=series.dataset,
    )


_CONSTANT_SCORE = 1e12
"""The score of a change of a series whose history is constant: beyond any finite z."""


def _worse_sign(direction: str | None) -> float:
    """+1 when a higher value is worse, -1 when a lower one is, 0 when unknown."""
    return {"lower": 1.0, "higher": -1.0}.get(direction or "", 0.0)


def order_worst_first(deltas: list[SeriesDelta]) -> None:
    """Sort *deltas* worst first, in place, and number their ``rank``.

    By score (descending), then by the relative change oriented so that worse is
    larger, then by metric name and dataId for a stable order.
    """

    def key(d: SeriesDelta) -> tuple[float, float, str, str]:
        relative = (d.percent or 0.0) * (_worse_sign(d.direction) or 1.0)
        return (-d.score, -relative, d.metric, orjson.dumps(d.data_id, option=_SORTED).decode())

    deltas.sort(key=key)
    for rank, delta in enumerate(deltas):
        delta.rank = rank


def select_deltas(deltas: Sequence[SeriesDelta], query: CompareQuery) -> list[SeriesDelta]:
    """The deltas *query* shows (its text and unusual filters), in its order.

    ``rank`` orders worst first (descending: best first); other columns sort by value
    with missing values (NaN, unknown z) last in both directions.
    """
    text = (query.text or "").strip().lower()
    chosen = [
        d
        for d in deltas
        if (not query.unusual_only or d.unusual)
        and (not text or text in d.metric.lower() or text in data_id_text(d.data_id).lower())
    ]
    if query.sort == "rank":
        return sorted(chosen, key=lambda d: d.rank, reverse=query.descending)
    # Ties keep the worst-first order in both directions (Python's sort is stable,
    # reverse included); missing values go last. compare.js sorts the same way.
    by_rank = sorted(chosen, key=lambda d: d.rank)
    if query.sort == "metric":
        return sorted(
            by_rank,
            key=lambda d: (d.metric, data_id_text(d.data_id)),
            reverse=query.descending,
        )
    present = [d for d in by_rank if getattr(d, query.sort) is not None]
    missing = [d for d in by_rank if getattr(d, query.sort) is None]
    present.sort(key=lambda d: getattr(d, query.sort), reverse=query.descending)
    return present + missing


def data_id_text(data_id: dict[str, Any]) -> str:
    """A dataId as ``band=r, patch=40`` (keys sorted), what the text filter searches."""
    return ", ".join(f"{k}={v}" for k, v in sorted(data_id.items()))
