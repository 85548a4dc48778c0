"""Regressions: detect them in stored history, keep the records in step, triage them.

The statistics are `vigil.analysis`'s; this service decides what a change point becomes
(a record that is created, moved, dissolved, or the fix of the change it undoes), what a
failing specification becomes (a name inside the change that explains it, else inside
the one failure record of its series), who the suspects are, how the list is grouped by
commit or job, and how people change a record's status.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session

from vigil.analysis import change_points
from vigil.verify import query_metadata

from ..config import Settings
from ..domain import MetricInfo, Page, SeriesInfo, SpecificationInfo, User
from ..domain.analysis_settings import AnalysisSettings
from ..domain.regressions import (
    GROUPINGS,
    KINDS,
    STATUSES,
    JobRef,
    QueueItem,
    Regression,
    RegressionDetail,
    RegressionFilter,
    RegressionGroup,
    RegressionMarker,
    SeriesValue,
    SuspectCommit,
    package_diff,
)
from ..exceptions import InvalidRequestError, NotFoundError, SeriesNotFoundError
from ..storage.analysis_queue import AnalysisQueueStore
from ..storage.metrics import MetricStore, SpecificationStore
from ..storage.regressions import RegressionStore
from ..storage.series import SeriesStore
from ._analysis_inputs import AnalysisInputs, convert_values
from ._reconcile import (
    MATCH_TOLERANCE,
    SPEC_PERSISTENCE,
    AnalysisReport,
    Episode,
    Reconciler,
    detector_settings,
    early_warning,
    finite,
)
from ._specifications import threshold_specification

__all__ = [
    "GROUP_LIMIT",
    "MATCH_TOLERANCE",
    "SPEC_PERSISTENCE",
    "AnalysisReport",
    "RegressionNotFoundError",
    "RegressionService",
    "finite",
    "line_values",
    "suspect_commits",
    "threshold_specification",
]

logger = logging.getLogger(__name__)

GROUP_LIMIT = 1000
"""The most records a grouped list looks at (the newest); it says when there were more."""

_QUEUE_LEASE = timedelta(minutes=10)

QUEUE_CHUNK = 32
"""Series of the analysis queue analysed together: read together, committed together."""


class RegressionNotFoundError(NotFoundError):
    code = "regression_not_found"


def line_values(
    store: RegressionStore,
    series_id: int,
    branch: str,
    unit: str | None,
    *,
    main_line: bool = True,
) -> list[SeriesValue]:
    """The values of a series on *branch* in time order, converted to *unit* where they can be.

    *main_line*: *branch* is the default branch (jobs naming no branch count as on it).
    """
    return convert_values(store.line_values(series_id, branch, main_line=main_line), unit)


class RegressionService:
    """Detection, reconciliation, reads and triage of regressions.

    Parameters
    ----------
    session
        The database session (each public call commits or rolls back).
    settings
        Server settings (default branch).
    store, queue, metrics, specs, series
        The stores of regressions, of the analysis queue and of what they refer to.
    analysis
        Per-metric analysis settings (``VIGIL_ANALYSIS_SETTINGS_FILE``; None: defaults).
    """

    def __init__(
        self,
        session: Session,
        settings: Settings,
        *,
        store: RegressionStore,
        queue: AnalysisQueueStore,
        metrics: MetricStore,
        specs: SpecificationStore,
        series: SeriesStore,
        analysis: AnalysisSettings | None = None,
    ) -> None:
        self._session = session
        self._settings = settings
        self._analysis = analysis if analysis is not None else AnalysisSettings()
        self._store = store
        self._queue = queue
        self._metrics = metrics
        self._specs = specs
        self._series = series

    # Detection --------------------------------------------------------------------------

    def analyse(self, series_id: int, trigger_job_id: int | None = None) -> AnalysisReport:
        """Analyse one series now and bring its records in step (commits).

        Records created with no *trigger_job_id* (a re-analysis of history) are not
        announced to subscribers.
        """
        try:
            report = self._analyse(series_id, trigger_job_id, datetime.now(UTC), self._inputs())
            self._session.commit()
        except BaseException:
            self._session.rollback()
            raise
        return report

    def series_ids(self, *, metric: str | None = None, dataset: str | None = None) -> list[int]:
        """The series a re-analysis of history would go through."""
        ids = self._store.series_ids(metric=metric, dataset=dataset)
        self._session.rollback()
        return ids

    def process_queue(self, limit: int = 200) -> AnalysisReport:
        """Analyse up to *limit* series waiting in the queue.

        `QUEUE_CHUNK` series at a time: their reads are made together and their results
        committed together. A chunk that fails is analysed again one series a
        transaction, so that a series whose analysis fails is left claimed alone (tried
        again when its lease ends) and the others are done.
        """
        now = datetime.now(UTC)
        items = self._queue.claim(now, now + _QUEUE_LEASE, limit)
        self._session.commit()
        total = AnalysisReport()
        inputs = self._inputs()
        for start in range(0, len(items), QUEUE_CHUNK):
            part = items[start : start + QUEUE_CHUNK]
            try:
                total.add(self._process_chunk(part, inputs))
            except Exception:
                self._session.rollback()
                for item in part:
                    total.add(self._process_alone(item))
        return total

    def _inputs(self) -> AnalysisInputs:
        return AnalysisInputs(
            self._store, self._metrics, self._specs, self._settings.default_branch
        )

    def _process_chunk(self, items: Sequence[QueueItem], inputs: AnalysisInputs) -> AnalysisReport:
        # Reads first (no lock on SQLite), then the writes: records rarely change, and the
        # queue rows are removed last, so that the write lock is held briefly.
        inputs.prefetch([item.series_id for item in items])
        report = AnalysisReport()
        now = datetime.now(UTC)
        try:
            for item in items:
                report.add(self._analyse(item.series_id, item.job_id, now, inputs))
            for item in items:
                self._queue.complete(item)
            self._session.commit()
        except BaseException:
            self._session.rollback()
            raise
        return report

    def _process_alone(self, item: QueueItem) -> AnalysisReport:
        try:
            report = self._analyse(item.series_id, item.job_id, datetime.now(UTC), self._inputs())
            self._queue.complete(item)
            self._session.commit()
        except Exception:
            # Left claimed: it is tried again when the lease ends, and the others go on.
            self._session.rollback()
            logger.exception("Analysis of series %d failed", item.series_id)
            return AnalysisReport()
        return report

    def _analyse(
        self, series_id: int, trigger: int | None, now: datetime, inputs: AnalysisInputs
    ) -> AnalysisReport:
        report = AnalysisReport(series=1)
        series = inputs.series(series_id)
        if series is None:
            return report
        metric = inputs.metric(series.metric_name)
        unit = metric.unit if metric is not None else None
        values = inputs.line_values(series_id, unit)
        if not values:
            return report
        stored = inputs.stored_changes(series_id)
        tuned = self._analysis.for_metric(series.metric_name)
        direction = tuned.direction or (metric.direction if metric is not None else None)
        series_values = [v.value for v in values]
        found = [
            cp
            for cp in change_points(series_values, direction, **detector_settings(tuned))
            if tuned.large_enough(cp.size, cp.before)
        ]
        early = early_warning(series_values, direction, found, tuned)
        reconciler = Reconciler(
            self._store, series_id, values, trigger, now, report, alert=tuned.alert
        )
        levels = reconciler.change_points(
            found, [s for s in stored if s.kind != "spec_failure"], values[-1].unit, early
        )
        specs = inputs.specifications(series.metric_name)
        episodes = self._spec_episodes(series, values, specs) if specs else []
        reconciler.specifications(episodes, levels, [s for s in stored if s.kind == "spec_failure"])
        return report

    def _spec_episodes(
        self, series: SeriesInfo, values: list[SeriesValue], specs: list[SpecificationInfo]
    ) -> list[Episode]:
        """Where each specification of the series stands at its latest values."""
        points = [v for v in values if v.value is not None]
        needs_meta = any(s.metadata_query for s in specs)
        metas = self._store.job_metas(v.job_id for v in points) if needs_meta else {}
        episodes = []
        for info in specs:
            spec = threshold_specification(info)
            if spec is None:
                continue
            verdicts: list[tuple[SeriesValue, bool]] = []
            for point in points:
                metadata = {**metas.get(point.job_id, {}), **series.data_id}
                if spec.metadata_query and not query_metadata(spec.metadata_query, metadata):
                    continue
                passed = spec.evaluate(point.value, point.unit).passed
                if passed is not None:
                    verdicts.append((point, passed))
            episodes.append(Episode.of(info.name, verdicts))
        return episodes

    # Reads ------------------------------------------------------------------------------

    def list_regressions(
        self, filters: RegressionFilter, *, limit: int, cursor: str | None = None
    ) -> Page[Regression]:
        """Records matching *filters*, newest first, one page."""
        _check_choice("status", filters.status, STATUSES)
        _check_choice("kind", filters.kind, KINDS)
        before = _cursor(cursor)
        items = self._store.find(filters, limit=limit + 1, before_id=before)
        self._session.rollback()
        next_cursor = str(items[limit - 1].id) if len(items) > limit else None
        return Page(items[:limit], next_cursor)

    def group_regressions(
        self, filters: RegressionFilter, grouping: str, *, limit: int = GROUP_LIMIT
    ) -> tuple[list[RegressionGroup], bool]:
        """The newest *limit* records matching *filters*, grouped by the commit or the job
        of their first bad job (newest group first), and whether more records matched.

        Raises
        ------
        InvalidRequestError
            An unknown grouping, status or kind.
        """
        _check_choice("group", grouping, GROUPINGS)
        _check_choice("status", filters.status, STATUSES)
        _check_choice("kind", filters.kind, KINDS)
        items = self._store.find(filters, limit=limit + 1)
        self._session.rollback()
        truncated = len(items) > limit
        groups: dict[str, RegressionGroup] = {}
        for r in items[:limit]:
            key = (r.first_bad.commit_sha or "") if grouping == "commit" else str(r.first_bad.id)
            group = groups.setdefault(key, RegressionGroup(grouping, key, r.first_bad, []))
            group.regressions.append(r)
            if (r.first_bad.time, r.first_bad.id) < (group.job.time, group.job.id):
                group.job = r.first_bad
        ordered = sorted(groups.values(), key=lambda g: (g.job.time, g.job.id), reverse=True)
        return ordered, truncated

    def get(self, regression_id: int) -> RegressionDetail:
        """A record with its suspects (jobs, commits, packages) and history."""
        regression = self._store.get(regression_id)
        if regression is None:
            self._session.rollback()
            raise RegressionNotFoundError(f"No regression has the id {regression_id}.")
        detail = self._detail(regression)
        self._session.rollback()
        return detail

    def _detail(self, regression: Regression) -> RegressionDetail:
        jobs = self._store.jobs_between(
            regression.last_good,
            regression.first_bad,
            regression.series.dataset,
            self._settings.default_branch,
        )
        return RegressionDetail(
            regression=regression,
            jobs=jobs,
            commits=suspect_commits(regression.last_good, jobs),
            packages=(
                package_diff(
                    self._store.packages(regression.last_good.id),
                    self._store.packages(regression.first_bad.id),
                )
                if regression.last_good is not None
                else []
            ),
            events=self._store.events(regression.id),
        )

    def details(self, ids: Sequence[int]) -> list[RegressionDetail]:
        """Several records with their suspects, in id order."""
        details = [self._detail(r) for r in self._store.get_many(ids)]
        self._session.rollback()
        return details

    def markers(self, series_key: str) -> list[RegressionMarker]:
        """The standing records of a series (not dissolved), for the marks on its plot."""
        markers = self._store.markers(series_key)
        self._session.rollback()
        return markers

    def series_values(self, series_key: str) -> tuple[SeriesInfo, str | None, list[SeriesValue]]:
        """A series, its unit and its main-line values (what a regression's plot shows)."""
        series = self._series.get_by_key(series_key)
        if series is None:
            self._session.rollback()
            raise SeriesNotFoundError(f"No series has the key {series_key!r}.")
        metric = self._metrics.get(series.metric_name)
        unit = metric.unit if metric is not None else None
        values = line_values(self._store, series.id, self._settings.default_branch, unit)
        self._session.rollback()
        return series, unit, values

    def metric(self, name: str) -> MetricInfo | None:
        """The stored definition of a metric, if any."""
        found = self._metrics.get(name)
        self._session.rollback()
        return found

    # Triage -----------------------------------------------------------------------------

    def update_status(
        self, regression_id: int, user: User, *, status: str | None, note: str | None
    ) -> RegressionDetail:
        """Change a record's status and/or add a note; the history records who and when.

        Raises
        ------
        InvalidRequestError
            Neither a status nor a note, or an unknown status.
        RegressionNotFoundError
            No such record.
        """
        note = note.strip() if note else None
        if status is None and not note:
            raise InvalidRequestError(
                "Send a new `status` (open, acknowledged, false_positive, fixed) or a `note`.",
                field="status",
            )
        _check_choice("status", status, STATUSES)
        if note is not None and len(note) > 10_000:
            raise InvalidRequestError("A note has at most 10,000 characters.", field="note")
        regression = self._store.get(regression_id)
        if regression is None:
            self._session.rollback()
            raise RegressionNotFoundError(f"No regression has the id {regression_id}.")
        now = datetime.now(UTC)
        try:
            if status is not None and status != regression.status:
                self._store.update(regression_id, {"status": status, "updated_at": now})
                self._store.add_event(
                    regression_id,
                    now,
                    "status",
                    user_id=user.id,
                    user_name=user.name,
                    from_status=regression.status,
                    to_status=status,
                    note=note,
                )
            elif note:
                self._store.add_event(
                    regression_id, now, "note", user_id=user.id, user_name=user.name, note=note
                )
            self._session.commit()
        except BaseException:
            self._session.rollback()
            raise
        return self.get(regression_id)


def suspect_commits(last_good: JobRef | None, jobs: list[JobRef]) -> list[SuspectCommit]:
    """The commits that ran first after *last_good*, in order, with the jobs that ran them."""
    seen: dict[str, SuspectCommit] = {}
    before = last_good.commit_sha if last_good is not None else None
    for job in jobs:
        sha = job.commit_sha
        if sha is None or sha == before:
            continue
        if sha not in seen:
            seen[sha] = SuspectCommit(sha, job.author, job.author_email)
        seen[sha].job_ids.append(job.id)
    return list(seen.values())


def _check_choice(name: str, value: str | None, choices: Sequence[str]) -> None:
    if value is not None and value not in choices:
        raise InvalidRequestError(
            f"{name} must be one of {', '.join(choices)}, not {value!r}.", field=name
        )


def _cursor(cursor: str | None) -> int | None:
    if not cursor:
        return None
    try:
        return int(cursor)
    except ValueError:
        raise InvalidRequestError(
            f"The cursor {cursor!r} is not one this server gave out.", field="cursor"
        ) from None
