"""The web dashboard's reads: overview, metric history, job, per-dataId values.

Every method reads in one transaction (rolled back at the end: nothing is written) and
returns plain dataclasses that the HTML pages and their JSON twins both render.
Specifications are evaluated as `vigil.verify.Job.evaluate` does: a specification
applies when its ``metadata_query`` matches the job's ``meta`` together with the
measurement's dataId; values convert to the threshold's unit; NaN gives no verdict.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from operator import attrgetter
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from sqlalchemy.orm import Session

from vigil.verify import ThresholdSpecification, VerifyError, query_metadata
from vigil.verify.units import convert

from ..cache import LruCache
from ..config import Settings
from ..domain import (
    Artifact,
    Blob,
    JobDetail,
    JobSummary,
    MetricInfo,
    PackageChanges,
    Page,
    SeriesInfo,
    SeriesPoint,
    SpecificationInfo,
)
from ..domain.analysis_settings import AnalysisSettings, MetricAnalysisSettings
from ..domain.regressions import RegressionMarker
from ..exceptions import InvalidRequestError, MetricNotFoundError, NotFoundError
from ..storage import JobFilter, JobStore, MetricStore, SeriesStore, SpecificationStore
from ..storage.dashboard import Counts, DashboardStore, JobValue
from ..storage.regressions import RegressionStore
from ._dashboard_cache import DashboardCache, SeriesFrame
from .artifacts import ArtifactService
from .jobs import JobService
from .series import SeriesQuery, SeriesService

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "BAND_KEYS",
    "MAX_POINTS",
    "PERIODS",
    "BranchNotFoundError",
    "DashboardService",
    "DataIdRow",
    "DataIdView",
    "FailingSpec",
    "JobListView",
    "JobView",
    "MeasurementVerdicts",
    "MetricGroup",
    "MetricQuery",
    "MetricSummary",
    "MetricView",
    "Overview",
    "PackageFingerprints",
    "SpecThreshold",
    "Verdict",
]

MAX_POINTS = 20_000
DEFAULT_BRANCHES = 8
"""How many branches besides the main line a metric plot shows unless asked for others."""
"""At most this many points of a series are drawn; the page says when it cut."""

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

_RECENT_MAIN_JOBS = 300


class BranchNotFoundError(NotFoundError):
    """No job ran on a branch named in the request."""

    code = "branch_not_found"


@dataclass(slots=True)
class SpecThreshold:
    """A specification's threshold as it applies to a series.

    ``value`` is converted to the metric's unit; None when its unit does not convert.
    """

    spec: SpecificationInfo
    value: float | None
    selected: bool

    @property
    def short_name(self) -> str:
        """The last part of the specification name."""
        return self.spec.name.rsplit(".", 1)[-1]

    @property
    def tag(self) -> str | None:
        """``minimum``, ``design`` or ``stretch`` if tagged so, else None."""
        for tag in ("minimum", "design", "stretch"):
            if tag in self.spec.tags:
                return tag
        return None


@dataclass(slots=True)
class Verdict:
    """One specification against one measurement: ``pass``, ``fail``, ``nan`` or ``error``.

    ``error`` means the value's unit does not convert to the threshold's.
    """

    spec: SpecificationInfo
    status: str


@dataclass(slots=True)
class MeasurementVerdicts:
    """A measurement of a job and its verdicts."""

    value: JobValue
    verdicts: list[Verdict]
    blob_refs: list[str] = field(default_factory=list)

    @property
    def status(self) -> str:
        """``fail`` if any verdict fails, else ``pass`` if any passes, else ``none``."""
        statuses = {v.status for v in self.verdicts}
        if "fail" in statuses:
            return "fail"
        if "pass" in statuses:
            return "pass"
        return "none"


@dataclass(slots=True)
class FailingSpec:
    """A specification failed by the latest main-line jobs."""

    spec: SpecificationInfo
    failing: int
    evaluated: int
    worst_value: float
    unit: str
    worst_job_id: int
    dataset: str | None


@dataclass(slots=True)
class Overview:
    """What the overview page shows."""

    counts: Counts
    latest_jobs: list[JobSummary]
    failing: list[FailingSpec]
    failing_truncated: bool
    main_branch: str
    checked_jobs: int


@dataclass(slots=True)
class MetricSummary:
    """A metric with how many series and specifications it has."""

    metric: MetricInfo
    series_count: int
    spec_count: int


@dataclass(slots=True)
class MetricGroup:
    """The metrics of one package."""

    package: str
    metrics: list[MetricSummary]


@dataclass(slots=True)
class MetricQuery:
    """The state of a metric page, all of it in the query string."""

    dataset: str | None = None
    data_id: dict[str, Any] | None = None
    band: str | None = None
    environment: str | None = None
    period: str = "1y"
    x: Literal["time", "commit"] = "time"
    view: Literal["time", "branch"] = "time"
    branches: list[str] | None = None
    specs: list[str] | None = None
    last: int = 10


@dataclass(slots=True)
class MetricView:
    """A metric page: the chosen series, its points, its thresholds, the options."""

    metric: MetricInfo
    query: MetricQuery
    series: SeriesInfo | None
    candidates: list[SeriesInfo]
    frame: pd.DataFrame
    thresholds: list[SpecThreshold]
    branches: list[str]
    shown_branches: list[str]
    main_branch: str
    failing_count: int
    truncated: bool
    message: str | None
    datasets: list[str]
    bands: list[str]
    data_ids: list[dict[str, Any]]
    environments: list[str]
    since: datetime | None
    markers: list[RegressionMarker] = field(default_factory=list)
    data_key: Hashable | None = None
    """Equal for two views whose frames hold the same points (None: not known)."""
    analysis: MetricAnalysisSettings = field(default_factory=MetricAnalysisSettings)
    """The metric's analysis settings (``VIGIL_ANALYSIS_SETTINGS_FILE``)."""


