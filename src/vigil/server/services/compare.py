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

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.orm import Session

from vigil.analysis import as_direction
from vigil.verify.units import conversion_factor

from ..config import Settings
from ..database import read_transaction
from ..domain import Artifact, JobSummary, PackageChanges
from ..exceptions import BranchNotFoundError, NotFoundError
from ..storage.artifacts import ArtifactStore
from ..storage.compare import CompareStore
from ..storage.jobs import JobStore
from ..storage.metrics import MetricStore
from ._compare_commits import COMMIT_JOBS, PackageCommit, PackageCommits, commits_between
from ._compare_deltas import (
    DEFAULT_HISTORY,
    MAX_HISTORY,
    MIN_HISTORY,
    SORT_KEYS,
    UNUSUAL_Z,
    CompareQuery,
    SeriesDelta,
    data_id_text,
    judge,
    order_worst_first,
    robust_noise,
    select_deltas,
)
from ._compare_fits import FitsComparison, compare_fits_artifacts, is_fits_name
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
    "FitsComparison",
    "ImagePair",
    "PackageCommit",
    "PackageCommits",
    "SeriesDelta",
    "compare_fits_artifacts",
    "data_id_text",
    "judge",
    "order_worst_first",
    "robust_noise",
    "select_deltas",
]


@dataclass(slots=True)
class BranchActivity:
    """A branch with jobs: how many and when the last one ran."""

    name: str
    jobs: int
    last_run: datetime


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
    images, fits
        Raster images (compared by colour) and FITS images (compared by value) of the
        same name whose content differs.
    identical_images
        Names of images (FITS included) with the same content (SHA-256) in both jobs.
    total
        How many series both jobs measured (``deltas`` holds those the query selects).
    counts
        How many of those series each ``change`` (``worse``, ``within noise``...) has.
    commits
        By package name: the commits of each changed package from A to B, with their
        authors (`vigil.server.services._compare_commits`).
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
    fits: list[ImagePair] = field(default_factory=list)
    identical_images: list[str] = field(default_factory=list)
    images_only_in_a: list[str] = field(default_factory=list)
    images_only_in_b: list[str] = field(default_factory=list)
    packages: PackageChanges | None = None
    commits: dict[str, PackageCommits] = field(default_factory=dict)
    total: int = 0
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def in_common(self) -> bool:
        """Whether the jobs share any series or image name."""
        return bool(self.deltas or self.images or self.fits or self.identical_images)


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
        histories = self._histories(a, common, history)
        deltas = []
        for sid in common:
            va, vb = values_a[sid], values_b[sid]
            metric = metrics.get(va.metric_name)
            unit = metric.unit if metric is not None else va.unit
            direction = metric.direction if metric is not None else None
            direction = direction or _direction_from(operators.get(va.metric_name, set()))
            past = histories[sid]
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
        if packages is not None:
            comparison.commits = self._commits(a, b, packages)
        return comparison

    def _commits(
        self, a: JobSummary, b: JobSummary, packages: PackageChanges
    ) -> dict[str, PackageCommits]:
        """The commits (and authors) of each package whose commit changed from A to B."""
        moved = {
            c.name: (c.before.git_sha, c.after.git_sha)
            for c in packages.changed
            if c.after.git_sha and c.after.git_sha != c.before.git_sha
        }
        a_time, b_time = a.facts.run_at or a.created_at, b.facts.run_at or b.created_at
        if not moved or (a.facts.branch == b.facts.branch and a_time > b_time):
            # Nothing moved, or B is older than A on the same line: no commits lead to B.
            return {}
        rows = self._store.package_commits(
            moved,
            b.facts,
            branch=b.facts.branch,
            at=b_time,
            limit=COMMIT_JOBS,
        )
        # Fewer jobs than the limit carried these packages: the branch was read whole.
        whole_branch = len({r.job_id for r in rows}) < COMMIT_JOBS
        rows = rows[next((i for i, r in enumerate(rows) if r.job_id == b.id), 0) :]
        return {
            name: commits_between(rows, name, before, after, whole_branch=whole_branch)
            for name, (before, after) in sorted(moved.items())
            if after is not None
        }

    def _histories(
        self, a: JobSummary, series_ids: list[int], history: int
    ) -> dict[int, list[tuple[float | None, str]]]:
        """The last *history* values (and units) of each series on job A's branch up to
        job A, by job time, oldest first.

        Read for all series at once from the branch's latest jobs on A's data (a few
        times *history* of them); a series with fewer points there than *history*, when
        the branch has older jobs, is read on its own.
        """
        at = a.facts.run_at or a.created_at
        branch = a.facts.branch
        jobs, whole = self._store.recent_jobs(
            a.facts,
            branch=branch,
            at=at,
            up_to_job_id=a.id,
            limit=_CANDIDATE_JOBS * history + _CANDIDATE_EXTRA,
        )
        values = self._store.values_in_jobs(series_ids, jobs)
        found: dict[int, list[tuple[float | None, str]]] = {}
        for sid in series_ids:
            by_job = values.get(sid, {})
            newest = [by_job[j] for j in jobs if j in by_job][:history]
            if len(newest) < history and not whole:
                found[sid] = self._store.history(
                    sid, branch=branch, at=at, up_to_job_id=a.id, limit=history
                )
            else:
                found[sid] = newest[::-1]
        return found

    def _pair_images(self, comparison: Comparison) -> None:
        files_a = {x.name: x for x in self._artifacts.list_for_job(comparison.a.id) if _image(x)}
        files_b = {x.name: x for x in self._artifacts.list_for_job(comparison.b.id) if _image(x)}
        for name in sorted(files_a.keys() & files_b.keys()):
            fa, fb = files_a[name], files_b[name]
            if fa.sha256 == fb.sha256:
                comparison.identical_images.append(name)
            elif fa.inline and fb.inline:
                comparison.images.append(ImagePair(name, fa, fb))
            elif is_fits_name(name):
                comparison.fits.append(ImagePair(name, fa, fb))
        comparison.images_only_in_a = sorted(files_a.keys() - files_b.keys())
        comparison.images_only_in_b = sorted(files_b.keys() - files_a.keys())


def _image(artifact: Artifact) -> bool:
    """Whether the compare page shows an artifact: a raster image, or FITS by value."""
    return artifact.inline or is_fits_name(artifact.name)


_CANDIDATE_JOBS = 4
_CANDIDATE_EXTRA = 100
"""The latest ``4 history + 100`` jobs of the branch on A's data are read at once for the
noise of every series; only sparser series need a query of their own."""


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
