"""Read queries behind the SQuaSH-compatible API (bound parameters only, never commits)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import ColumnElement, exists, func, select, type_coerce
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Session

from ..dbschema import SqlBlob, SqlJob, SqlMeasurement, SqlMetric, SqlSpecification
from ..dbschema import measurement_blobs_table as mb
from ..domain import SpecificationInfo
from ._sql import chunks
from .jobs import job_time
from .metrics import spec_info

__all__ = ["MonitorRow", "SquashStats", "SquashStore"]

MonitorRow = tuple[float | None, str, datetime, str | None, str | None]
"""``(value, metric_name, job time, ci_id, ci_url)`` of one measurement."""

SquashStats = tuple[datetime | None, int, int, int]
"""``(creation time of the last job, jobs, metrics, measurements)``."""


class SquashStore:
    """The queries that only the SQuaSH surface needs; the rest come from the core stores."""

    def __init__(self, session: Session) -> None:
        self._session = session

    @property
    def _dialect(self) -> str:
        return self._session.get_bind().dialect.name

    # Jobs -------------------------------------------------------------------------------

    def job_ids(self, *, after_id: int | None, limit: int) -> list[int]:
        """Job ids in ascending order, those above *after_id*."""
        stmt = select(SqlJob.id).order_by(SqlJob.id).limit(limit)
        if after_id is not None:
            stmt = stmt.where(SqlJob.id > after_id)
        return list(self._session.scalars(stmt))

    def job_exists(self, job_id: int) -> bool:
        """Whether a job has this id."""
        return self._session.scalar(select(SqlJob.id).where(SqlJob.id == job_id)) is not None

    def find_ci_job(self, environment: str, ci_id: str, ci_name: str | None) -> int | None:
        """The latest job of *environment* with this CI run id (and CI job name)."""
        stmt = select(SqlJob.id).where(SqlJob.environment == environment, SqlJob.ci_id == ci_id)
        if ci_name is not None:
            stmt = stmt.where(SqlJob.ci_name == ci_name)
        return self._session.scalar(stmt.order_by(SqlJob.id.desc()).limit(1))

    def ci_facts(self, job_id: int) -> tuple[str | None, str | None] | None:
        """``(ci_id, ci_name)`` of a job."""
        row = self._session.execute(
            select(SqlJob.ci_id, SqlJob.ci_name).where(SqlJob.id == job_id)
        ).first()
        return (row[0], row[1]) if row else None

    def previous_ci_job(
        self, environment: str, ci_name: str | None, ci_id: str, before_id: int
    ) -> int | None:
        """The latest job received before *before_id* of the same CI job from another run."""
        stmt = select(SqlJob.id).where(
            SqlJob.environment == environment,
            SqlJob.id < before_id,
            SqlJob.ci_id.is_not(None),
            SqlJob.ci_id != ci_id,
        )
        if ci_name is None:
            stmt = stmt.where(SqlJob.ci_name.is_(None))
        else:
            stmt = stmt.where(SqlJob.ci_name == ci_name)
        return self._session.scalar(stmt.order_by(SqlJob.id.desc()).limit(1))

    # Measurements and blobs -------------------------------------------------------------------

    def blob_names(self, job_ids: Sequence[int]) -> dict[tuple[int, str], str | None]:
        """``(job id, blob identifier) → blob name`` of the blobs of *job_ids*."""
        names: dict[tuple[int, str], str | None] = {}
        for part in chunks(sorted(set(job_ids))):
            rows = self._session.execute(
                select(SqlBlob.job_id, SqlBlob.identifier, SqlBlob.name).where(
                    SqlBlob.job_id.in_(part)
                )
            )
            for job_id, identifier, name in rows:
                names[(job_id, identifier)] = name
        return names

    def blob_data(self, job_id: int, metric: str, name: str) -> dict[str, Any] | None:
        """The data of the blob called *name* that a measurement of *metric* refers to."""
        stmt = (
            select(SqlBlob.data)
            .join(mb, mb.c.blob_id == SqlBlob.id)
            .join(SqlMeasurement, SqlMeasurement.id == mb.c.measurement_id)
            .where(
                SqlBlob.job_id == job_id,
                SqlMeasurement.job_id == job_id,
                SqlMeasurement.metric_name == metric,
                SqlBlob.name == name,
            )
            .order_by(SqlBlob.id)
            .limit(1)
        )
        row = self._session.execute(stmt).first()
        return dict(row[0] or {}) if row else None

    def monitor_rows(
        self,
        *,
        dataset: str | None,
        metric: str | None,
        since: datetime | None,
        limit: int,
    ) -> list[MonitorRow]:
        """Measurements with their job's time and CI run, oldest job first."""
        when = job_time().label("job_time")
        stmt = select(
            SqlMeasurement.value, SqlMeasurement.metric_name, when, SqlJob.ci_id, SqlJob.ci_url
        ).join(SqlJob, SqlJob.id == SqlMeasurement.job_id)
        if dataset is not None:
            stmt = stmt.where(SqlJob.dataset == dataset)
        if metric is not None:
            stmt = stmt.where(SqlMeasurement.metric_name == metric)
        if since is not None:
            stmt = stmt.where(job_time() > since)
        stmt = stmt.order_by(when, SqlMeasurement.id).limit(limit)
        return [tuple(row) for row in self._session.execute(stmt)]

    # Definitions ----------------------------------------------------------------------------

    def _json_text(self, column: Any, key: str) -> ColumnElement[str]:
        return cast("ColumnElement[str]", column[key].as_string())

    def _json_array_contains(self, column: Any, value: str) -> ColumnElement[bool]:
        if self._dialect == "postgresql":
            return type_coerce(column, JSONB).contains([value])
        each = func.json_each(column).table_valued("value")
        return exists(select(each.c.value).where(each.c.value == value))

    def list_specifications(
        self,
        *,
        metric: str | None,
        dataset_name: str | None,
        filter_name: str | None,
        tag: str | None,
        after: str | None,
        limit: int,
    ) -> list[SpecificationInfo]:
        """Specifications by name, filtered on their metric, metadata query and tags."""
        spec = SqlSpecification
        stmt = select(spec).order_by(spec.name).limit(limit)
        if metric is not None:
            stmt = stmt.where(spec.metric_name == metric)
        if dataset_name is not None:
            stmt = stmt.where(self._json_text(spec.metadata_query, "dataset_name") == dataset_name)
        if filter_name is not None:
            stmt = stmt.where(self._json_text(spec.metadata_query, "filter_name") == filter_name)
        if tag is not None:
            stmt = stmt.where(self._json_array_contains(spec.tags, tag))
        if after is not None:
            stmt = stmt.where(spec.name > after)
        return [spec_info(row) for row in self._session.scalars(stmt)]

    def datasets(self) -> list[str]:
        """The datasets jobs ran on, by name."""
        stmt = (
            select(SqlJob.dataset)
            .where(SqlJob.dataset.is_not(None))
            .distinct()
            .order_by(SqlJob.dataset)
        )
        return [d for d in self._session.scalars(stmt) if d is not None]

    def metric_packages(self) -> list[str]:
        """The packages that define metrics, by name."""
        stmt = (
            select(SqlMetric.package)
            .where(SqlMetric.package.is_not(None))
            .distinct()
            .order_by(SqlMetric.package)
        )
        return [p for p in self._session.scalars(stmt) if p is not None]

    def first_metric_per_package(self) -> list[tuple[str, str]]:
        """``(package, first metric name)`` of every package."""
        stmt = (
            select(SqlMetric.package, func.min(SqlMetric.name))
            .where(SqlMetric.package.is_not(None))
            .group_by(SqlMetric.package)
            .order_by(SqlMetric.package)
        )
        return [(str(p), str(m)) for p, m in self._session.execute(stmt)]

    def first_spec_per_metric(self) -> list[tuple[str, str | None]]:
        """``(metric name, first specification name or None)`` of every metric."""
        first_spec = (
            select(SqlSpecification.metric_name, func.min(SqlSpecification.name).label("spec"))
            .group_by(SqlSpecification.metric_name)
            .subquery()
        )
        stmt = (
            select(SqlMetric.name, first_spec.c.spec)
            .outerjoin(first_spec, first_spec.c.metric_name == SqlMetric.name)
            .order_by(SqlMetric.name)
        )
        return [(str(m), s) for m, s in self._session.execute(stmt)]

    def stats(self) -> SquashStats:
        """The creation time of the last job and the numbers of jobs, metrics, measurements."""
        last = self._session.scalar(select(SqlJob.created_at).order_by(SqlJob.id.desc()).limit(1))
        jobs = self._session.scalar(select(func.count()).select_from(SqlJob)) or 0
        metrics = self._session.scalar(select(func.count()).select_from(SqlMetric)) or 0
        measurements = self._session.scalar(select(func.count()).select_from(SqlMeasurement)) or 0
        return last, int(jobs), int(metrics), int(measurements)
