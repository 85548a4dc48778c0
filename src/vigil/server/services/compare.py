"""Compare two jobs: metric deltas judged against the noise of a difference, and images.

The method (``docs/compare.md``; the statistics are `vigil.analysis.difference_significance`,
``docs/analysis.md``):

- A *delta* is computed for every series measured by both jobs: ``b - a`` and
  ``100 (b - a) / |a|``, both in the metric's unit.
- The *noise* comes from the series' last ``history`` points (NaN skipped) on job *a*'s
  branch, up to and including job *a*: the spread of their successive differences
  (robust: the larger of 1.4826 MAD and a tail estimate, see the docs), which is the
  spread of a difference of two values. Two values of an unchanged series differ by
  about ``sigma * sqrt(2)``: that, ``sigma_delta``, is what the delta is judged against.
  Fewer than `MIN_HISTORY` values: no noise ("not enough history").
- The *unusualness* ``z`` is the Gaussian-equivalent significance of ``delta /
  sigma_delta`` (referred to a Student t for the uncertainty of the noise estimate and
  heavier tails than Gaussian); ``|z| >= UNUSUAL_Z`` is unusual, which two unchanged
  main-line jobs show on about 0.1 % of their series. With the metric's direction (its
  own, else the one its specifications' operators agree on) an unusual change is
  ``worse`` or ``better``, else ``changed``.
- Rows are ordered worst first by a score: +inf for a value that became NaN, the
  direction-aware ``z`` (positive when worse; ``|z|`` without a direction), 0 when the
  noise is unknown; ties by the direction-aware relative change.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy.orm import Session

from vigil.analysis import (
    MIN_DIFFERENCE_HISTORY,
    as_direction,
    difference_sigma,
    difference_significance,
)
from vigil.verify.units import conversion_factor

from ..config import Settings
from ..database import read_transaction
from ..domain import Artifact, JobSummary, PackageChanges
from ..exceptions import BranchNotFoundError, InvalidRequestError, NotFoundError
from ..storage.artifacts import ArtifactStore
from ..storage.compare import CompareStore, SeriesMeasurement
from ..storage.jobs import JobStore
from ..storage.metrics import MetricStore
from .jobs import JobService

__all__ = [
    "DEFAULT_HISTORY",
    "MAX_HISTORY",
    "MIN_HISTORY",
    "SORT_KEYS",
    "UNUSUAL_Z",
    "BranchActivity",
    "CompareQuery",
    "CompareService",
    "Comparison",
    "ImagePair",
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
class BranchActivity:
    """A branch with jobs: how many and when the last one ran."""

    name: str
    jobs: int
    last_run: datetime


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


@dataclass(slots=True)
class ImagePair:
    """Two different images of the same name, one per job."""

    name: str
    a: Artifact
    b: Artifact


@dataclass(slots=True)
class Comparison:
    """Job *b* beside job *a* (its baseline).

    Attributes
    ----------
    mode
        ``jobs`` (two job ids given) or ``branch`` (a branch's latest job and the
        latest comparable job of the baseline branch).
    history_branch
        The branch whose points give each series' noise (job *a*'s branch).
    only_in_a, only_in_b
        How many series only one job measured.
    identical_images
        Names of images with the same content (SHA-256) in both jobs.
    total
        How many series both jobs measured (``deltas`` holds those the query selects).
    counts
        How many of those series each ``change`` (``worse``, ``within noise``...) has.
    """

    mode: str
    a: JobSummary
    b: JobSummary
    history_branch: str | None
    history_limit: int
    deltas: list[SeriesDelta]
    only_in_a: int
    only_in_b: int
    images: list[ImagePair] = field(default_factory=list)
    identical_images: list[str] = field(default_factory=list)
    images_only_in_a: list[str] = field(default_factory=list)
    images_only_in_b: list[str] = field(default_factory=list)
    packages: PackageChanges | None = None
    total: int = 0
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def in_common(self) -> bool:
        """Whether the jobs share any series or image name."""
        return bool(self.deltas or self.images or self.identical_images)


class CompareService:
    """Puts one job beside another: deltas, unusualness, images and code changes.

    Parameters
    ----------
    session
        The database session (read only).
    settings
        Server settings (the default branch).
    jobs
        The job service, for the package changes.
    store, job_store, metrics, artifacts
        The stores it works on.
    """

    def __init__(
        self,
        session: Session,
        settings: Settings,
        jobs: JobService,
        *,
        store: CompareStore,
        job_store: JobStore,
        metrics: MetricStore,
        artifacts: ArtifactStore,
    ) -> None:
        self._session = session
        self._settings = settings
        self._jobs_service = jobs
        self._store = store
        self._jobs = job_store
        self._metrics = metrics
        self._artifacts = artifacts

    def compare(self, query: CompareQuery) -> Comparison:
        """The comparison *query* asks for, its deltas filtered and sorted as it says.

        Either two jobs (``a`` the baseline, ``b`` the one judged), or the latest job of
        ``branch`` against the latest comparable job of ``baseline`` (default: the
        server's default branch): same dataset, instrument, filter and environment, run
        at or before the branch's job.

        Raises
        ------
        InvalidRequestError
            Neither two jobs nor a branch, both, or an out-of-range ``history``.
        JobNotFoundError
            A job does not exist.
        BranchNotFoundError
            No job ran on the branch.
        NotFoundError
            No comparable baseline job exists.
        """
        query.check()
        with read_transaction(self._session):
            if query.branch is not None:
                a_id, b_id = self._branch_pair(query)
                mode = "branch"
            else:
                assert query.a is not None and query.b is not None
                a_id, b_id, mode = query.a, query.b, "jobs"
            comparison = self._compare(mode, a_id, b_id, query.history)
        comparison.total = len(comparison.deltas)
        comparison.counts = dict(Counter(d.change for d in comparison.deltas))
        comparison.deltas = select_deltas(comparison.deltas, query)
        return comparison

    def recent_branches(self, limit: int = 50) -> list[BranchActivity]:
        """Branches other than the default one, most recently active first."""
        with read_transaction(self._session):
            return [
                BranchActivity(name, count, last)
                for name, count, last in self._store.recent_branches(
                    exclude=self._settings.default_branch, limit=limit
                )
            ]

    def _branch_pair(self, query: CompareQuery) -> tuple[int, int]:
        branch = query.branch
        assert branch is not None
        baseline = query.baseline or self._settings.default_branch
        dataset = query.dataset
        latest = self._store.latest_job_id(branch, dataset)
        if latest is None:
            on = f" on dataset {dataset!r}" if dataset else ""
            raise BranchNotFoundError(
                f"No job ran on the branch {branch!r}{on}. Check the branch name on the"
                " jobs page, or compare two jobs with ?a=<job id>&b=<job id>."
            )
        summary = self._jobs.get_summary(latest)
        assert summary is not None
        facts = summary.facts
        at = facts.run_at or summary.created_at
        base = self._store.latest_comparable_job_id(facts, branch=baseline, at=at)
        if base is None:
            raise NotFoundError(
                f"No job of the baseline branch {baseline!r} ran on dataset"
                f" {facts.dataset!r} (instrument {facts.instrument!r}, filter"
                f" {facts.filter_name!r}, environment {facts.environment!r}) at or before"
                f" job {latest} of {branch!r} ({at:%Y-%m-%d %H:%M} UTC). Choose another"
                " baseline with ?baseline=<branch>, or compare two jobs with ?a=&b=."
            )
        return base, latest

    def _compare(self, mode: str, a_id: int, b_id: int, history: int) -> Comparison:
        packages = self._jobs_service.package_changes(a_id, b_id)  # raises if either is unknown
        a = self._jobs.get_summary(a_id)
        b = self._jobs.get_summary(b_id)
        assert a is not None and b is not None
        values_a = {v.series_id: v for v in self._store.job_values(a_id)}
        values_b = {v.series_id: v for v in self._store.job_values(b_id)}
        common = [sid for sid in values_a if sid in values_b]
        metric_names = {values_a[sid].metric_name for sid in common}
        metrics = self._metrics.get_many(metric_names)
        operators = self._store.spec_operators(metric_names)
        deltas = []
        for sid in common:
            va, vb = values_a[sid], values_b[sid]
            metric = metrics.get(va.metric_name)
            unit = metric.unit if metric is not None else va.unit
            direction = metric.direction if metric is not None else None
            direction = direction or _direction_from(operators.get(va.metric_name, set()))
            past = self._store.history(sid, branch=a.facts.branch, up_to_job_id=a_id, limit=history)
            noise_values = [_in_unit(v, u, unit) for v, u in past]
            deltas.append(
                judge(
                    va,
                    _in_unit(va.value, va.unit, unit),
                    _in_unit(vb.value, vb.unit, unit),
                    unit=unit,
                    direction=direction,
                    noise=noise_values,
                )
            )
        order_worst_first(deltas)
        comparison = Comparison(
            mode=mode,
            a=a,
            b=b,
            history_branch=a.facts.branch,
            history_limit=history,
            deltas=deltas,
            only_in_a=len(values_a.keys() - values_b.keys()),
            only_in_b=len(values_b.keys() - values_a.keys()),
            packages=packages,
        )
        self._pair_images(comparison)
        return comparison

    def _pair_images(self, comparison: Comparison) -> None:
        files_a = {x.name: x for x in self._artifacts.list_for_job(comparison.a.id) if x.inline}
        files_b = {x.name: x for x in self._artifacts.list_for_job(comparison.b.id) if x.inline}
        for name in sorted(files_a.keys() & files_b.keys()):
            fa, fb = files_a[name], files_b[name]
            if fa.sha256 == fb.sha256:
                comparison.identical_images.append(name)
            else:
                comparison.images.append(ImagePair(name, fa, fb))
        comparison.images_only_in_a = sorted(files_a.keys() - files_b.keys())
        comparison.images_only_in_b = sorted(files_b.keys() - files_a.keys())


def _direction_from(operators: set[str]) -> str | None:
    """The direction the threshold operators agree on, or None."""
    directions = set()
    for operator in operators:
        try:
            directions.add(as_direction(operator))
        except ValueError:
            directions.add(None)
    return directions.pop() if len(directions) == 1 else None


def _in_unit(value: float | None, unit: str, target: str) -> float | None:
    if value is None or unit == target:
        return value
    factor = conversion_factor(unit, target)
    return value * factor if factor is not None else value


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
