"""Regressions: detect them in stored history, keep the records in step, triage them.

The statistics are `vigil.analysis`'s; this service decides what a change point becomes
(a record that is created, moved or dissolved), what a failing specification becomes,
who the suspects are, and how people change a record's status.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from vigil.analysis import ChangePoint, change_points
from vigil.verify import ThresholdSpecification, VerifyError, query_metadata
from vigil.verify.units import conversion_factor

from ..config import Settings
from ..domain import MetricInfo, Page, SeriesInfo, SpecificationInfo, User
from ..domain.regressions import (
    KINDS,
    STATUSES,
    JobRef,
    QueueItem,
    Regression,
    RegressionDetail,
    RegressionFilter,
    RegressionMarker,
    SeriesValue,
    StoredChange,
    SuspectCommit,
    package_diff,
)
from ..exceptions import InvalidRequestError, NotFoundError, SeriesNotFoundError
from ..storage.metrics import MetricStore, SpecificationStore
from ..storage.regressions import AnalysisQueueStore, RegressionStore
from ..storage.series import SeriesStore

__all__ = [
    "MATCH_TOLERANCE",
    "SPEC_PERSISTENCE",
    "AnalysisReport",
    "RegressionNotFoundError",
    "RegressionService",
    "finite",
    "line_values",
    "suspect_commits",
]

logger = logging.getLogger(__name__)

MATCH_TOLERANCE = 5
"""How many points a change point may move and still be the same record."""

SPEC_PERSISTENCE = 2
"""How many values in a row must fail (or pass) a specification to open (or close) a failure."""

_QUEUE_LEASE = timedelta(minutes=10)


class RegressionNotFoundError(NotFoundError):
    code = "regression_not_found"


@dataclass(slots=True)
class AnalysisReport:
    """What analysing series did to the records."""

    series: int = 0
    created: int = 0
    moved: int = 0
    dissolved: int = 0
    fixed: int = 0

    def add(self, other: AnalysisReport) -> None:
        """Add *other*'s counts to these."""
        self.series += other.series
        self.created += other.created
        self.moved += other.moved
        self.dissolved += other.dissolved
        self.fixed += other.fixed


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
    values = store.line_values(series_id, branch, main_line=main_line)
    if unit is not None:
        for point in values:
            if point.value is not None and point.unit != unit:
                factor = conversion_factor(point.unit, unit)
                if factor is not None:
                    point.value *= factor
                    point.unit = unit
    return values


class RegressionService:
    """Detection, reconciliation, reads and triage of regressions.

    Parameters
    ----------
    session
        The database session (each public call commits or rolls back).
    settings
        Server settings (default branch).
    """

    def __init__(self, session: Session, settings: Settings) -> None:
        self._session = session
        self._settings = settings
        self._store = RegressionStore(session)
        self._queue = AnalysisQueueStore(session)
        self._metrics = MetricStore(session)
        self._specs = SpecificationStore(session)

    # Detection --------------------------------------------------------------------------

    def analyse(self, series_id: int, trigger_job_id: int | None = None) -> AnalysisReport:
        """Analyse one series now and bring its records in step (commits).

        Records created with no *trigger_job_id* (a re-analysis of history) are not
        announced to subscribers.
        """
        try:
            report = self._analyse(series_id, trigger_job_id, datetime.now(UTC))
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
        """Analyse up to *limit* series waiting in the queue, each in its own transaction."""
        now = datetime.now(UTC)
        items = self._queue.claim(now, now + _QUEUE_LEASE, limit)
        self._session.commit()
        total = AnalysisReport()
        for item in items:
            try:
                total.add(self._process(item))
            except Exception:
                # Left claimed: it is tried again when the lease ends, and the others go on.
                self._session.rollback()
                logger.exception("Analysis of series %d failed", item.series_id)
        return total

    def _process(self, item: QueueItem) -> AnalysisReport:
        try:
            report = self._analyse(item.series_id, item.job_id, datetime.now(UTC))
            self._queue.complete(item)
            self._session.commit()
        except BaseException:
            self._session.rollback()
            raise
        return report

    def _analyse(self, series_id: int, trigger: int | None, now: datetime) -> AnalysisReport:
        report = AnalysisReport(series=1)
        series = self._store.series(series_id)
        if series is None:
            return report
        metric = self._metrics.get(series.metric_name)
        unit = metric.unit if metric is not None else None
        values = line_values(self._store, series_id, self._settings.default_branch, unit)
        if not values:
            return report
        stored = self._store.stored_changes(series_id)
        direction = metric.direction if metric is not None else None
        found = change_points([v.value for v in values], direction)
        _Reconciler(self._store, series_id, values, trigger, now, report).change_points(
            found, [s for s in stored if s.kind != "spec_failure"], values[-1].unit
        )
        specs = self._specs.list(metric=series.metric_name)
        if specs:
            self._spec_failures(series, values, specs, stored, trigger, now, report)
        return report

    def _spec_failures(
        self,
        series: SeriesInfo,
        values: list[SeriesValue],
        specs: list[SpecificationInfo],
        stored: list[StoredChange],
        trigger: int | None,
        now: datetime,
        report: AnalysisReport,
    ) -> None:
        points = [v for v in values if v.value is not None]
        needs_meta = any(s.metadata_query for s in specs)
        metas = self._store.job_metas(v.job_id for v in points) if needs_meta else {}
        for info in specs:
            spec = _threshold(info)
            if spec is None:
                continue
            verdicts: list[tuple[SeriesValue, bool]] = []
            for point in points:
                metadata = {**metas.get(point.job_id, {}), **series.data_id}
                if spec.metadata_query and not query_metadata(spec.metadata_query, metadata):
                    continue
                try:
                    passed = spec.check(point.value, point.unit)
                except (VerifyError, ValueError):
                    passed = None
                if passed is not None:
                    verdicts.append((point, passed))
            mine = [s for s in stored if s.kind == "spec_failure" and s.specification == info.name]
            _Reconciler(self._store, series.id, values, trigger, now, report).spec_failure(
                info.name, verdicts, mine
            )

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
        series = SeriesStore(self._session).get_by_key(series_key)
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


