"""The queue of series waiting for analysis, in the database."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import cast

from sqlalchemy import Table, bindparam, delete, func, or_, select, update
from sqlalchemy.orm import Session

from ..dbschema import SqlAnalysisQueueItem
from ..domain.regressions import QueueItem
from ._sql import chunks

__all__ = ["AnalysisQueueStore"]

_QUEUE = cast(Table, SqlAnalysisQueueItem.__table__)


# Every main-line job enqueues its series: the statement goes to the driver as it is,
# the same on SQLite and PostgreSQL but for the parameter marks, so that its rows cost no
# per-row processing.
_ENQUEUE = (
    "INSERT INTO analysis_queue (series_id, job_id, version, enqueued_at) VALUES (?, ?, 1, ?)"
    " ON CONFLICT (series_id) DO UPDATE SET job_id = excluded.job_id,"
    " enqueued_at = excluded.enqueued_at, version = analysis_queue.version + 1"
)
_ENQUEUE_BY_STYLE = {
    "qmark": _ENQUEUE,
    "format": _ENQUEUE.replace("?", "%s"),
    "pyformat": _ENQUEUE.replace("?", "%s"),
}
# Parameters named apart from the columns: an UPDATE given a parameter named as a column
# would take it as a value to SET.
_COMPLETE = delete(_QUEUE).where(
    _QUEUE.c.series_id == bindparam("queued_series"), _QUEUE.c.version == bindparam("analysed")
)
_RELEASE = (
    update(_QUEUE)
    .where(_QUEUE.c.series_id == bindparam("queued_series"))
    .values(claimed_until=None)
)


class AnalysisQueueStore:
    """Queries on ``analysis_queue``."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def enqueue(self, series_ids: Iterable[int], job_id: int | None, now: datetime) -> None:
        """Ask for *series_ids* to be analysed because of *job_id* (`enqueue_each`)."""
        self.enqueue_each(dict.fromkeys(series_ids, job_id), now)

    def enqueue_each(self, jobs: Mapping[int, int | None], now: datetime) -> None:
        """Ask for each series of *jobs* to be analysed because of its job.

        A series already waiting takes the newer job and a new version, so that a
        worker analysing it right now leaves the row for another pass. The rows are
        written in the order of their series, as every writer does, so that two
        transactions never wait for each other's rows.
        """
        if not jobs:
            return
        connection = self._session.connection()
        dialect = connection.dialect
        # The time as the column's type binds it (naive UTC text on SQLite), once.
        bind = _QUEUE.c.enqueued_at.type.dialect_impl(dialect).bind_processor(dialect)
        when = bind(now) if bind is not None else now
        params = [(series_id, jobs[series_id], when) for series_id in sorted(jobs)]
        sql = _ENQUEUE_BY_STYLE[dialect.paramstyle]
        for part in chunks(params):
            connection.exec_driver_sql(sql, list(part))

    def claim(self, now: datetime, lease_until: datetime, limit: int) -> list[QueueItem]:
        """Lease up to *limit* waiting series, those of the oldest job first."""
        q = SqlAnalysisQueueItem
        due = (
            select(q.id)
            .where(or_(q.claimed_until.is_(None), q.claimed_until <= now))
            .order_by(q.enqueued_at, q.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        ids = [int(i) for i in self._session.scalars(due)]
        if not ids:
            return []
        self._session.execute(update(q).where(q.id.in_(ids)).values(claimed_until=lease_until))
        rows = self._session.execute(
            select(q.series_id, q.job_id, q.version).where(q.id.in_(ids)).order_by(q.id)
        )
        return [QueueItem(*row) for row in rows]

    def complete(self, item: QueueItem) -> None:
        """Remove a series analysed at *item*'s version; release it if it changed since."""
        # Once per analysed series: Core statements built once, on the session's connection.
        connection = self._session.connection()
        if not connection.execute(
            _COMPLETE, {"queued_series": item.series_id, "analysed": item.version}
        ).rowcount:
            connection.execute(_RELEASE, {"queued_series": item.series_id})

    def waiting_job_ids(self, job_ids: Iterable[int]) -> set[int]:
        """Which of *job_ids* still have series waiting."""
        found: set[int] = set()
        q = SqlAnalysisQueueItem
        for part in chunks(sorted(set(job_ids))):
            rows = self._session.scalars(select(q.job_id).where(q.job_id.in_(part)))
            found.update(int(j) for j in rows if j is not None)
        return found

    def count(self) -> int:
        """How many series wait."""
        return int(self._session.scalar(select(func.count()).select_from(_QUEUE)) or 0)
