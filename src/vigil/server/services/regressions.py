"""Regressions: detect them in stored history, keep the records in step, triage them.

The statistics are `vigil.analysis`'s; this service decides what a change point becomes
(a record that is created, moved, dissolved, or the fix of the change it undoes), what a
failing specification becomes (a name inside the change that explains it, else inside
the one failure record of its series), who the suspects are, how the list is grouped by
commit or job, and how people change a record's status.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from vigil.analysis import ChangePoint, Suspicion, change_points, suspect
from vigil.verify import ThresholdSpecification, VerifyError, query_metadata
from vigil.verify.units import conversion_factor

from ..config import Settings
from ..domain import MetricInfo, Page, SeriesInfo, SpecificationInfo, User
from ..domain.analysis_settings import AnalysisSettings, MetricAnalysisSettings
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
    StoredChange,
    SuspectCommit,
    package_diff,
)
from ..exceptions import InvalidRequestError, NotFoundError, SeriesNotFoundError
from ..storage.metrics import MetricStore, SpecificationStore
from ..storage.regressions import AnalysisQueueStore, RegressionStore
from ..storage.series import SeriesStore

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

MATCH_TOLERANCE = 5
"""How many points a change point may move and still be the same record."""

GROUP_LIMIT = 1000
"""The most records a grouped list looks at (the newest); it says when there were more."""

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
    analysis
        Per-metric analysis settings (``VIGIL_ANALYSIS_SETTINGS_FILE``; None: defaults).
    """

    def __init__(
        self, session: Session, settings: Settings, analysis: AnalysisSettings | None = None
    ) -> None:
        self._session = session
        self._settings = settings
        self._analysis = analysis if analysis is not None else AnalysisSettings()
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
        tuned = self._analysis.for_metric(series.metric_name)
        direction = tuned.direction or (metric.direction if metric is not None else None)
        series_values = [v.value for v in values]
        found = [
            cp
            for cp in change_points(series_values, direction, **_detector_settings(tuned))
            if tuned.large_enough(cp.size, cp.before)
        ]
        early = _early_warning(series_values, direction, found, tuned)
        reconciler = _Reconciler(
            self._store, series_id, values, trigger, now, report, alert=tuned.alert
        )
        levels = reconciler.change_points(
            found, [s for s in stored if s.kind != "spec_failure"], values[-1].unit, early
        )
        specs = self._specs.list(metric=series.metric_name)
        episodes = self._spec_episodes(series, values, specs) if specs else []
        reconciler.specifications(episodes, levels, [s for s in stored if s.kind == "spec_failure"])
        return report

    def _spec_episodes(
        self, series: SeriesInfo, values: list[SeriesValue], specs: list[SpecificationInfo]
    ) -> list[_Episode]:
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
                try:
                    passed = spec.check(point.value, point.unit)
                except (VerifyError, ValueError):
                    passed = None
                if passed is not None:
                    verdicts.append((point, passed))
            episodes.append(_Episode.of(info.name, verdicts))
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


def threshold_specification(info: SpecificationInfo) -> ThresholdSpecification | None:
    """The `vigil.verify` specification of a stored one (whose ``check`` is the one
    pass/fail rule, with unit conversion); ``None`` when it is not a valid threshold."""
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


@dataclass(slots=True)
class _Episode:
    """Where one specification stands at the latest values of a series.

    ``state`` is ``failing`` (a failure at the end, begun at ``first_bad`` after
    ``last_good``), ``passing`` (`SPEC_PERSISTENCE` passing values at the end), ``goal``
    (failing and never met: opens nothing) or ``unsettled`` (too few agreeing values at
    the end to say).
    """

    name: str
    state: str
    first_bad: SeriesValue | None = None
    last_good: SeriesValue | None = None
    latest: SeriesValue | None = None

    @classmethod
    def of(cls, name: str, verdicts: list[tuple[SeriesValue, bool]]) -> _Episode:
        """The episode of *verdicts*, (value, passed) in time order."""
        if not verdicts or _trailing_run(verdicts) < SPEC_PERSISTENCE:
            return cls(name, "unsettled")
        latest, passed = verdicts[-1]
        if passed:
            return cls(name, "passing", latest=latest)
        start = _failure_start(verdicts)
        if start is None:
            return cls(name, "goal", latest=latest)
        return cls(name, "failing", verdicts[start][0], verdicts[start - 1][0], latest)