@dataclass(slots=True)
class JobView:
    """A job page."""

    detail: JobDetail
    previous: JobSummary | None
    changes: PackageChanges | None
    measurements: list[MeasurementVerdicts]
    blobs: list[Blob]
    artifacts: list[Artifact]
    main_branch: str

    @property
    def counts(self) -> dict[str, int]:
        """How many measurements fail, pass, and have no verdict."""
        out = {"fail": 0, "pass": 0, "none": 0}
        for m in self.measurements:
            out[m.status] += 1
        return out


@dataclass(slots=True)
class JobListView:
    """A page of jobs and the values its filters offer."""

    page: Page[JobSummary]
    datasets: list[str]
    branches: list[str]
    environments: list[str]


@dataclass(slots=True)
class DataIdRow:
    """One dataId's value in a job, with its verdict against the chosen threshold."""

    data_id: dict[str, Any]
    value: float | None
    unit: str
    status: str
    series_key: str


@dataclass(slots=True)
class DataIdView:
    """The values of a metric per dataId in one job."""

    metric: MetricInfo
    job: JobSummary | None
    rows: list[DataIdRow]
    row_key: str | None
    col_key: str | None
    threshold: SpecThreshold | None
    thresholds: list[SpecThreshold]
    datasets: list[str]
    dataset: str | None
    band: str | None
    bands: list[str]
    message: str | None


