"""The reads of the compare page: two jobs' values, baseline history, comparable jobs."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..dbschema import SqlJob, SqlMeasurement, SqlSeries, SqlSpecification
from ..domain import JobFacts
from ._sql import chunks
from .jobs import comparable_to, job_time

__all__ = ["CompareStore", "SeriesMeasurement"]


@dataclass(slots=True)
class SeriesMeasurement:
    """One measurement of a job with the identity of its series."""

    series_id: int
    series_key: str
    metric_name: str
    data_id: dict[str, Any]
    value: float | None
    unit: str


class CompareStore:
    """Queries behind `vigil.server.services.compare.CompareService`."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def job_values(self, job_id: int) -> list[SeriesMeasurement]:
        """Every measurement of a job, with its series (series id order)."""
        m, s = SqlMeasurement, SqlSeries
        rows = self._session.execute(
            select(m.series_id, s.series_key, s.metric_name, s.data_id, m.value, m.unit)
            .join(s, s.id == m.series_id)
            .where(m.job_id == job_id)
            .order_by(m.series_id, m.id)
        )
        return [SeriesMeasurement(r[0], r[1], r[2], dict(r[3] or {}), r[4], r[5]) for r in rows]

    def history(
        self, series_id: int, *, branch: str | None, up_to_job_id: int, limit: int
    ) -> list[tuple[float | None, str]]:
        """The last *limit* values (and units) of a series on *branch*, oldest first.

        Only jobs up to and including *up_to_job_id* count; *branch* None means jobs
        without a branch. Walks the ``(series_id, job_id, value, unit)`` index backwards.
        """
        m, j = SqlMeasurement, SqlJob
        stmt = (
            select(m.value, m.unit)
            .join(j, j.id == m.job_id)
            .where(m.series_id == series_id, m.job_id <= up_to_job_id)
            .where(j.branch.is_(None) if branch is None else j.branch == branch)
            .order_by(m.job_id.desc())
            .limit(limit)
        )
        rows = [(r[0], r[1]) for r in self._session.execute(stmt)]
        rows.reverse()
        return rows

    def latest_job_id(self, branch: str, dataset: str | None = None) -> int | None:
        """The newest job of *branch* (by job time, then id), optionally on one dataset."""
        stmt = select(SqlJob.id).where(SqlJob.branch == branch)
        if dataset is not None:
            stmt = stmt.where(SqlJob.dataset == dataset)
        stmt = stmt.order_by(job_time().desc(), SqlJob.id.desc()).limit(1)
        found = self._session.scalar(stmt)
        return int(found) if found is not None else None

    def latest_comparable_job_id(self, facts: JobFacts, *, branch: str, at: datetime) -> int | None:
        """The newest job of *branch* comparable with one of *facts* (`comparable_to`),
        at or before *at*."""
        j = SqlJob
        stmt = (
            select(j.id)
            .where(j.branch == branch)
            .where(comparable_to(facts))
            .where(job_time() <= at)
            .order_by(job_time().desc(), j.id.desc())
            .limit(1)
        )
        found = self._session.scalar(stmt)
        return int(found) if found is not None else None

    def recent_branches(self, *, exclude: str, limit: int) -> list[tuple[str, int, datetime]]:
        """Branches other than *exclude*: name, job count and last job time, newest first."""
        last = func.max(job_time())
        rows = self._session.execute(
            select(SqlJob.branch, func.count(), last)
            .where(SqlJob.branch.is_not(None), SqlJob.branch != exclude)
            .group_by(SqlJob.branch)
            .order_by(last.desc(), SqlJob.branch)
            .limit(limit)
        )
        return [(str(r[0]), int(r[1]), r[2]) for r in rows]

    def spec_operators(self, metric_names: Iterable[str]) -> dict[str, set[str]]:
        """The threshold operators of the specifications of each metric."""
        found: dict[str, set[str]] = {}
        s = SqlSpecification
        for part in chunks(sorted(set(metric_names))):
            rows = self._session.execute(
                select(s.metric_name, s.threshold_operator)
                .where(s.metric_name.in_(part), s.threshold_operator.is_not(None))
                .distinct()
            )
            for name, operator in rows:
                if operator is not None:
                    found.setdefault(name, set()).add(operator)
        return found
