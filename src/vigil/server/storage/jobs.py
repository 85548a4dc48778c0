"""Jobs, their packages, measurements and blobs in the database."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Select, Table, and_, bindparam, func, insert, select, text
from sqlalchemy.orm import Session

from ..database import json_dumps
from ..dbschema import (
    SqlBlob,
    SqlJob,
    SqlJobPackage,
    SqlMeasurement,
    SqlSeries,
    SqlUser,
    measurement_blobs_table,
)
from ..domain import Blob, JobFacts, JobSummary, Measurement, Package
from ._sql import chunks

__all__ = ["JobFilter", "JobStore", "comparable_to", "job_time"]

_JOBS = cast(Table, SqlJob.__table__)
_PACKAGES = cast(Table, SqlJobPackage.__table__)
_MEASUREMENTS = cast(Table, SqlMeasurement.__table__)
_BLOBS = cast(Table, SqlBlob.__table__)

# The statements of the ingest, built once: SQLAlchemy then finds their compiled form by
# identity instead of building and hashing a new statement for every job.
_INSERT_JOB = insert(_JOBS).returning(_JOBS.c.id)
_INSERT = {table.name: insert(table) for table in (_PACKAGES, _MEASUREMENTS, _BLOBS)}
_INSERT_LINKS = insert(measurement_blobs_table)
_NEXT_IDS = text(
    "SELECT nextval(pg_get_serial_sequence(:table, 'id')) FROM generate_series(1, :count)"
)
_INSERT_MEASUREMENTS_QMARK = (
    "INSERT INTO measurements"
    " (id, job_id, series_id, metric_name, identifier, value, unit, data_id, notes)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_INSERT_MEASUREMENTS = {
    "qmark": _INSERT_MEASUREMENTS_QMARK,  # sqlite3
    "format": _INSERT_MEASUREMENTS_QMARK.replace("?", "%s"),  # psycopg
    "pyformat": _INSERT_MEASUREMENTS_QMARK.replace("?", "%s"),
}
_MAX_ID = {table.name: select(func.max(table.c.id)) for table in (_MEASUREMENTS, _BLOBS)}
_CONTENT_HASHES = select(_JOBS.c.identifier, _JOBS.c.content_hash).where(
    _JOBS.c.identifier.in_(bindparam("identifiers", expanding=True))
)

_FACT_COLUMNS = tuple(JobFacts.__slots__)


@dataclass(slots=True)
class JobFilter:
    """Filters of a job list; None means any."""

    branch: str | None = None
    dataset: str | None = None
    environment: str | None = None
    instrument: str | None = None
    commit: str | None = None
    pull_request: int | None = None
    since: datetime | None = None
    until: datetime | None = None


def job_time() -> Any:
    """The time of a job: its own date if it has one, else when it was received."""
    return func.coalesce(SqlJob.run_at, SqlJob.created_at)


def comparable_to(facts: JobFacts) -> Any:
    """The jobs comparable with one of *facts*: the same dataset, instrument, filter and
    environment, null-safe (a job without an instrument matches only jobs without one).

    Branch and time are the caller's to choose: the previous job of the same branch, the
    latest of a baseline branch.
    """
    j = SqlJob
    return and_(
        j.dataset.is_not_distinct_from(facts.dataset),
        j.instrument.is_not_distinct_from(facts.instrument),
        j.filter_name.is_not_distinct_from(facts.filter_name),
        j.environment.is_not_distinct_from(facts.environment),
    )


def _measurement_count() -> Any:
    return (
        select(func.count())
        .select_from(SqlMeasurement)
        .where(SqlMeasurement.job_id == SqlJob.id)
        .scalar_subquery()
    )


def _summary(row: SqlJob, submitted_by: str | None, count: int | None) -> JobSummary:
    facts = JobFacts(**{name: getattr(row, name) for name in _FACT_COLUMNS})
    return JobSummary(
        id=row.id,
        identifier=row.identifier,
        created_at=row.created_at,
        facts=facts,
        submitted_by=submitted_by,
        measurement_count=count,
    )


class JobStore:
    """Queries on ``jobs``, ``job_packages``, ``measurements`` and ``blobs``."""

    def __init__(self, session: Session) -> None:
        self._session = session

    # Writes (the ingest path: Core bulk inserts, no ORM objects).

    def insert_job(
        self,
        identifier: str,
        created_at: datetime,
        facts: JobFacts,
        meta: dict[str, Any],
        submitted_by: int | None,
        content_hash: str | None = None,
    ) -> int:
        """Insert a job row and return its id; IntegrityError if the identifier exists."""
        values: dict[str, Any] = {name: getattr(facts, name) for name in _FACT_COLUMNS}
        values.update(
            identifier=identifier,
            created_at=created_at,
            meta=meta,
            submitted_by=submitted_by,
            content_hash=content_hash,
        )
        result = self._session.connection().execute(_INSERT_JOB, values)
        return int(result.scalar_one())

    def insert_packages(self, job_id: int, packages: list[Package]) -> None:
        """Insert the packages of a job."""
        if not packages:
            return
        rows = [
            {
                "job_id": job_id,
                "name": p.name,
                "version": p.version,
                "git_url": p.git_url,
                "git_sha": p.git_sha,
                "git_branch": p.git_branch,
            }
            for p in packages
        ]
        self._session.connection().execute(_INSERT[_PACKAGES.name], rows)

    def insert_measurements(self, rows: list[dict[str, Any]]) -> list[int]:
        """Insert measurement rows; return their ids in the order given.

        The rows go to the driver as tuples, their JSON columns encoded here by the
        engine's own serializer: the per-row, per-column processing of an ORM or Core
        executemany costs more than the insert itself on a job of many measurements.
        """
        if not rows:
            return []
        ids = self._allocate_ids(_MEASUREMENTS, len(rows))
        connection = self._session.connection()
        params = [
            (
                row_id,
                row["job_id"],
                row["series_id"],
                row["metric_name"],
                row["identifier"],
                row["value"],
                row["unit"],
                json_dumps(row["data_id"]),
                json_dumps(row["notes"]),
            )
            for row, row_id in zip(rows, ids, strict=True)
        ]
        connection.exec_driver_sql(_INSERT_MEASUREMENTS[connection.dialect.paramstyle], params)
        return ids

    def insert_blobs(self, rows: list[dict[str, Any]]) -> list[int]:
        """Insert blob rows; return their ids in the order given."""
        return self._insert_with_ids(_BLOBS, rows)

    def _insert_with_ids(self, table: Table, rows: list[dict[str, Any]]) -> list[int]:
        # Ids are allocated first and the rows inserted with one executemany: RETURNING
        # in parameter order makes SQLAlchemy send one INSERT per row on SQLite.
        if not rows:
            return []
        ids = self._allocate_ids(table, len(rows))
        for row, row_id in zip(rows, ids, strict=True):
            row["id"] = row_id
        self._session.connection().execute(_INSERT[table.name], rows)
        return ids

    def _allocate_ids(self, table: Table, count: int) -> list[int]:
        """*count* fresh primary keys of *table*.

        PostgreSQL draws them from the table's sequence. SQLite continues after the
        largest id, which is safe because the caller's transaction already wrote the job
        row and so holds the database's only write lock until it commits.
        """
        connection = self._session.connection()
        if connection.dialect.name == "postgresql":
            result = connection.execute(_NEXT_IDS, {"table": table.name, "count": count})
            return [int(row_id) for row_id in result.scalars()]
        start = int(connection.execute(_MAX_ID[table.name]).scalar() or 0)
        return list(range(start + 1, start + count + 1))

    def insert_measurement_blobs(self, pairs: list[dict[str, int]]) -> None:
        """Link measurements to blobs (``measurement_id``, ``blob_id`` dicts)."""
        if pairs:
            self._session.connection().execute(_INSERT_LINKS, pairs)

    # Reads.

    def _summary_select(self) -> Select[Any]:
        return select(SqlJob, SqlUser.name, _measurement_count()).outerjoin(
            SqlUser, SqlUser.id == SqlJob.submitted_by
        )

    def get_summary(self, job_id: int) -> JobSummary | None:
        """A job without its measurements."""
        row = self._session.execute(self._summary_select().where(SqlJob.id == job_id)).first()
        return _summary(*row) if row else None

    def id_by_identifier(self, identifier: str) -> int | None:
        """The id of the job with this client identifier, if stored (a cheap check)."""
        found = self._session.scalar(select(SqlJob.id).where(SqlJob.identifier == identifier))
        return int(found) if found is not None else None

    def content_hash_by_identifier(self, identifier: str) -> tuple[bool, str | None]:
        """Whether a job has this client identifier, and its content hash (None: not kept)."""
        row = self._session.execute(
            select(SqlJob.content_hash).where(SqlJob.identifier == identifier)
        ).first()
        return (False, None) if row is None else (True, row[0])

    def content_hashes(self, identifiers: Sequence[str]) -> dict[str, str | None]:
        """The content hash of each stored job among *identifiers* (None: not kept)."""
        found: dict[str, str | None] = {}
        connection = self._session.connection()
        for part in chunks(sorted(set(identifiers))):
            rows = connection.execute(_CONTENT_HASHES, {"identifiers": list(part)})
            found.update({identifier: digest for identifier, digest in rows})
        return found

    def get_summary_by_identifier(self, identifier: str) -> JobSummary | None:
        """The job with this client identifier."""
        row = self._session.execute(
            self._summary_select().where(SqlJob.identifier == identifier)
        ).first()
        return _summary(*row) if row else None

    def get_meta(self, job_id: int) -> dict[str, Any]:
        """The stored ``meta`` of a job (without packages)."""
        meta = self._session.scalar(select(SqlJob.meta).where(SqlJob.id == job_id))
        return dict(meta or {})

    def list_summaries(
        self, filters: JobFilter, *, limit: int, before_id: int | None = None
    ) -> list[JobSummary]:
        """Jobs matching *filters*, newest first, ids below *before_id*."""
        stmt = self._summary_select()
        if filters.branch is not None:
            stmt = stmt.where(SqlJob.branch == filters.branch)
        if filters.dataset is not None:
            stmt = stmt.where(SqlJob.dataset == filters.dataset)
        if filters.environment is not None:
            stmt = stmt.where(SqlJob.environment == filters.environment)
        if filters.instrument is not None:
            stmt = stmt.where(SqlJob.instrument == filters.instrument)
        if filters.commit is not None:
            stmt = stmt.where(SqlJob.commit_sha.startswith(filters.commit, autoescape=True))
        if filters.pull_request is not None:
            stmt = stmt.where(SqlJob.pull_request == filters.pull_request)
        if filters.since is not None:
            stmt = stmt.where(job_time() >= filters.since)
        if filters.until is not None:
            stmt = stmt.where(job_time() < filters.until)
        if before_id is not None:
            stmt = stmt.where(SqlJob.id < before_id)
        stmt = stmt.order_by(SqlJob.id.desc()).limit(limit)
        return [_summary(*row) for row in self._session.execute(stmt)]

    def list_packages(self, job_id: int) -> list[Package]:
        """The packages of a job, by name."""
        rows = self._session.execute(
            select(
                SqlJobPackage.name,
                SqlJobPackage.version,
                SqlJobPackage.git_url,
                SqlJobPackage.git_sha,
                SqlJobPackage.git_branch,
            )
            .where(SqlJobPackage.job_id == job_id)
            .order_by(SqlJobPackage.name)
        )
        return [Package(*row) for row in rows]

    def list_measurements(
        self,
        *,
        job_id: int | None = None,
        metric: str | None = None,
        series_id: int | None = None,
        after_id: int | None = None,
        limit: int | None = None,
    ) -> list[Measurement]:
        """Measurements by id, with their blob references."""
        m = SqlMeasurement
        stmt = select(
            m.id,
            m.job_id,
            m.series_id,
            m.metric_name,
            m.identifier,
            m.value,
            m.unit,
            m.data_id,
            m.notes,
            SqlSeries.series_key,
        ).join(SqlSeries, SqlSeries.id == m.series_id)
        if job_id is not None:
            stmt = stmt.where(m.job_id == job_id)
        if metric is not None:
            stmt = stmt.where(m.metric_name == metric)
        if series_id is not None:
            stmt = stmt.where(m.series_id == series_id)
        if after_id is not None:
            stmt = stmt.where(m.id > after_id)
        stmt = stmt.order_by(m.id)
        if limit is not None:
            stmt = stmt.limit(limit)
        measurements = [
            Measurement(
                id=r.id,
                job_id=r.job_id,
                series_id=r.series_id,
                metric_name=r.metric_name,
                identifier=r.identifier,
                value=r.value,
                unit=r.unit,
                data_id=r.data_id or {},
                notes=r.notes or {},
                series_key=r.series_key,
            )
            for r in self._session.execute(stmt)
        ]
        self._attach_blob_refs(measurements)
        return measurements

    def _attach_blob_refs(self, measurements: list[Measurement]) -> None:
        if not measurements:
            return
        refs: dict[int, list[str]] = defaultdict(list)
        ids = [m.id for m in measurements]
        mb = measurement_blobs_table
        for part in chunks(ids):
            rows = self._session.execute(
                select(mb.c.measurement_id, SqlBlob.identifier)
                .join(SqlBlob, SqlBlob.id == mb.c.blob_id)
                .where(mb.c.measurement_id.in_(part))
                .order_by(mb.c.measurement_id, SqlBlob.id)
            )
            for measurement_id, identifier in rows:
                refs[measurement_id].append(identifier)
        for m in measurements:
            m.blob_refs = refs.get(m.id, [])

    def list_blobs(self, job_id: int) -> list[Blob]:
        """The blobs of a job."""
        rows = self._session.scalars(
            select(SqlBlob).where(SqlBlob.job_id == job_id).order_by(SqlBlob.id)
        )
        return [Blob(r.id, r.job_id, r.identifier, r.name, r.data or {}) for r in rows]

    def get_blob(self, job_id: int, identifier: str) -> Blob | None:
        """One blob of a job by identifier."""
        r = self._session.scalars(
            select(SqlBlob).where(SqlBlob.job_id == job_id, SqlBlob.identifier == identifier)
        ).first()
        return Blob(r.id, r.job_id, r.identifier, r.name, r.data or {}) if r else None