def _threshold(info: SpecificationInfo) -> ThresholdSpecification | None:
    if info.type != "threshold" or info.threshold_value is None or not info.threshold_operator:
        return None
    try:
        return ThresholdSpecification(
            name=info.name,
            metadata_query=dict(info.metadata_query),
            tags=frozenset(info.tags),
            threshold_value=info.threshold_value,
            threshold_unit=info.threshold_unit or "",
            operator=info.threshold_operator,
        )
    except VerifyError:
        return None


def _trailing_run(verdicts: list[tuple[SeriesValue, bool]]) -> int:
    """How many of the last verdicts agree with the very last one."""
    if not verdicts:
        return 0
    last = verdicts[-1][1]
    count = 0
    for _, passed in reversed(verdicts):
        if passed != last:
            break
        count += 1
    return count


def _failure_start(verdicts: list[tuple[SeriesValue, bool]]) -> int | None:
    """Where the failing episode at the end began: after the last long passing run."""
    i = len(verdicts) - 1
    start = i
    while i >= 0:
        if not verdicts[i][1]:
            start = i
            i -= 1
            continue
        j = i
        while j >= 0 and verdicts[j][1]:
            j -= 1
        if i - j >= SPEC_PERSISTENCE:
            return start
        i = j
    return None


def finite(value: float | None) -> float | None:
    """*value* if it is a finite number, else None."""
    return value if value is not None and math.isfinite(value) else None


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