class PackageFingerprints:
    """Per-job package fingerprints of one database, kept across requests.

    A job's packages never change once stored (ingest is idempotent), so this cache
    goes stale only when jobs are deleted (SQLite may then give a deleted job's id to a
    new one): `sync` forgets it all then. It bounds the cost of "packages changed" on
    large series. It belongs to a process context (one database): job ids mean nothing
    across databases.
    """

    def __init__(self, size: int = 200_000) -> None:
        self._items: LruCache[int, frozenset[tuple[Any, ...]]] = LruCache(size)
        self._generation: int | None = None

    def sync(self, generation: int) -> None:
        """Forget every job when data were removed since the last call (`series_version`)."""
        if generation != self._generation:
            self._items.clear()
            self._generation = generation

    def get(
        self, store: DashboardStore, job_ids: Sequence[int]
    ) -> dict[int, frozenset[tuple[Any, ...]]]:
        found = {j: f for j in job_ids if (f := self._items.get(j)) is not None}
        missing = [j for j in job_ids if j not in found]
        if missing:
            fetched = store.package_fingerprints(missing)
            found.update(fetched)
            for job_id, prints in fetched.items():
                self._items.put(job_id, prints)
        return found


class DashboardService:
    """The reads behind the dashboard's pages.

    Parameters
    ----------
    session
        The database session; every call ends with a rollback (reads only).
    settings
        Server settings (the default branch).
    jobs, series, artifacts
        The services whose reads the pages reuse.
    fingerprints
        The process's cache of job package fingerprints.
    cache
        The process's caches of series frames and overviews.
    """

    def __init__(
        self,
        session: Session,
        settings: Settings,
        jobs: JobService,
        series: SeriesService,
        artifacts: ArtifactService,
        fingerprints: PackageFingerprints | None = None,
        cache: DashboardCache | None = None,
        analysis: AnalysisSettings | None = None,
    ) -> None:
        self._session = session
        self._settings = settings
        self._analysis = analysis if analysis is not None else AnalysisSettings()
        self._fingerprints = fingerprints if fingerprints is not None else PackageFingerprints()
        self._cache = cache if cache is not None else DashboardCache()
        self._jobs = jobs
        self._series_service = series
        self._artifacts = artifacts
        self._store = DashboardStore(session)
        self._job_store = JobStore(session)
        self._metrics = MetricStore(session)
        self._specs = SpecificationStore(session)
        self._series = SeriesStore(session)

    @property
    def main_branch(self) -> str:
        """The name of the main line."""
        return self._settings.default_branch

    # Overview ---------------------------------------------------------------------------

    def overview(self, *, latest: int = 12, failing_limit: int = 200) -> Overview:
        """Counts, the latest jobs, and the specifications the main line fails now.

        "Now" is the newest main-line job of each kind (dataset, instrument, filter,
        environment, CI job) among the last few hundred main-line jobs.
        """
        try:
            version = (self._store.data_version(), latest, failing_limit)
        finally:
            self._session.rollback()
        found = self._cache.overviews.get(version)
        if found is None:
            found = self._overview(latest=latest, failing_limit=failing_limit)
            self._cache.overviews.put(version, found)
        return found

    def _overview(self, *, latest: int, failing_limit: int) -> Overview:
        try:
            counts = self._store.counts()
            latest_jobs = self._job_store.list_summaries(JobFilter(), limit=latest)
            recent = self._job_store.list_summaries(
                JobFilter(branch=self.main_branch), limit=_RECENT_MAIN_JOBS
            )
            newest: dict[tuple, JobSummary] = {}
            for job in recent:
                f = job.facts
                key = (f.dataset, f.instrument, f.filter_name, f.environment, f.ci_name)
                newest.setdefault(key, job)
            jobs = {j.id: j for j in newest.values()}
            values = self._store.job_values(list(jobs))
            metas = self._store.metas(jobs)
            specs = self._store.specifications_of({v.metric_name for v in values})
        finally:
            self._session.rollback()
        failing: dict[str, FailingSpec] = {}
        evaluated: dict[str, int] = {}
        for value in values:
            meta = metas.get(value.job_id, {})
            for verdict in _evaluate(value, specs.get(value.metric_name, ()), meta):
                name = verdict.spec.name
                evaluated[name] = evaluated.get(name, 0) + (verdict.status in ("pass", "fail"))
                if verdict.status != "fail" or value.value is None:
                    continue
                entry = failing.get(name)
                worse = entry is None or _further(verdict.spec, value.value, entry.worst_value)
                if entry is None:
                    entry = failing[name] = FailingSpec(
                        verdict.spec, 0, 0, value.value, value.unit, value.job_id, None
                    )
                entry.failing += 1
                if worse:
                    entry.worst_value, entry.unit = value.value, value.unit
                    entry.worst_job_id = value.job_id
                    entry.dataset = jobs[value.job_id].facts.dataset
        for name, entry in failing.items():
            entry.evaluated = evaluated[name]
        # By metric, then the loosest (most serious) failure first.
        ordered = sorted(
            failing.values(), key=lambda f: (f.spec.metric_name, _tag_rank(f.spec), f.spec.name)
        )
        return Overview(
            counts=counts,
            latest_jobs=latest_jobs,
            failing=ordered[:failing_limit],
            failing_truncated=len(ordered) > failing_limit,
            main_branch=self.main_branch,
            checked_jobs=len(jobs),
        )

    # Metrics ----------------------------------------------------------------------------

    def metric_groups(self, search: str | None = None) -> list[MetricGroup]:
        """Metrics by package; *search* keeps those whose name, description or tags
        contain it (case-insensitive)."""
        try:
            metrics = self._metrics.list()
            series = self._store.series_per_metric()
            specs = self._store.specs_per_metric()
        finally:
            self._session.rollback()
        needle = (search or "").strip().lower()
        groups: dict[str, list[MetricSummary]] = {}
        for metric in metrics:
            text = " ".join([metric.name, metric.description or "", *metric.tags]).lower()
            if needle and needle not in text:
                continue
            package = metric.package or metric.name.split(".", 1)[0]
            groups.setdefault(package, []).append(
                MetricSummary(metric, series.get(metric.name, 0), specs.get(metric.name, 0))
            )
        return [MetricGroup(p, groups[p]) for p in sorted(groups)]

    def metric_view(self, name: str, query: MetricQuery) -> MetricView:
        """A metric's series chosen by *query*, its points, thresholds and options.

        Raises
        ------
        MetricNotFoundError
            No metric has this name.
        InvalidRequestError
            An unknown period.
        """
        if query.period not in PERIODS:
            raise InvalidRequestError(
                f"period must be one of {', '.join(PERIODS)}, not {query.period!r}.",
                field="period",
            )
        try:
            metric = self._require_metric(name)
            all_series = self._series.find(metric=name)
            specs = self._specs.list(metric=name)
            environments = self._store.environments()
            if query.branches:
                self._require_branches(query.branches)
        finally:
            self._session.rollback()
        datasets = sorted({s.dataset for s in all_series if s.dataset is not None})
        in_dataset = [s for s in all_series if query.dataset in (None, s.dataset)]
        bands = sorted({b for s in in_dataset if (b := band_of(s.data_id)) is not None})
        in_band = [s for s in in_dataset if query.band in (None, band_of(s.data_id))]
        data_ids = _distinct_data_ids(in_band)
        candidates = [s for s in in_band if query.data_id is None or s.data_id == query.data_id]
        chosen = _default_series(candidates)
        span = PERIODS[query.period]
        since = None
        if chosen is not None and span is not None:
            try:
                last = self._store.last_time(chosen.id)
            finally:
                self._session.rollback()
            since = _aware(last) - span if last is not None else None
        markers: list[RegressionMarker] = []
        frame_key: Hashable | None = None
        if chosen is None:
            cached = SeriesFrame(_frame([], {}), False, {})
        else:
            frame_key, cached = self._series_frame(chosen, metric, query.environment, since)
            try:
                markers = RegressionStore(self._session).markers(chosen.series_key)
            finally:
                self._session.rollback()
        meta = cached.last_meta
        thresholds = (
            _series_thresholds(specs, meta, chosen, metric.unit, query.specs) if chosen else []
        )
        branches = cached.branches(self.main_branch)
        wanted = set(query.branches) if query.branches else None
        if wanted is None and len(branches) > DEFAULT_BRANCHES + 1:
            # A busy project has hundreds of ticket branches: by default the main line
            # and the most recently run ones; the overlay lists every branch.
            wanted = cached.recent_branches(self.main_branch, DEFAULT_BRANCHES)
        frame = cached.only(wanted)
        truncated = cached.truncated
        if chosen is None:
            message: str | None = (
                f"{name} has no measurements yet."
                if not all_series
                else "No series of this metric matches these filters."
            )
        else:
            message = _series_message(frame, truncated)
        return MetricView(
            metric=metric,
            query=query,
            series=chosen,
            candidates=candidates,
            frame=frame,
            thresholds=thresholds,
            branches=branches,
            shown_branches=[b for b in branches if wanted is None or b in wanted],
            main_branch=self.main_branch,
            failing_count=_failing_count(frame, thresholds),
            truncated=truncated,
            message=message,
            datasets=datasets,
            bands=bands,
            data_ids=data_ids,
            environments=environments,
            since=since,
            markers=markers,
            data_key=None if frame_key is None else (frame_key, frozenset(wanted or ())),
            analysis=self._analysis.for_metric(metric.name),
        )

    def _series_frame(
        self,
        series: SeriesInfo,
        metric: MetricInfo,
        environment: str | None,
        since: datetime | None,
    ) -> tuple[Hashable, SeriesFrame]:
        """The series' points since *since*, every branch, and their key in the process's
        cache, from which they come while the series has not changed."""
        try:
            version = self._store.series_version(series.id)
        finally:
            self._session.rollback()
        self._fingerprints.sync(version[-1])
        key = (series.id, version, metric.unit, environment, since, MAX_POINTS)
        found = self._cache.frames.get(key)
        if found is not None:
            return key, found
        history = self._series_service.history(
            series.series_key,
            SeriesQuery(environment=environment, since=since),
            limit=MAX_POINTS,
        )
        points = history.points.items
        try:
            last_job = [points[-1].job_id] if points else []
            meta = self._store.metas(last_job).get(last_job[0], {}) if last_job else {}
            changed = self._changed_counts(points)
        finally:
            self._session.rollback()
        found = SeriesFrame(_frame(points, changed), history.points.next_cursor is not None, meta)
        self._cache.frames.put(key, found)
        return key, found

    def _changed_counts(self, points: Sequence[SeriesPoint]) -> dict[int, int]:
        """``job id → packages changed since the previous job of its branch`` for the
        latest `CHANGES_POINTS` points."""
        if not points:
            return {}
        recent = points[-CHANGES_POINTS:]
        previous: dict[int, int] = {}
        last_of: dict[str | None, int] = {}
        # The previous job of the first recent points lies before the window.
        for p in points[: len(points) - len(recent)]:
            last_of[p.branch] = p.job_id
        for p in recent:
            if p.branch in last_of:
                previous[p.job_id] = last_of[p.branch]
            last_of[p.branch] = p.job_id
        needed = sorted({*previous, *previous.values()})
        prints = self._fingerprints.get(self._store, needed)
        empty: frozenset[tuple[Any, ...]] = frozenset()
        out = {}
        for job_id, before_id in previous.items():
            a, b = prints.get(before_id, empty), prints.get(job_id, empty)
            out[job_id] = 0 if a == b else len({item[0] for item in a ^ b})
        return out

    def dataid_view(
        self,
        name: str,
        *,
        dataset: str | None = None,
        band: str | None = None,
        job_id: int | None = None,
        specs: list[str] | None = None,
    ) -> DataIdView:
        """The values of metric *name* per dataId in one job.

        The job is *job_id*, else the newest main-line job measuring the metric on
        *dataset* (default: the dataset with the most series of the metric), else the
        newest on any branch.

        Raises
        ------
        MetricNotFoundError
            No metric has this name.
        JobNotFoundError
            *job_id* does not exist.
        """
        try:
            metric = self._require_metric(name)
            per_dataset: dict[str, int] = {}
            for series in self._series.find(metric=name):
                if series.dataset is not None:
                    per_dataset[series.dataset] = per_dataset.get(series.dataset, 0) + 1
            datasets = sorted(per_dataset)
            if dataset is None and job_id is None and per_dataset:
                # The dataset with the most dataIds has the most to lay out.
                dataset = max(sorted(per_dataset), key=per_dataset.__getitem__)
            if job_id is None:
                job_id = self._store.latest_job_measuring(
                    name, dataset=dataset, branch=self.main_branch
                ) or self._store.latest_job_measuring(name, dataset=dataset, branch=None)
            job = self._jobs.get_summary(job_id) if job_id is not None else None
            values = self._store.job_values([job.id], name) if job else []
            meta = self._store.metas([job.id]).get(job.id, {}) if job else {}
            spec_rows = self._specs.list(metric=name)
        finally:
            self._session.rollback()
        bands = sorted({b for v in values if (b := band_of(v.data_id)) is not None})
        if band is None and len(bands) > 1:
            # One band at a time: the grid has one cell per dataId without the band.
            band = bands[0]
        if band is not None:
            values = [v for v in values if band_of(v.data_id) == band]
        # The thresholds that apply to the job as a whole (its meta, with the band).
        context_id = {"band": band} if band else {}
        thresholds = _thresholds_for(spec_rows, {**meta, **context_id}, metric.unit, specs)
        threshold = next((t for t in thresholds if t.selected and t.value is not None), None)
        rows = []
        for v in values:
            status = "none"
            if threshold is not None:
                verdicts = _evaluate(v, [threshold.spec], meta)
                status = verdicts[0].status if verdicts else "none"
            rows.append(DataIdRow(v.data_id, v.value, v.unit, status, v.series_key))
        from vigil.plots import grid_axes

        row_key, col_key = grid_axes(r.data_id for r in rows)
        message = None
        if job is None:
            message = f"No job has measured {name} yet."
        elif not rows:
            message = f"Job {job.id} has no measurement of {name} for these filters."
        elif col_key is None:
            message = "These measurements have no dataId that varies: nothing to lay on a grid."
        return DataIdView(
            metric=metric,
            job=job,
            rows=rows,
            row_key=row_key,
            col_key=col_key,
            threshold=threshold,
            thresholds=thresholds,
            datasets=datasets,
            dataset=dataset if dataset is not None else (job.facts.dataset if job else None),
            band=band,
            bands=bands,
            message=message,
        )

    # Jobs -------------------------------------------------------------------------------

    def job_list(self, filters: JobFilter, *, limit: int, cursor: str | None) -> JobListView:
        """A page of jobs (newest first) and the datasets, branches, environments known.

        Raises
        ------
        BranchNotFoundError
            No job ran on the branch of *filters*.
        """
        try:
            branches = self._store.branches()
            if filters.branch is not None:
                self._require_branches([filters.branch], branches)
            datasets = self._store.datasets()
            environments = self._store.environments()
        finally:
            self._session.rollback()
        page = self._jobs.list_jobs(filters, limit=limit, cursor=cursor)
        return JobListView(page, datasets, branches, environments)

    def job_view(self, job_id: int) -> JobView:
        """A job with its previous comparable job, code changes, verdicts, blobs, files.

        Raises
        ------
        JobNotFoundError
            No job has this id.
        """
        detail = self._jobs.get_job(job_id)
        f = detail.summary.facts
        try:
            previous_id = self._store.previous_comparable_job(
                job_id,
                branch=f.branch,
                dataset=f.dataset,
                instrument=f.instrument,
                filter_name=f.filter_name,
                environment=f.environment,
                at=f.run_at or detail.summary.created_at,
            )
            values = self._store.job_values([job_id])
            specs = self._store.specifications_of({v.metric_name for v in values})
        finally:
            self._session.rollback()
        previous = self._jobs.get_summary(previous_id) if previous_id is not None else None
        changes = self._jobs.package_changes(previous_id, job_id) if previous_id else None
        refs = {m.id: m.blob_refs for m in detail.measurements}
        measurements = [
            MeasurementVerdicts(
                v,
                _evaluate(v, specs.get(v.metric_name, ()), detail.meta),
                refs.get(v.measurement_id, []),
            )
            for v in values
        ]
        return JobView(
            detail=detail,
            previous=previous,
            changes=changes,
            measurements=measurements,
            blobs=self._jobs.list_blobs(job_id),
            artifacts=self._artifacts.list_artifacts(job_id),
            main_branch=self.main_branch,
        )

    # Helpers ----------------------------------------------------------------------------

    def _require_branches(self, names: Iterable[str], known: list[str] | None = None) -> None:
        from vigil.plots import NO_BRANCH

        names = list(names)
        if known is None:
            known = list(self._store.existing_branches(n for n in names if n != NO_BRANCH))
        known_set = {*known, NO_BRANCH}
        missing = [n for n in names if n not in known_set]
        if missing:
            raise BranchNotFoundError(
                f"No job ran on the branch {missing[0]!r}. The jobs page lists the"
                " branches that have jobs."
            )

    def _require_metric(self, name: str) -> MetricInfo:
        metric = self._metrics.get(name)
        if metric is None:
            raise MetricNotFoundError(
                f"No metric is named {name!r}. The metrics page lists every metric this"
                " server knows."
            )
        return metric