@dataclass(slots=True)
class _Level:
    """A standing change-of-level record as this analysis sees it."""

    id: int
    index: int
    before: float | None
    size: float | None
    specifications: list[str]
    fixed_at: int | None = None


def _detector_settings(tuned: MetricAnalysisSettings) -> dict[str, Any]:
    """The arguments of `change_points` that a metric's settings give."""
    found: dict[str, Any] = {}
    if tuned.alpha is not None:
        found["alpha"] = tuned.alpha
    if tuned.min_effect is not None:
        found["min_effect"] = tuned.min_effect
    if tuned.min_points is not None:
        found["min_segment"] = tuned.min_points
    return found


def _early_warning(
    values: list[float | None],
    direction: str | None,
    found: list[ChangePoint],
    tuned: MetricAnalysisSettings | None = None,
) -> ChangePoint | None:
    """The suspicion on the newest *values* (`vigil.analysis.suspect`) as a change point
    to record as suspected, unless a change point *found* already stands near it or it
    is smaller than the metric's minimums (*tuned*)."""
    tuned = tuned or MetricAnalysisSettings()
    options = {"min_segment": tuned.min_points} if tuned.min_points is not None else {}
    suspicion = suspect(values, direction, **options)
    if suspicion is None or not tuned.large_enough(suspicion.size, suspicion.level):
        return None
    if tuned.min_effect is not None and abs(suspicion.effect_size) < tuned.min_effect:
        return None
    if any(abs(cp.index - suspicion.index) <= MATCH_TOLERANCE for cp in found):
        return None
    early = _as_change_point(suspicion, values)
    if tuned.alpha is not None and early.p_value > tuned.alpha:
        # A metric made stricter is stricter in its early warnings too.
        return None
    return early


def _as_change_point(suspicion: Suspicion, values: list[float | None]) -> ChangePoint:
    """A suspicion in the shape of a change point: from its level to its newest values."""
    previous = suspicion.index - 1
    while previous > 0 and finite(values[previous]) is None:
        previous -= 1
    return ChangePoint(
        index=suspicion.index,
        previous_index=max(previous, 0),
        before=suspicion.level,
        after=suspicion.value,
        size=suspicion.size,
        relative_size=suspicion.size / abs(suspicion.level) if suspicion.level else None,
        effect_size=suspicion.effect_size,
        # Two-sided normal p-value of the suspicion's z.
        p_value=math.erfc(abs(suspicion.z) / math.sqrt(2.0)),
        kind=suspicion.kind,
    )


REVERT_TOLERANCE = 0.5
"""A later change undoes an earlier one when it goes the other way and ends within this
fraction of the earlier change's size from the earlier level."""


