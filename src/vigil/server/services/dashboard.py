"""The web dashboard's reads: overview, metric history, job, per-dataId values.

Every method reads in one transaction (rolled back at the end: nothing is written) and
returns plain dataclasses that the HTML pages and their JSON twins both render.
Specifications are evaluated as `vigil.verify.Job.evaluate` does: a specification
applies when its ``metadata_query`` matches the job's ``meta`` together with the
measurement's dataId; values convert to the threshold's unit; NaN gives no verdict.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from ..config import Settings
from ..database import read_transaction
from ..domain import (
    MetricInfo,
    SeriesInfo,
    SeriesPoint,
)
from ..domain.analysis_settings import AnalysisSettings
from ..domain.regressions import RegressionMarker
from ..exceptions import (
    BranchNotFoundError,
    InvalidRequestError,
    JobNotFoundError,
    MetricNotFoundError,
)
from ..storage import JobFilter, JobStore, MetricStore, SeriesStore, SpecificationStore
from ..storage.dashboard import DashboardStore
from ..storage.metric_series_counts import series_point_counts
from ..storage.regressions import RegressionStore
from ._dashboard_cache import (
    DashboardCache,
    FailingSpec,
    Overview,
    PackageFingerprints,
    SeriesFrame,
)
from ._dashboard_overview import MetricFailures, OverviewView, read_overview
from ._dashboard_series import (
    BAND_KEYS,
    CHANGES_POINTS,
    DEFAULT_BRANCHES,
    MAX_POINTS,
    PERIODS,
    aware,
    band_of,
    default_series,
    distinct_data_ids,
    possible_branches,
    series_message,
)
from ._dashboard_views import (
    DataIdRow,
    DataIdView,
    JobListView,
    JobView,
    MeasurementVerdicts,
    MetricGroup,
    MetricQuery,
    MetricSummary,
    MetricView,
    points_frame,
)
from ._metric_point import MetricPoint, changed_packages
from ._overview_keys import KeyMetric, KeyPoint
from ._specifications import (
    SpecThreshold,
    Verdict,
    evaluate,
    failing_count,
    series_thresholds,
    thresholds_for,
)
from .artifacts import ArtifactService
from .jobs import JobService
from .series import SeriesQuery, SeriesService

__all__ = [
    "BAND_KEYS",
    "MAX_POINTS",
    "PERIODS",
    "DashboardService",
    "DataIdRow",
    "DataIdView",
    "FailingSpec",
    "JobListView",
    "JobView",
    "KeyMetric",
    "KeyPoint",
    "MeasurementVerdicts",
    "MetricFailures",
    "MetricGroup",
    "MetricPoint",
    "MetricQuery",
    "MetricSummary",
    "MetricView",
    "Overview",
    "OverviewView",
    "PackageFingerprints",
    "SpecThreshold",
    "Verdict",
]

_RECENT_MAIN_JOBS = 300


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
    store, job_store, metrics, specs, series_store, regressions
        The stores the pages read.
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
        *,
        store: DashboardStore,
        job_store: JobStore,
        metrics: MetricStore,
        specs: SpecificationStore,
        series_store: SeriesStore,
        regressions: RegressionStore,
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
        self._store = store
        self._job_store = job_store
        self._metrics = metrics
        self._specs = specs
        self._series = series_store
        self._regressions = regressions

    @property
    def main_branch(self) -> str:
        """The name of the main line."""
        return self._settings.default_branch

    # Overview ---------------------------------------------------------------------------

    def overview(self, *, latest: int = 12, failing_limit: int = 200) -> OverviewView:
        """Counts, the latest jobs, the key metrics' recent main-line history, and the
        specifications the main line fails now (also summarised per metric).

        "Now" is the newest main-line job of each kind (dataset, instrument, filter,
        environment, CI job) among the last few hundred main-line jobs; "recent", those
        jobs (see `vigil.server.services._overview_keys` for which metrics are key).
        """
        with read_transaction(self._session):
            version = (self._store.data_version(), latest, failing_limit)
        found = self._cache.overviews.get(version)
        if not isinstance(found, OverviewView):
            found = self._overview(latest=latest, failing_limit=failing_limit)
            self._cache.overviews.put(version, found)
        return found

    def _overview(self, *, latest: int, failing_limit: int) -> OverviewView:
        with read_transaction(self._session):
            return read_overview(
                self._store,
                self._job_store,
                self.main_branch,
                latest=latest,
                recent=_RECENT_MAIN_JOBS,
                failing_limit=failing_limit,
            )

    # Metrics ----------------------------------------------------------------------------

    def metric_groups(self, search: str | None = None) -> list[MetricGroup]:
        """Metrics by package; *search* keeps those whose name, description or tags
        contain it (case-insensitive)."""
        with read_transaction(self._session):
            metrics = self._metrics.list()
            series = self._store.series_per_metric()
            specs = self._store.specs_per_metric()
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
        with read_transaction(self._session):
            metric = self._require_metric(name)
            all_series = self._series.find(metric=name)
            counts = series_point_counts(
                self._session, [s.id for s in all_series], self.main_branch
            )
            specs = self._specs.list(metric=name)
            environments = self._store.environments()
            if query.branches:
                self._require_branches(query.branches)
        datasets = sorted({s.dataset for s in all_series if s.dataset is not None})
        in_dataset = [s for s in all_series if query.dataset in (None, s.dataset)]
        bands = sorted({b for s in in_dataset if (b := band_of(s.data_id)) is not None})
        # A band or dataId kept from another choice that this one makes impossible is dropped.
        query = replace(query, band=query.band if query.band in bands else None)
        in_band = [s for s in in_dataset if query.band in (None, band_of(s.data_id))]
        data_ids = distinct_data_ids(in_band)
        if query.data_id not in data_ids:
            query = replace(query, data_id=None)
        # The series the page offers with their point counts, the richest first.
        candidates = sorted(
            (replace(s, point_count=counts.get(s.id, (0, 0))[1]) for s in in_band),
            key=lambda s: (-counts.get(s.id, (0, 0))[0], -(s.point_count or 0), len(s.data_id)),
        )
        chosen = default_series(
            [s for s in candidates if query.data_id in (None, s.data_id)], counts
        )
        span = PERIODS[query.period]
        since = None
        if chosen is not None and span is not None:
            with read_transaction(self._session):
                last = self._store.last_time(chosen.id)
            since = aware(last) - span if last is not None else None
        markers: list[RegressionMarker] = []
        frame_key: Hashable | None = None
        if chosen is None:
            cached = SeriesFrame(points_frame([], {}), False, {})
        else:
            frame_key, cached = self._series_frame(chosen, metric, query.environment, since)
            with read_transaction(self._session):
                markers = self._regressions.markers(chosen.series_key)
        meta = cached.last_meta
        thresholds = (
            series_thresholds(specs, meta, chosen, metric.unit, query.specs) if chosen else []
        )
        branches = cached.branches(self.main_branch)
        query = replace(query, branches=possible_branches(query.branches, branches))
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
            message = series_message(frame, truncated)
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
            failing_count=failing_count(frame, thresholds),
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
        with read_transaction(self._session):
            version = self._store.series_version(series.id)
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
        with read_transaction(self._session):
            last_job = [points[-1].job_id] if points else []
            meta = self._store.metas(last_job).get(last_job[0], {}) if last_job else {}
            changed = self._changed_counts(points)
        found = SeriesFrame(
            points_frame(points, changed), history.points.next_cursor is not None, meta
        )
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

    def metric_point(
        self,
        name: str,
        job_id: int | None,
        *,
        series_key: str | None = None,
        base_id: int | None = None,
    ) -> MetricPoint:
        """The point of metric *name* (of series *series_key*) in job *job_id* (default:
        the newest measuring it), with the code changes since job *base_id* (default:
        the previous comparable job).

        Raises
        ------
        MetricNotFoundError
            No metric has this name.
        JobNotFoundError
            *job_id* or *base_id* does not exist, or no job measured the metric.
        """
        with read_transaction(self._session):
            metric = self._require_metric(name)
            if job_id is None:
                job_id = self._store.latest_job_measuring(
                    name, dataset=None, branch=self.main_branch
                ) or self._store.latest_job_measuring(name, dataset=None, branch=None)
        if job_id is None:
            raise JobNotFoundError(f"No job has measured {name} yet.")
        job = self._jobs.get_summary(job_id)
        with read_transaction(self._session):
            values = self._store.job_values([job_id], name)
            if base_id is None:
                at = job.facts.run_at or job.created_at
                base_id = self._store.previous_comparable_job(job_id, job.facts, at=at)
        base = self._jobs.get_summary(base_id) if base_id is not None else None
        changes = self._jobs.package_changes(base_id, job_id) if base_id is not None else None
        value = next((v for v in values if series_key in (None, v.series_key)), None)
        return MetricPoint(metric, job, value, base, changed_packages(changes, job))

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
        with read_transaction(self._session):
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
        bands = sorted({b for v in values if (b := band_of(v.data_id)) is not None})
        if band is None and len(bands) > 1:
            # One band at a time: the grid has one cell per dataId without the band.
            band = bands[0]
        if band is not None:
            values = [v for v in values if band_of(v.data_id) == band]
        # The thresholds that apply to the job as a whole (its meta, with the band).
        context_id = {"band": band} if band else {}
        thresholds = thresholds_for(spec_rows, {**meta, **context_id}, metric.unit, specs)
        threshold = next((t for t in thresholds if t.selected and t.value is not None), None)
        rows = []
        for v in values:
            status = "none"
            if threshold is not None:
                verdicts = evaluate(v, [threshold.spec], meta)
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
        with read_transaction(self._session):
            branches = self._store.branches()
            if filters.branch is not None:
                self._require_branches([filters.branch], branches)
            datasets = self._store.datasets()
            environments = self._store.environments()
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
        with read_transaction(self._session):
            previous_id = self._store.previous_comparable_job(
                job_id, f, at=f.run_at or detail.summary.created_at
            )
            values = self._store.job_values([job_id])
            specs = self._store.specifications_of({v.metric_name for v in values})
        previous = self._jobs.get_summary(previous_id) if previous_id is not None else None
        changes = self._jobs.package_changes(previous_id, job_id) if previous_id else None
        refs = {m.id: m.blob_refs for m in detail.measurements}
        measurements = [
            MeasurementVerdicts(
                v,
                evaluate(v, specs.get(v.metric_name, ()), detail.meta),
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