# Pure helpers -----------------------------------------------------------------------------


def band_of(data_id: Mapping[str, Any]) -> str | None:
    """The band/filter a dataId names (`BAND_KEYS`), or None."""
    for key in BAND_KEYS:
        if key in data_id and data_id[key] is not None:
            return str(data_id[key])
    return None


def _aware(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def _distinct_data_ids(series: Iterable[SeriesInfo]) -> list[dict[str, Any]]:
    seen: dict[str, dict[str, Any]] = {}
    for s in series:
        key = repr(sorted(s.data_id.items()))
        seen.setdefault(key, s.data_id)
    return sorted(seen.values(), key=lambda d: (len(d), repr(sorted(d.items()))))


def _default_series(candidates: Sequence[SeriesInfo]) -> SeriesInfo | None:
    """The aggregate series first (fewest dataId keys), then the oldest."""
    if not candidates:
        return None
    return min(candidates, key=lambda s: (len(s.data_id), s.id))


_POINT_FIELDS = attrgetter(
    "job_id", "time", "value", "unit", "branch", "commit_sha", "pull_request", "environment"
)


def _frame(points: Sequence[SeriesPoint], changed: Mapping[int, int]) -> pd.DataFrame:
    """The points as the DataFrame `vigil.plots.series_plot` draws."""
    import pandas as pd

    # One pass over the points (in C), then a column per field.
    columns = list(zip(*map(_POINT_FIELDS, points), strict=True)) or [()] * 8
    job_ids, times, values, units, branches, commits, prs, environments = columns
    return pd.DataFrame(
        {
            "job_id": np.array(job_ids, dtype=np.int64),
            "time": pd.DatetimeIndex(times, tz="UTC") if times else pd.DatetimeIndex([], tz="UTC"),
            # None (not a number) becomes NaN.
            "value": np.array(values, dtype=float),
            "unit": list(units),
            "branch": list(branches),
            "commit_sha": list(commits),
            "pull_request": pd.array(prs, dtype="Int64"),
            "environment": list(environments),
            "packages_changed": pd.array(list(map(changed.get, job_ids)), dtype="Int64"),
        }
    )


def _tag_rank(spec: SpecificationInfo) -> int:
    for rank, tag in enumerate(("minimum", "design", "stretch")):
        if tag in spec.tags:
            return rank
    return 3


def _convert(value: float, from_unit: str | None, to_unit: str | None) -> float | None:
    try:
        return convert(value, from_unit or "", to_unit or "")
    except (VerifyError, ValueError):
        return None


def _thresholds_for(
    specs: Iterable[SpecificationInfo],
    context: Mapping[str, Any],
    unit: str,
    wanted: Sequence[str] | None,
) -> list[SpecThreshold]:
    """The threshold specifications whose ``metadata_query`` matches *context*.

    Selected: those named in *wanted* (full or short names); by default those tagged
    ``design``, or all when none is.
    """
    found = []
    for spec in specs:
        if spec.threshold_value is None or spec.threshold_operator is None:
            continue
        if not query_metadata(spec.metadata_query, context):
            continue
        value = _convert(spec.threshold_value, spec.threshold_unit, unit)
        found.append(SpecThreshold(spec, value, False))
    if wanted:
        names = set(wanted)
        for t in found:
            t.selected = t.spec.name in names or t.short_name in names
    else:
        design = [t for t in found if "design" in t.spec.tags]
        for t in design or found:
            t.selected = True
    return sorted(found, key=lambda t: (not t.selected, _tag_rank(t.spec), t.spec.name))


def _series_thresholds(
    specs: Iterable[SpecificationInfo],
    meta: Mapping[str, Any],
    series: SeriesInfo,
    unit: str,
    wanted: Sequence[str] | None,
) -> list[SpecThreshold]:
    # A series' jobs share its dataset and dataId; the newest job's meta stands for them.
    return _thresholds_for(specs, {**meta, **series.data_id}, unit, wanted)


def _failing_count(frame: pd.DataFrame, thresholds: Sequence[SpecThreshold]) -> int:
    from vigil.plots import Threshold, failing_mask

    lines = [
        Threshold(t.short_name, t.value, t.spec.threshold_operator or "<=")
        for t in thresholds
        if t.selected and t.value is not None
    ]
    if not lines or frame.empty:
        return 0
    return int(failing_mask(frame["value"].to_numpy(dtype=float), lines).sum())


def _series_message(frame: pd.DataFrame, truncated: bool) -> str | None:
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


def _evaluate(
    value: JobValue, specs: Iterable[SpecificationInfo], meta: Mapping[str, Any]
) -> list[Verdict]:
    """*value* against each of *specs* that applies (``vigil.verify`` semantics)."""
    context = {**meta, **value.data_id}
    verdicts = []
    for spec in specs:
        if spec.threshold_value is None or spec.threshold_operator is None:
            continue
        if not query_metadata(spec.metadata_query, context):
            continue
        verdicts.append(Verdict(spec, _status(spec, value.value, value.unit)))
    # Failures first, the loosest (most serious) of them first.
    order = {"fail": 0, "error": 1, "pass": 2, "nan": 3}
    verdicts.sort(key=lambda v: (order[v.status], _tag_rank(v.spec), v.spec.name))
    return verdicts


@lru_cache(maxsize=4096)
def _verify_spec(
    name: str, value: float, unit: str | None, operator: str
) -> ThresholdSpecification | None:
    try:
        return ThresholdSpecification(
            name=name, threshold_value=value, threshold_unit=unit or "", operator=operator
        )
    except VerifyError:
        return None


def _status(spec: SpecificationInfo, value: float | None, unit: str) -> str:
    """``pass``/``fail``/``nan`` as `ThresholdSpecification.check` says; ``error`` when
    the units do not convert or the stored specification is not valid."""
    if spec.threshold_value is None or spec.threshold_operator is None:
        return "error"
    checker = _verify_spec(
        spec.name, spec.threshold_value, spec.threshold_unit, spec.threshold_operator
    )
    if checker is None:
        return "error"
    try:
        passed = checker.check(math.nan if value is None else value, unit)
    except VerifyError:
        return "error"
    return "nan" if passed is None else ("pass" if passed else "fail")


def _further(spec: SpecificationInfo, value: float, other: float) -> bool:
    """Whether *value* fails *spec* by more than *other* does."""
    if spec.threshold_operator in (">", ">="):
        return value < other
    return value > other