def _reverts(level: _Level, cp: ChangePoint) -> bool:
    """Whether change point *cp* brings the series back to the level before *level*."""
    if level.size is None or level.before is None or not level.size:
        return False
    if math.copysign(1.0, cp.size) == math.copysign(1.0, level.size):
        return False
    return abs(cp.after - level.before) <= REVERT_TOLERANCE * abs(level.size)


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
        *,
        alert: bool = True,
    ) -> None:
        self._store = store
        # Records are announced when a job's analysis makes them and the metric alerts.
        self._announce = trigger is not None and alert
        self._series_id = series_id
        self._position = {v.job_id: i for i, v in enumerate(values)}
        self._values = values
        self._trigger = trigger
        self._now = now
        self._report = report

    def change_points(
        self,
        found: list[ChangePoint],
        stored: list[StoredChange],
        unit: str,
        early: ChangePoint | None = None,
    ) -> list[_Level]:
        """Create, move, fix or dissolve change-point records to match *found*.

        A change point that brings the series back to the level before the previous one
        is not a record of its own: it fixes that record (``fixed_by``). *early*, a
        suspicion on the newest values, is a record marked ``suspected``: when a change
        point is later found there it is the same record, confirmed; when later values
        no longer show it, it dissolves. Returns the standing records (suspicions left
        out) in time order.
        """
        unmatched = list(stored)
        levels: list[_Level] = []
        fixed_ids: set[int] = set()
        for cp, suspected in [(cp, False) for cp in found] + (
            [(early, True)] if early is not None else []
        ):
            previous = levels[-1] if levels else None
            if previous is not None and previous.fixed_at is None and _reverts(previous, cp):
                if suspected:
                    # A suspected move back: the change it would fix is judged when
                    # the move back is confirmed.
                    continue
                record = next(r for r in stored if r.id == previous.id)
                self._fix(record, cp)
                previous.fixed_at = cp.index
                fixed_ids.add(record.id)
                continue
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
                "suspected": suspected,
            }
            if match is None:
                new_id = self._create(values)
                record = StoredChange(
                    new_id, cp.kind, "open", None, first_bad, last_good, False, [], None
                )
                stored.append(record)
            else:
                unmatched.remove(match)
                self._follow(match, values)
                record = match
            if suspected:
                continue
            levels.append(
                _Level(
                    record.id,
                    cp.index,
                    finite(cp.before),
                    finite(cp.size),
                    list(record.specifications),
                )
            )
        for record in unmatched:
            if not record.dissolved:
                self._dissolve(record, "Later data no longer show it.")
        for record in stored:
            if record.fixed_by_job_id is not None and record.id not in fixed_ids:
                if record not in unmatched:
                    self._unfix(record)
        return levels

    def _fix(self, record: StoredChange, cp: ChangePoint) -> None:
        """Record that change point *cp* undid *record*: fixed by its first job."""
        job_id = self._values[cp.index].job_id
        if record.fixed_by_job_id == job_id:
            return
        changes: dict[str, Any] = {"fixed_by_job_id": job_id, "updated_at": self._now}
        note = f"Back to the earlier level from job {job_id} on: a later change undid this one."
        if record.fixed_by_job_id is not None:
            self._store.update(record.id, changes)
            self._store.add_event(
                record.id,
                self._now,
                "moved",
                note=f"Fixed by job {record.fixed_by_job_id} → {job_id}.",
            )
            return
        if record.status in ("open", "acknowledged"):
            changes["status"] = "fixed"
            self._store.update(record.id, changes)
            self._store.add_event(
                record.id,
                self._now,
                "status",
                from_status=record.status,
                to_status="fixed",
                note=note,
            )
        else:
            self._store.update(record.id, changes)
            self._store.add_event(record.id, self._now, "fixed", note=note)
        self._report.fixed += 1

    def _unfix(self, record: StoredChange) -> None:
        """The change back that fixed *record* is no longer seen: it stands again."""
        changes: dict[str, Any] = {"fixed_by_job_id": None, "updated_at": self._now}
        reopen = record.status == "fixed" and not record.dissolved
        if reopen:
            changes["status"] = "open"
        self._store.update(record.id, changes)
        self._store.add_event(
            record.id,
            self._now,
            "status" if reopen else "moved",
            from_status="fixed" if reopen else None,
            to_status="open" if reopen else None,
            note=f"Later data no longer show the change back at job {record.fixed_by_job_id}.",
        )

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

    def _create(self, values: dict[str, Any]) -> int:
        new_id = self._store.insert(
            {
                **values,
                "series_id": self._series_id,
                "status": "open",
                "trigger_job_id": self._trigger,
                # A re-analysis of history (no job asked) records without notifying, and
                # so do metrics set not to alert.
                "announced": not self._announce,
                "created_at": self._now,
                "updated_at": self._now,
            }
        )
        note = (
            "Suspected from the newest values: later data will confirm or dissolve it."
            if values.get("suspected")
            else None
        )
        self._store.add_event(new_id, self._now, "created", to_status="open", note=note)
        self._report.created += 1
        return new_id

    def _follow(self, record: StoredChange, values: dict[str, Any]) -> None:
        moved = (record.first_bad_job_id, record.last_good_job_id) != (
            values["first_bad_job_id"],
            values["last_good_job_id"],
        )
        changes = {**values, "updated_at": self._now}
        confirmed = record.suspected and values.get("suspected") is False
        if confirmed and self._announce:
            # Announced again, to the subscribers who wait for confirmed changes, in the
            # digest of the job that confirmed it.
            changes.update(announced=False, trigger_job_id=self._trigger)
        self._store.update(record.id, changes)
        if confirmed and not record.dissolved:
            self._store.add_event(
                record.id,
                self._now,
                "confirmed",
                note=f"Later data confirm the change (first bad job {values['first_bad_job_id']}).",
            )
        elif not record.suspected and values.get("suspected") and not record.dissolved:
            self._store.add_event(
                record.id,
                self._now,
                "suspected",
                note="Only the newest values show it now: later data will confirm or dissolve it.",
            )
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

    def _explaining(self, episode: _Episode, levels: list[_Level]) -> _Level | None:
        """The change of level in force when *episode*'s failure began, if any.

        A change point found up to `MATCH_TOLERANCE` values after the failure began
        counts too: the detector places a change where the levels differ best.
        """
        assert episode.first_bad is not None
        start = self._position[episode.first_bad.job_id]
        explaining = None
        for level in levels:
            if level.index <= start + MATCH_TOLERANCE and (
                level.fixed_at is None or level.fixed_at > start
            ):
                explaining = level
        return explaining

    def specifications(
        self, episodes: list[_Episode], levels: list[_Level], stored: list[StoredChange]
    ) -> None:
        """List failing specifications inside the records that explain them.

        A failure that began with a change of level goes into that change's record. The
        others are one ``spec_failure`` record per series holding all of them: opened
        when the first fails, followed while any fails, ``fixed`` when every one passes
        again (`SPEC_PERSISTENCE` values), dissolved when a change of level turns out to
        explain them.
        """
        unexplained: list[_Episode] = []
        for episode in episodes:
            if episode.state != "failing":
                continue
            level = self._explaining(episode, levels)
            if level is None:
                unexplained.append(episode)
            elif episode.name not in level.specifications:
                level.specifications.append(episode.name)
                level.specifications.sort()
                self._store.update(
                    level.id, {"specifications": level.specifications, "updated_at": self._now}
                )
        states = {e.name: e.state for e in episodes}
        standing = [s for s in stored if s.status in ("open", "acknowledged") and not s.dissolved]
        current = standing[-1] if standing else None
        for older in standing[:-1]:
            # Records of one specification each, from before records were grouped.
            self._dissolve(older, f"Merged into #{current.id}." if current else "")
        if unexplained:
            self._spec_record(unexplained, states, current, stored, standing)
        elif current is not None:
            names = set(current.specifications) | {n for s in standing for n in s.specifications}
            if any(states.get(n) in ("failing", "unsettled") for n in names):
                if all(states.get(n) != "unsettled" for n in names):
                    # Every failure it held is now explained by a change of level.
                    self._dissolve(current, "Part of a change of level of the series.")
                return
            passing = [e for e in episodes if e.name in names and e.state == "passing"]
            latest = max(
                (e.latest for e in passing if e.latest), key=lambda v: v.time, default=None
            )
            self._store.update(current.id, {"status": "fixed", "updated_at": self._now})
            self._store.add_event(
                current.id,
                self._now,
                "status",
                from_status=current.status,
                to_status="fixed",
                note=(
                    f"Job {latest.job_id if latest else '?'} passes"
                    f" {', '.join(sorted(names))} again."
                ),
            )
            self._report.fixed += 1

    def _spec_record(
        self,
        unexplained: list[_Episode],
        states: dict[str, str],
        current: StoredChange | None,
        stored: list[StoredChange],
        standing: list[StoredChange],
    ) -> None:
        """Open or follow the series' record of the failures no level change explains."""
        held = {n for s in standing for n in s.specifications}
        names = {e.name for e in unexplained} | {n for n in held if states.get(n) == "unsettled"}
        first = min(
            unexplained, key=lambda e: self._position[e.first_bad.job_id if e.first_bad else 0]
        )
        first_bad, last_good = first.first_bad, first.last_good
        latest = max((e.latest for e in unexplained if e.latest), key=lambda v: v.time)
        assert first_bad is not None and last_good is not None
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
            "specifications": sorted(names),
        }
        same = [s for s in stored if s.first_bad_job_id == first_bad.job_id and not s.dissolved]
        record = current or (same[0] if same else None)
        if record is None:
            self._create({**values, "kind": "spec_failure"})
            return
        self._follow(record, values)

    def _dissolve(self, record: StoredChange, note: str) -> None:
        self._store.update(record.id, {"dissolved": True, "updated_at": self._now})
        self._store.add_event(record.id, self._now, "dissolved", note=note or None)
        self._report.dissolved += 1
