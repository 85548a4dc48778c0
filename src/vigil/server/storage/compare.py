"""The reads of the compare page: two jobs' values, baseline history, comparable jobs."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from ..dbschema import SqlJob, SqlJobPackage, SqlMeasurement, SqlSeries, SqlSpecification
from ..domain import JobFacts
from ._sql import chunks
from .jobs import comparable_to, job_time

__all__ = ["CompareStore", "PackageAtJob", "SeriesMeasurement"]


@dataclass(slots=True)
class SeriesMeasurement:
    """One measurement of a job with the identity of its series."""

    series_id: int
    series_key: str
    metric_name: str
    data_id: dict[str, Any]
    value: float | None
    unit: str
    dataset: str | None = None


@dataclass(slots=True)
class PackageAtJob:
    """The commit of one package in one job, with the job's own commit and author."""

    job_id: int
    package: str
    git_sha: str
    git_url: str | None
    job_commit: str | None
    author: str | None
    author_email: str | None


class CompareStore:
    """Queries behind `vigil.server.services.compare.CompareService`."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def job_values(self, job_id: int) -> list[SeriesMeasurement]:
        """Every measurement of a job, with its series (series id order)."""
        m, s = SqlMeasurement, SqlSeries
        rows = self._session.execute(
            select(m.series_id, s.series_key, s.metric_name, s.data_id, m.value, m.unit, s.dataset)
            .join(s, s.id == m.series_id)
            .where(m.job_id == job_id)
            .order_by(m.series_id, m.id)
        )
        return [
            SeriesMeasurement(r[0], r[1], r[2], dict(r[3] or {}), r[4], r[5], r[6]) for r in rows
        ]

    def history(
        self, series_id: int, *, branch: str | None, at: datetime, up_to_job_id: int, limit: int
    ) -> list[tuple[float | None, str]]:
        """The last *limit* values (and units) of a series on *branch*, oldest first.

        Only jobs that ran up to *at* count (by job time, like every history: a job
        received late still falls in its own period); at the same time, those up to and
        including *up_to_job_id*. *branch* None means jobs without a branch.
        """
        m, j = SqlMeasurement, SqlJob
        time = job_time()
        stmt = (
            select(m.value, m.unit)
            .join(j, j.id == m.job_id)
            .where(m.series_id == series_id)
            .where(j.branch.is_(None) if branch is None else j.branch == branch)
            .where(or_(time < at, and_(time == at, j.id <= up_to_job_id)))
            .order_by(time.desc(), j.id.desc())
            .limit(limit)
        )
        rows = [(r[0], r[1]) for r in self._session.execute(stmt)]
        rows.reverse()
        return rows

    def recent_jobs(
        self,
        facts: JobFacts,
        *,
        branch: str | None,
        at: datetime,
        up_to_job_id: int,
        limit: int,
    ) -> tuple[list[int], bool]:
        """The last *limit* jobs of *branch* on the dataset and instrument of *facts* (the
        jobs that can hold points of its series), newest first by job time, up to *at*
        (at that time, up to *up_to_job_id*); and whether that is all of them."""
        j = SqlJob
        time = job_time()
        stmt = (
            select(j.id)
            .where(j.branch.is_(None) if branch is None else j.branch == branch)
            .where(j.dataset.is_not_distinct_from(facts.dataset))
            .where(j.instrument.is_not_distinct_from(facts.instrument))
            .where(or_(time < at, and_(time == at, j.id <= up_to_job_id)))
            .order_by(time.desc(), j.id.desc())
            .limit(limit + 1)
        )
        ids = [int(i) for i in self._session.scalars(stmt)]
        return ids[:limit], len(ids) <= limit

    def values_in_jobs(
        self, series_ids: Iterable[int], job_ids: Sequence[int]
    ) -> dict[int, dict[int, tuple[float | None, str]]]:
        """The values (and units) of series *series_ids* in jobs *job_ids*: by series,
        by job. Probes the ``(series_id, job_id, value, unit)`` index."""
        m = SqlMeasurement
        found: dict[int, dict[int, tuple[float | None, str]]] = {}
        for series_part in chunks(sorted(set(series_ids)), 200):
            for job_part in chunks(sorted(set(job_ids)), 800):
                rows = self._session.execute(
                    select(m.series_id, m.job_id, m.value, m.unit).where(
                        m.series_id.in_(series_part), m.job_id.in_(job_part)
                    )
                )
                for series_id, job_id, value, unit in rows:
                    found.setdefault(series_id, {})[job_id] = (value, unit)
        return found

    def package_commits(
        self,
        names: Iterable[str],
        facts: JobFacts,
        *,
        branch: str | None,
        at: datetime,
        limit: int,
    ) -> list[PackageAtJob]:
        """The commits of packages *names* in the last *limit* jobs of *branch* on the
        dataset and instrument of *facts*, up to *at*, newest job first (jobs without a
        commit of a package are left out)."""
        j, p = SqlJob, SqlJobPackage
        time = job_time()
        jobs = (
            select(j.id, time.label("time"))
            .where(j.branch.is_(None) if branch is None else j.branch == branch)
            .where(j.dataset.is_not_distinct_from(facts.dataset))
            .where(j.instrument.is_not_distinct_from(facts.instrument))
            .where(time <= at)
            .order_by(time.desc(), j.id.desc())
            .limit(limit)
            .subquery()
        )
        found: list[tuple[Any, ...]] = []
        for part in chunks(sorted(set(names))):
            found += self._session.execute(
                select(
                    jobs.c.time,
                    j.id,
                    p.name,
                    p.git_sha,
                    p.git_url,
                    j.commit_sha,
                    j.author,
                    j.author_email,
                )
                .join(j, j.id == jobs.c.id)
                .join(p, p.job_id == j.id)
                .where(p.name.in_(part), p.git_sha.is_not(None))
            ).all()
        found.sort(key=lambda r: (r[0], r[1]), reverse=True)
        return [PackageAtJob(r[1], r[2], r[3], r[4], r[5], r[6], r[7]) for r in found]

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
