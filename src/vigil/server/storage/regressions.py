"""Regressions and their triage in the database.

Subscriptions and the outbox live in `storage.subscriptions`, the analysis queue in
`storage.analysis_queue`; their stores are imported here too, where they used to be.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, insert, or_, select, update
from sqlalchemy.orm import Session

from ..dbschema import (
    SqlJob,
    SqlMeasurement,
    SqlRegression,
    SqlRegressionEvent,
    SqlSeries,
)
from ..domain import Package, SeriesInfo
from ..domain.regressions import (
    JobRef,
    Regression,
    RegressionEvent,
    RegressionFilter,
    RegressionMarker,
    SeriesValue,
    StoredChange,
)
from ._sql import chunks
from .analysis_queue import AnalysisQueueStore
from .jobs import JobStore, job_time
from .series import series_info
from .subscriptions import OutboxStore, SubscriptionStore

__all__ = ["AnalysisQueueStore", "OutboxStore", "RegressionStore", "SubscriptionStore"]


def _default_line(default_branch: str) -> Any:
    """Jobs of the main line: the default branch, or no branch known (legacy SQuaSH jobs)."""
    return or_(SqlJob.branch == default_branch, SqlJob.branch.is_(None))


def _job_columns() -> tuple[Any, ...]:
    j = SqlJob
    return (
        j.id,
        job_time().label("time"),
        j.branch,
        j.commit_sha,
        j.author,
        j.author_email,
        j.ci_url,
        j.dataset,
    )


def _job_ref(row: Any) -> JobRef:
    return JobRef(*row)


def _specifications(names: list[str] | None, legacy: str | None) -> list[str]:
    """A record's specifications: the stored list, else the one of a record made before
    records were grouped."""
    if names is not None:
        return list(names)
    return [legacy] if legacy else []


class RegressionStore:
    """Queries on ``regressions`` and ``regression_events``, and the reads analysis needs."""

    def __init__(self, session: Session) -> None:
        self._session = session

    # What the analysis reads ------------------------------------------------------------

    def line_values(
        self, series_id: int, branch: str, *, main_line: bool = True
    ) -> list[SeriesValue]:
        """The values of a series on one branch, in time order (NaN as None).

        With *main_line*, jobs that name no branch (legacy SQuaSH jobs) count as
        *branch*, the default branch.
        """
        m, j = SqlMeasurement, SqlJob
        on_branch = _default_line(branch) if main_line else j.branch == branch
        stmt = (
            select(m.job_id, job_time(), m.value, m.unit)
            .join(j, j.id == m.job_id)
            .where(m.series_id == series_id, on_branch)
            .order_by(job_time(), m.job_id, m.id)
        )
        return [SeriesValue(*row) for row in self._session.execute(stmt)]

    def line_values_many(
        self, series_ids: Sequence[int], branch: str
    ) -> dict[int, list[SeriesValue]]:
        """`line_values` of several series on the main line of *branch*, by series id
        (a series with no value there is absent)."""
        m, j = SqlMeasurement, SqlJob
        found: dict[int, list[SeriesValue]] = {}
        for part in chunks(sorted(set(series_ids))):
            stmt = (
                select(m.series_id, m.job_id, job_time(), m.value, m.unit)
                .join(j, j.id == m.job_id)
                .where(m.series_id.in_(part), _default_line(branch))
                .order_by(m.series_id, job_time(), m.job_id, m.id)
            )
            for series_id, *row in self._session.execute(stmt):
                found.setdefault(series_id, []).append(SeriesValue(*row))
        return found

    def first_job_of_branch(self, branch: str) -> JobRef | None:
        """The earliest job of *branch*, if any."""
        row = self._session.execute(
            select(*_job_columns())
            .where(SqlJob.branch == branch)
            .order_by(job_time(), SqlJob.id)
            .limit(1)
        ).first()
        return _job_ref(row) if row is not None else None

    def latest_line_job(
        self,
        branch: str,
        *,
        main_line: bool,
        dataset: str | None,
        instrument: str | None,
        before: tuple[datetime, int | None],
        exclude: Sequence[int] = (),
    ) -> JobRef | None:
        """The newest job of *branch* on *dataset* and *instrument* (null-safe) that ran
        before *before* (a job time and id; id None: at or before that time), leaving out
        *exclude*.

        With *main_line*, jobs that name no branch count as *branch*, the default branch.
        """
        j = SqlJob
        t = job_time()
        on_branch = _default_line(branch) if main_line else j.branch == branch
        stmt = (
            select(*_job_columns())
            .where(on_branch)
            .where(j.dataset.is_not_distinct_from(dataset))
            .where(j.instrument.is_not_distinct_from(instrument))
            .where(
                t <= before[0]
                if before[1] is None
                else or_(t < before[0], and_(t == before[0], j.id < before[1]))
            )
            .order_by(t.desc(), j.id.desc())
            .limit(1)
        )
        if exclude:
            stmt = stmt.where(j.id.not_in(list(exclude)))
        row = self._session.execute(stmt).first()
        return _job_ref(row) if row is not None else None

    def series(self, series_id: int) -> SeriesInfo | None:
        """One series by id."""
        row = self._session.get(SqlSeries, series_id)
        return series_info(row) if row is not None else None

    def series_many(self, series_ids: Sequence[int]) -> dict[int, SeriesInfo]:
        """Several series by id (those that exist)."""
        s = SqlSeries
        columns = (s.id, s.series_key, s.metric_name, s.dataset, s.instrument, s.data_id)
        found: dict[int, SeriesInfo] = {}
        for part in chunks(sorted(set(series_ids))):
            for row in self._session.execute(select(*columns).where(s.id.in_(part))):
                found[row.id] = SeriesInfo(
                    id=row.id,
                    series_key=row.series_key,
                    metric_name=row.metric_name,
                    dataset=row.dataset,
                    instrument=row.instrument,
                    data_id=dict(row.data_id or {}),
                )
        return found

    def series_ids(self, *, metric: str | None = None, dataset: str | None = None) -> list[int]:
        """Ids of the series of *metric* and *dataset* (None: any), in id order."""
        stmt = select(SqlSeries.id).order_by(SqlSeries.id)
        if metric is not None:
            stmt = stmt.where(SqlSeries.metric_name == metric)
        if dataset is not None:
            stmt = stmt.where(SqlSeries.dataset == dataset)
        return [int(i) for i in self._session.scalars(stmt)]

    def job_metas(self, job_ids: Iterable[int]) -> dict[int, dict[str, Any]]:
        """The stored ``meta`` of each job, by id."""
        found: dict[int, dict[str, Any]] = {}
        for part in chunks(sorted(set(job_ids))):
            for job_id, meta in self._session.execute(
                select(SqlJob.id, SqlJob.meta).where(SqlJob.id.in_(part))
            ):
                found[int(job_id)] = dict(meta or {})
        return found

    def job_refs(self, job_ids: Iterable[int]) -> dict[int, JobRef]:
        """Job facts by id."""
        found: dict[int, JobRef] = {}
        for part in chunks(sorted(set(job_ids))):
            rows = self._session.execute(select(*_job_columns()).where(SqlJob.id.in_(part)))
            found.update({row[0]: _job_ref(row) for row in rows})
        return found

    def jobs_between(
        self, last_good: JobRef | None, first_bad: JobRef, dataset: str | None, default_branch: str
    ) -> list[JobRef]:
        """Main-line jobs of *dataset* after *last_good* up to *first_bad*, in time order."""
        t = job_time()
        after_last_good = (
            or_(t > last_good.time, and_(t == last_good.time, SqlJob.id > last_good.id))
            if last_good is not None
            else SqlJob.id == first_bad.id
        )
        up_to_first_bad = or_(
            t < first_bad.time, and_(t == first_bad.time, SqlJob.id <= first_bad.id)
        )
        stmt = (
            select(*_job_columns())
            .where(_default_line(default_branch), after_last_good, up_to_first_bad)
            .order_by(t, SqlJob.id)
        )
        stmt = stmt.where(
            SqlJob.dataset == dataset if dataset is not None else SqlJob.dataset.is_(None)
        )
        return [_job_ref(row) for row in self._session.execute(stmt)]

    def packages(self, job_id: int) -> list[Package]:
        """The software packages of a job."""
        return JobStore(self._session).list_packages(job_id)

    # Records ----------------------------------------------------------------------------

    def stored_changes(self, series_id: int) -> list[StoredChange]:
        """Every record of a series (dissolved ones included), by id."""
        return self.stored_changes_many([series_id]).get(series_id, [])

    def stored_changes_many(self, series_ids: Sequence[int]) -> dict[int, list[StoredChange]]:
        """`stored_changes` of several series, by series id (none: absent)."""
        found: dict[int, list[StoredChange]] = {}
        for part in chunks(sorted(set(series_ids))):
            for series_id, change in self._stored_changes(part):
                found.setdefault(series_id, []).append(change)
        return found

    def _stored_changes(self, series_ids: Sequence[int]) -> Iterator[tuple[int, StoredChange]]:
        r = SqlRegression
        rows = self._session.execute(
            select(
                r.series_id,
                r.id,
                r.kind,
                r.status,
                r.specification,
                r.first_bad_job_id,
                r.last_good_job_id,
                r.dissolved,
                r.specifications,
                r.fixed_by_job_id,
                r.before,
                r.size,
                r.suspected,
            )
            .where(r.series_id.in_(series_ids))
            .order_by(r.id)
        )
        for row in rows:
            yield (
                row[0],
                StoredChange(
                    *row[1:8],
                    specifications=_specifications(row.specifications, row.specification),
                    fixed_by_job_id=row.fixed_by_job_id,
                    before=row.before,
                    size=row.size,
                    suspected=row.suspected,
                ),
            )

    def insert(self, values: dict[str, Any]) -> int:
        """Insert a record; return its id."""
        result = self._session.execute(insert(SqlRegression).returning(SqlRegression.id), values)
        return int(result.scalar_one())

    def update(self, regression_id: int, values: dict[str, Any]) -> None:
        """Change columns of a record."""
        self._session.execute(
            update(SqlRegression).where(SqlRegression.id == regression_id).values(**values)
        )

    def add_event(
        self,
        regression_id: int,
        now: datetime,
        action: str,
        *,
        user_id: int | None = None,
        user_name: str | None = None,
        from_status: str | None = None,
        to_status: str | None = None,
        note: str | None = None,
    ) -> None:
        """Append to a record's history."""
        self._session.execute(
            insert(SqlRegressionEvent),
            {
                "regression_id": regression_id,
                "created_at": now,
                "user_id": user_id,
                "user_name": user_name,
                "action": action,
                "from_status": from_status,
                "to_status": to_status,
                "note": note,
            },
        )

    def _regressions(self, stmt: Any) -> list[Regression]:
        rows = list(self._session.execute(stmt))
        refs = self.job_refs(
            [r.first_bad_job_id for r, _ in rows]
            + [r.last_good_job_id for r, _ in rows if r.last_good_job_id is not None]
            + [r.fixed_by_job_id for r, _ in rows if r.fixed_by_job_id is not None]
        )
        return [
            Regression(
                id=r.id,
                series=series_info(s),
                kind=r.kind,
                status=r.status,
                first_bad=refs[r.first_bad_job_id],
                last_good=refs.get(r.last_good_job_id) if r.last_good_job_id else None,
                specifications=_specifications(r.specifications, r.specification),
                before=r.before,
                after=r.after,
                size=r.size,
                relative_size=r.relative_size,
                effect_size=r.effect_size,
                p_value=r.p_value,
                unit=r.unit,
                dissolved=r.dissolved,
                suspected=r.suspected,
                trigger_job_id=r.trigger_job_id,
                created_at=r.created_at,
                updated_at=r.updated_at,
                fixed_by=refs.get(r.fixed_by_job_id) if r.fixed_by_job_id else None,
            )
            for r, s in rows
        ]

    def _select(self) -> Any:
        return select(SqlRegression, SqlSeries).join(
            SqlSeries, SqlSeries.id == SqlRegression.series_id
        )

    def get(self, regression_id: int) -> Regression | None:
        """One record with its series and jobs."""
        found = self._regressions(self._select().where(SqlRegression.id == regression_id))
        return found[0] if found else None

    def get_many(self, ids: Sequence[int]) -> list[Regression]:
        """Records by id (those that exist), in id order."""
        found: list[Regression] = []
        for part in chunks(sorted(set(ids))):
            found.extend(self._regressions(self._select().where(SqlRegression.id.in_(part))))
        return sorted(found, key=lambda r: r.id)

    def find(
        self, filters: RegressionFilter, *, limit: int, before_id: int | None = None
    ) -> list[Regression]:
        """Records matching *filters*, newest first."""
        r, s = SqlRegression, SqlSeries
        stmt = self._select()
        if filters.status is not None:
            stmt = stmt.where(r.status == filters.status)
        if filters.kind is not None:
            stmt = stmt.where(r.kind == filters.kind)
        if filters.metric is not None:
            stmt = stmt.where(s.metric_name == filters.metric)
        if filters.dataset is not None:
            stmt = stmt.where(s.dataset == filters.dataset)
        if filters.series_key is not None:
            stmt = stmt.where(s.series_key == filters.series_key)
        if not filters.include_dissolved:
            stmt = stmt.where(r.dissolved.is_(False))
        if filters.job is not None:
            stmt = stmt.where(
                or_(r.first_bad_job_id == filters.job, r.fixed_by_job_id == filters.job)
            )
        if before_id is not None:
            stmt = stmt.where(r.id < before_id)
        return self._regressions(stmt.order_by(r.id.desc()).limit(limit))

    def events(self, regression_id: int) -> list[RegressionEvent]:
        """A record's history, oldest first."""
        e = SqlRegressionEvent
        rows = self._session.execute(
            select(e.id, e.created_at, e.user_name, e.action, e.from_status, e.to_status, e.note)
            .where(e.regression_id == regression_id)
            .order_by(e.id)
        )
        return [RegressionEvent(*row) for row in rows]

    def markers(self, series_key: str) -> list[RegressionMarker]:
        """Where the standing records of a series are, for its plot."""
        r, s = SqlRegression, SqlSeries
        rows = self._session.execute(
            select(
                r.id,
                r.kind,
                r.status,
                job_time(),
                r.first_bad_job_id,
                r.size,
                r.relative_size,
                r.specifications,
                r.specification,
            )
            .join(s, s.id == r.series_id)
            .join(SqlJob, SqlJob.id == r.first_bad_job_id)
            .where(s.series_key == series_key, r.dissolved.is_(False))
            .order_by(job_time(), r.id)
        )
        return [
            RegressionMarker(
                id=row[0],
                kind=row[1],
                status=row[2],
                time=row[3],
                job_id=row[4],
                size=row[5],
                relative_size=row[6],
                # A change of level is marked as one, whatever it makes fail.
                specification=(
                    ", ".join(_specifications(row[7], row[8])) or None
                    if row[1] == "spec_failure"
                    else None
                ),
            )
            for row in rows
        ]

    def unannounced(self, limit: int) -> list[tuple[int, int | None]]:
        """``(id, trigger_job_id)`` of records not announced yet, oldest first."""
        r = SqlRegression
        rows = self._session.execute(
            select(r.id, r.trigger_job_id).where(r.announced.is_(False)).order_by(r.id).limit(limit)
        )
        return [(int(i), j) for i, j in rows]

    def mark_announced(self, ids: Sequence[int], suspicions: Sequence[int] = ()) -> None:
        """Record that notifications were queued for *ids*, and among them for the
        suspected records *suspicions* (told to the subscribers of suspicions)."""
        for part in chunks(list(ids)):
            self._session.execute(
                update(SqlRegression).where(SqlRegression.id.in_(part)).values(announced=True)
            )
        for part in chunks(list(suspicions)):
            self._session.execute(
                update(SqlRegression)
                .where(SqlRegression.id.in_(part))
                .values(suspicion_announced=True)
            )

    def suspicions_announced(self, ids: Sequence[int]) -> set[int]:
        """Which of *ids* were already told, as suspicions, to the subscribers of those."""
        found: set[int] = set()
        r = SqlRegression
        for part in chunks(sorted(set(ids))):
            rows = self._session.scalars(
                select(r.id).where(r.id.in_(part), r.suspicion_announced.is_(True))
            )
            found.update(int(i) for i in rows)
        return found
