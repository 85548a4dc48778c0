"""The reads of the web dashboard that the other stores do not have."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import String, func, select, type_coerce
from sqlalchemy.orm import Session

from ..database import json_loads
from ..dbschema import (
    SqlAuditEntry,
    SqlJob,
    SqlJobPackage,
    SqlMeasurement,
    SqlMetric,
    SqlSeries,
    SqlSpecification,
)
from ..domain import JobFacts, SpecificationInfo
from ..domain.audit import DATA_REMOVING_ACTIONS
from ._sql import chunks
from .jobs import comparable_to, job_time
from .metrics import spec_info

__all__ = ["Counts", "DashboardStore", "MeasurementValue"]


def _removal_generation() -> Any:
    """The id of the newest audit entry that removed data (`AuditStore.data_generation`)."""
    a = SqlAuditEntry
    return (
        select(func.coalesce(func.max(a.id), 0))
        .where(a.action.in_(DATA_REMOVING_ACTIONS))
        .scalar_subquery()
    )


@dataclass(slots=True)
class Counts:
    """How much the server holds."""

    jobs: int
    metrics: int
    specifications: int
    series: int
    measurements: int
    datasets: int
    branches: int
    last_job_id: int | None
    last_job_at: datetime | None


@dataclass(slots=True)
class MeasurementValue:
    """One measurement of a job, with what its evaluation needs."""

    job_id: int
    measurement_id: int
    metric_name: str
    value: float | None
    unit: str
    data_id: dict[str, Any]
    series_key: str


class DashboardStore:
    """Counts, per-metric summaries, package fingerprints, neighbouring jobs."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def counts(self) -> Counts:
        """Rows of each kind; distinct datasets and branches."""
        s = self._session
        j = SqlJob
        jobs, datasets, branches, last_id = s.execute(
            select(
                func.count(),
                func.count(j.dataset.distinct()),
                func.count(j.branch.distinct()),
                func.max(j.id),
            )
        ).one()
        last_at = s.scalar(select(job_time()).where(j.id == last_id)) if last_id else None
        return Counts(
            jobs=int(jobs),
            metrics=int(s.scalar(select(func.count()).select_from(SqlMetric)) or 0),
            specifications=int(s.scalar(select(func.count()).select_from(SqlSpecification)) or 0),
            series=int(s.scalar(select(func.count()).select_from(SqlSeries)) or 0),
            measurements=int(s.scalar(select(func.count()).select_from(SqlMeasurement)) or 0),
            datasets=int(datasets),
            branches=int(branches),
            last_job_id=int(last_id) if last_id is not None else None,
            last_job_at=last_at,
        )

    def data_version(self) -> tuple[Any, ...]:
        """What changes whenever a job is stored or definitions are loaded: the newest
        job and measurement ids (rows are never updated in place) and the counts and
        newest updates of metrics and specifications; and whenever data are deleted: the
        newest removal of data (`_removal_generation`). Cheap: maxima of primary keys and counts of
        small tables."""
        s = SqlSpecification
        row = self._session.execute(
            select(
                _removal_generation(),
                select(func.max(SqlJob.id)).scalar_subquery(),
                select(func.max(SqlMeasurement.id)).scalar_subquery(),
                select(func.count()).select_from(SqlMetric).scalar_subquery(),
                select(func.max(SqlMetric.updated_at)).scalar_subquery(),
                select(func.count()).select_from(s).scalar_subquery(),
                select(func.max(s.updated_at)).scalar_subquery(),
            )
        ).one()
        return tuple(row)

    def series_per_metric(self) -> dict[str, int]:
        """How many series each metric has."""
        rows = self._session.execute(
            select(SqlSeries.metric_name, func.count()).group_by(SqlSeries.metric_name)
        )
        return {str(name): int(count) for name, count in rows}

    def specs_per_metric(self) -> dict[str, int]:
        """How many specifications each metric has."""
        s = SqlSpecification
        rows = self._session.execute(select(s.metric_name, func.count()).group_by(s.metric_name))
        return {str(name): int(count) for name, count in rows}

    def specifications_of(self, metric_names: Iterable[str]) -> dict[str, list[SpecificationInfo]]:
        """The specifications of each of *metric_names*, by name."""
        found: dict[str, list[SpecificationInfo]] = {}
        s = SqlSpecification
        for part in chunks(sorted(set(metric_names))):
            rows = self._session.scalars(select(s).where(s.metric_name.in_(part)).order_by(s.name))
            for row in rows:
                found.setdefault(row.metric_name, []).append(spec_info(row))
        return found

    def job_values(
        self, job_ids: Sequence[int], metric: str | None = None
    ) -> list[MeasurementValue]:
        """The measurements of *job_ids* (of one metric if given), by job then id."""
        m, s = SqlMeasurement, SqlSeries
        found: list[MeasurementValue] = []
        # The dataIds come as the driver gives them (JSON text on SQLite) and each distinct
        # one is decoded once: the overview reads the values of hundreds of jobs, and
        # decoding every row's dataId cost more than the query.
        decoded: dict[Any, dict[str, Any]] = {}
        raw_data_id = type_coerce(m.data_id, String)
        for part in chunks(sorted(set(job_ids))):
            stmt = (
                select(m.job_id, m.id, m.metric_name, m.value, m.unit, raw_data_id, s.series_key)
                .join(s, s.id == m.series_id)
                .where(m.job_id.in_(part))
            )
            if metric is not None:
                stmt = stmt.where(m.metric_name == metric)
            for r in self._session.execute(stmt.order_by(m.job_id, m.id)):
                data_id = _data_id(r[5], decoded)
                found.append(MeasurementValue(r[0], r[1], r[2], r[3], r[4], data_id, r[6]))
        return found

    def metas(self, job_ids: Iterable[int]) -> dict[int, dict[str, Any]]:
        """The ``meta`` of each job."""
        found: dict[int, dict[str, Any]] = {}
        for part in chunks(sorted(set(job_ids))):
            for job_id, meta in self._session.execute(
                select(SqlJob.id, SqlJob.meta).where(SqlJob.id.in_(part))
            ):
                found[int(job_id)] = dict(meta or {})
        return found

    def package_fingerprints(self, job_ids: Sequence[int]) -> dict[int, frozenset[tuple[Any, ...]]]:
        """``job id → {(package name, version, git sha, git url), ...}`` for *job_ids*."""
        p = SqlJobPackage
        found: dict[int, set[tuple[Any, ...]]] = {job_id: set() for job_id in job_ids}
        for part in chunks(sorted(set(job_ids))):
            rows = self._session.execute(
                select(p.job_id, p.name, p.version, p.git_sha, p.git_url).where(p.job_id.in_(part))
            )
            for job_id, *package in rows:
                found[job_id].add(tuple(package))
        return {job_id: frozenset(items) for job_id, items in found.items()}

    def previous_comparable_job(self, job_id: int, facts: JobFacts, *, at: datetime) -> int | None:
        """The newest job before *job_id* (at *at*) on its branch and comparable with it
        (`comparable_to` its *facts*); "before" is by job time, then id."""
        j = SqlJob
        time = job_time()
        stmt = (
            select(j.id)
            .where(j.id != job_id)
            .where(j.branch.is_not_distinct_from(facts.branch))
            .where(comparable_to(facts))
            .where((time < at) | ((time == at) & (j.id < job_id)))
            .order_by(time.desc(), j.id.desc())
            .limit(1)
        )
        found = self._session.scalar(stmt)
        return int(found) if found is not None else None

    def latest_job_measuring(
        self, metric: str, *, dataset: str | None, branch: str | None, scan: int = 2000
    ) -> int | None:
        """The newest of the last *scan* jobs (of *branch*, on *dataset*) measuring *metric*."""
        j, m = SqlJob, SqlMeasurement
        recent = select(j.id).order_by(j.id.desc()).limit(scan)
        if branch is not None:
            recent = recent.where(j.branch == branch)
        if dataset is not None:
            recent = recent.where(j.dataset == dataset)
        ids = [int(i) for i in self._session.scalars(recent)]
        for part in chunks(ids, 200):
            found = self._session.scalar(
                select(func.max(m.job_id)).where(m.job_id.in_(part), m.metric_name == metric)
            )
            if found is not None:
                return int(found)
        return None

    def series_version(self, series_id: int) -> tuple[int, int | None, int]:
        """What changes whenever a series gains or loses a point: its point count, newest
        measurement id (rows are never updated in place) and the newest removal of data
        (a deletion may lower both, and SQLite may then reuse an id)."""
        m = SqlMeasurement
        row = self._session.execute(
            select(func.count(), func.max(m.id), _removal_generation()).where(
                m.series_id == series_id
            )
        ).one()
        return int(row[0]), row[1], int(row[2] or 0)

    def last_time(self, series_id: int) -> datetime | None:
        """The time of the newest job of a series."""
        m, j = SqlMeasurement, SqlJob
        last_job = select(func.max(m.job_id)).where(m.series_id == series_id).scalar_subquery()
        return self._session.scalar(select(job_time()).where(j.id == last_job))

    def environments(self) -> list[str]:
        """Every environment jobs ran in."""
        rows = self._session.scalars(
            select(SqlJob.environment).where(SqlJob.environment.is_not(None)).distinct()
        )
        return sorted(str(r) for r in rows)

    def branches(self) -> list[str]:
        """Every branch of a job."""
        rows = self._session.scalars(
            select(SqlJob.branch).where(SqlJob.branch.is_not(None)).distinct()
        )
        return sorted(str(r) for r in rows)

    def existing_branches(self, names: Iterable[str]) -> set[str]:
        """Those of *names* that a job ran on (a lookup in the branch index per name)."""
        wanted = sorted(set(names))
        if not wanted:
            return set()
        rows = self._session.scalars(
            select(SqlJob.branch).where(SqlJob.branch.in_(wanted)).distinct()
        )
        return {str(r) for r in rows}

    def datasets(self) -> list[str]:
        """Every dataset of a job."""
        rows = self._session.scalars(
            select(SqlJob.dataset).where(SqlJob.dataset.is_not(None)).distinct()
        )
        return sorted(str(r) for r in rows)


def _data_id(stored: Any, decoded: dict[Any, dict[str, Any]]) -> dict[str, Any]:
    """A measurement's dataId from its column (JSON text, or the dict PostgreSQL's driver
    made), decoded once per distinct text; each caller gets its own dict."""
    if stored is None:
        return {}
    if not isinstance(stored, (str, bytes)):
        return dict(stored)
    found = decoded.get(stored)
    if found is None:
        found = decoded[stored] = dict(json_loads(stored) or {})
    return dict(found)