class _Reconciler:
    """Brings the stored records of one series in step with what the data now show."""

    def __init__(
        self,
        store: RegressionStore,
        series_id: int,
        values: list[SeriesValue],
        trigger: int | None,
        now: datetime,
        report: AnalysisReport,
    ) -> None:
        self._store = store
        self._series_id = series_id
        self._position = {v.job_id: i for i, v in enumerate(values)}
        self._values = values
        self._trigger = trigger
        self._now = now
        self._report = report

    def change_points(
        self, found: list[ChangePoint], stored: list[StoredChange], unit: str
    ) -> None:
        """Create, move or dissolve change-point records to match *found*."""
        unmatched = list(stored)
        for cp in found:
            first_bad = self._values[cp.index].job_id
            last_good = self._values[cp.previous_index].job_id
            match = self._closest(cp.index, cp.kind, unmatched)
            values = {
                "kind": cp.kind,
                "first_bad_job_id": first_bad,
                "last_good_job_id": last_good,
                "before": finite(cp.before),
                "after": finite(cp.after),
                "size": finite(cp.size),
                "relative_size": finite(cp.relative_size),
                "effect_size": finite(cp.effect_size),
                "p_value": finite(cp.p_value),
                "unit": unit,
                "dissolved": False,
            }
            if match is None:
                self._create(values)
                continue
            unmatched.remove(match)
            self._follow(match, values)
        for record in unmatched:
            if not record.dissolved:
                self._store.update(record.id, {"dissolved": True, "updated_at": self._now})
                self._store.add_event(
                    record.id, self._now, "dissolved", note="Later data no longer show it."
                )
                self._report.dissolved += 1

    def _closest(
        self, index: int, kind: str, candidates: list[StoredChange]
    ) -> StoredChange | None:
        best: tuple[int, int, StoredChange] | None = None
        for record in candidates:
            where = self._position.get(record.first_bad_job_id)
            if where is None or record.kind != kind:
                continue
            distance = abs(where - index)
            # Prefer the nearest; among equals, a standing record over a dissolved one.
            rank = (distance, int(record.dissolved))
            if distance <= MATCH_TOLERANCE and (best is None or rank < best[:2]):
                best = (distance, int(record.dissolved), record)
        return best[2] if best is not None else None

    def _create(self, values: dict[str, Any]) -> None:
        new_id = self._store.insert(
            {
                **values,
                "series_id": self._series_id,
                "status": "open",
                "trigger_job_id": self._trigger,
                # A re-analysis of history (no job asked) records without notifying.
                "announced": self._trigger is None,
                "created_at": self._now,
                "updated_at": self._now,
            }
        )
        self._store.add_event(new_id, self._now, "created", to_status="open")
        self._report.created += 1

    def _follow(self, record: StoredChange, values: dict[str, Any]) -> None:
        moved = (record.first_bad_job_id, record.last_good_job_id) != (
            values["first_bad_job_id"],
            values["last_good_job_id"],
        )
        self._store.update(record.id, {**values, "updated_at": self._now})
        if record.dissolved:
            self._store.add_event(
                record.id, self._now, "reappeared", note="Later data show it again."
            )
        elif moved:
            self._store.add_event(
                record.id,
                self._now,
                "moved",
                note=(
                    f"First bad job {record.first_bad_job_id} → {values['first_bad_job_id']},"
                    f" last good job {record.last_good_job_id} → {values['last_good_job_id']}."
                ),
            )
            self._report.moved += 1

    def spec_failure(
        self, name: str, verdicts: list[tuple[SeriesValue, bool]], stored: list[StoredChange]
    ) -> None:
        """Open, move or close the failure record of specification *name*.

        *verdicts* are (value, passed) in time order. A failure is a run of at least
        `SPEC_PERSISTENCE` failing values at the end, after as many passing ones (shorter
        passing runs in between count as part of the failure, so that a value hovering
        at the threshold does not open and close records); `SPEC_PERSISTENCE` passing
        values close it as fixed. A specification never met is a goal, not a
        regression, and opens nothing.
        """
        standing = [s for s in stored if s.status in ("open", "acknowledged")]
        trailing = _trailing_run(verdicts)
        if not verdicts or trailing < SPEC_PERSISTENCE:
            return
        latest, passed = verdicts[-1]
        if passed:
            for record in standing:
                self._store.update(record.id, {"status": "fixed", "updated_at": self._now})
                self._store.add_event(
                    record.id,
                    self._now,
                    "status",
                    from_status=record.status,
                    to_status="fixed",
                    note=f"Job {latest.job_id} passes {name} again.",
                )
                self._report.fixed += 1
            return
        first_bad_at = _failure_start(verdicts)
        if first_bad_at is None:
            return
        first_bad = verdicts[first_bad_at][0]
        last_good = verdicts[first_bad_at - 1][0]
        values = {
            "first_bad_job_id": first_bad.job_id,
            "last_good_job_id": last_good.job_id,
            "before": last_good.value,
            "after": latest.value,
            "size": (latest.value or 0.0) - (last_good.value or 0.0),
            "relative_size": (
                ((latest.value or 0.0) - last_good.value) / abs(last_good.value)
                if last_good.value
                else None
            ),
            "unit": latest.unit,
        }
        same = [s for s in stored if s.first_bad_job_id == first_bad.job_id]
        if same or standing:
            self._follow((same or standing)[0], values)
        else:
            self._create({**values, "kind": "spec_failure", "specification": name})
