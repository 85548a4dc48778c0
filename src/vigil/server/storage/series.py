"""Series and their points in the database."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import Connection, Select, String, bindparam, func, select, type_coerce
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from ..dbschema import SqlJob, SqlMeasurement, SqlSeries
from ..domain import SeriesColumns, SeriesInfo, SeriesPoint
from ._sql import aware_utc, chunks
from .jobs import job_time

__all__ = ["PointFilter", "SeriesStore", "joins_jobs", "series_info"]


@dataclass(slots=True)
class PointFilter:
    """Which points of a series to return; None means any."""

    branch: str | None = None
    environment: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    first_job_id: int | None = None
    last_job_id: int | None = None
    after_job_id: int | None = None


def joins_jobs(filters: PointFilter) -> bool:
    """Whether *filters* select points by their job's columns (not by job id alone)."""
    return any(
        value is not None
        for value in (filters.branch, filters.environment, filters.since, filters.until)
    )


def _job_id_bounds(stmt: Select[Any], filters: PointFilter) -> Select[Any]:
    m = SqlMeasurement
    if filters.after_job_id is not None:
        stmt = stmt.where(m.job_id > filters.after_job_id)
    if filters.first_job_id is not None:
        stmt = stmt.where(m.job_id >= filters.first_job_id)
    if filters.last_job_id is not None:
        stmt = stmt.where(m.job_id <= filters.last_job_id)
    return stmt


class SeriesStore:
    """Queries on ``series`` and the measurements of one series."""

    def __init__(self, session: Session) -> None:
        self._session = session

    # The statements of the ingest, built once (it looks series up for almost every job).
    _IDS = select(SqlSeries.series_key, SqlSeries.id).where(
        SqlSeries.series_key.in_(bindparam("keys", expanding=True))
    )
    _CREATE: ClassVar[dict[str, Any]] = {
        name: dialect.insert(SqlSeries.__table__).on_conflict_do_nothing(
            index_elements=["series_key"]
        )
        for name, dialect in (("postgresql", postgresql), ("sqlite", sqlite))
    }

    def _ids_for(self, keys: Sequence[str]) -> dict[str, int]:
        found: dict[str, int] = {}
        connection = self._session.connection()
        for part in chunks(keys):
            rows = connection.execute(self._IDS, {"keys": list(part)})
            found.update({key: int(series_id) for key, series_id in rows})
        return found

    def ensure(self, rows: dict[str, dict[str, Any]]) -> dict[str, int]:
        """Ids of the series keyed in *rows*, creating those that do not exist yet.

        *rows* maps each ``series_key`` to its column values. Race-safe: a series
        created meanwhile by another writer is simply looked up.
        """
        keys = list(rows)
        found = self._ids_for(keys)
        missing = [rows[k] for k in keys if k not in found]
        if missing:
            connection = self._session.connection()
            connection.execute(self._CREATE[connection.dialect.name], missing)
            found.update(self._ids_for([r["series_key"] for r in missing]))
        return found

    def get_by_key(self, key: str) -> SeriesInfo | None:
        """One series."""
        row = self._session.scalars(select(SqlSeries).where(SqlSeries.series_key == key)).first()
        return series_info(row) if row else None

    def find(
        self,
        *,
        metric: str | None = None,
        dataset: str | None = None,
        instrument: str | None = None,
        after_id: int | None = None,
        limit: int | None = None,
    ) -> list[SeriesInfo]:
        """Series matching the given columns, by id."""
        stmt = select(SqlSeries).order_by(SqlSeries.id)
        if metric is not None:
            stmt = stmt.where(SqlSeries.metric_name == metric)
        if dataset is not None:
            stmt = stmt.where(SqlSeries.dataset == dataset)
        if instrument is not None:
            stmt = stmt.where(SqlSeries.instrument == instrument)
        if after_id is not None:
            stmt = stmt.where(SqlSeries.id > after_id)
        if limit is not None:
            stmt = stmt.limit(limit)
        return [series_info(r) for r in self._session.scalars(stmt)]

    def count_points(self, series_id: int) -> int:
        """How many measurements a series has."""
        return int(
            self._session.scalar(
                select(func.count())
                .select_from(SqlMeasurement)
                .where(SqlMeasurement.series_id == series_id)
            )
            or 0
        )

    def points(self, series_id: int, filters: PointFilter, limit: int) -> list[SeriesPoint]:
        """Points of a series in job order.

        On SQLite, times are parsed here rather than by SQLAlchemy's much slower
        generic DATETIME parser.
        """
        sqlite = self._session.get_bind().dialect.name == "sqlite"
        time_column = job_time()
        if sqlite:
            time_column = type_coerce(func.coalesce(SqlJob.run_at, SqlJob.created_at), String)
        rows = self._fetch(self._points_statement(series_id, filters, limit, time_column))
        parse = _parse_sqlite_time if sqlite else aware_utc
        return [
            SeriesPoint(r[0], r[1], r[2], r[3], parse(r[4]), r[5], r[6], r[7], r[8]) for r in rows
        ]

    def point_columns(self, series_id: int, filters: PointFilter, limit: int) -> SeriesColumns:
        """Points of a series in job order, one list per field.

        The database writes the times as ISO 8601 text, so that no datetime object is
        made per point.
        """
        stmt = self._points_statement(series_id, filters, limit, self._iso_job_time())
        return SeriesColumns.from_rows(self._fetch(stmt))

    def measurement_rows(self, series_id: int, filters: PointFilter, limit: int) -> list[Any]:
        """The job id, measurement id, value and unit of a series' points in job order,
        from the covering index alone (no job filter: see `joins_jobs`)."""
        m = SqlMeasurement
        columns: tuple[Any, ...] = (m.job_id, m.id, m.value, m.unit)
        stmt = _job_id_bounds(select(*columns).where(m.series_id == series_id), filters)
        return self._fetch(stmt.order_by(m.job_id).limit(limit))

    def job_facts(self, job_ids: Sequence[int]) -> list[Any]:
        """For each of *job_ids*: the id, then the job facts of a point (time as ISO text,
        branch, commit, pull request, environment)."""
        j = SqlJob
        found: list[Any] = []
        for part in chunks(list(job_ids)):
            columns = (j.id, self._iso_job_time(), j.branch, j.commit_sha, j.pull_request)
            stmt = select(*columns, j.environment).where(j.id.in_(part))
            # Not `_fetch`: its binary rows take no list parameter; a series' jobs are
            # read once a process, so the text format costs little here.
            found.extend(self._session.connection().execute(stmt).all())
        return found

    def _iso_job_time(self) -> Any:
        """The job time as ``YYYY-MM-DDTHH:MM:SS.ffffffZ`` text, made by the database."""
        if self._session.get_bind().dialect.name == "sqlite":
            # UtcDateTime stores naive UTC as "YYYY-MM-DD HH:MM:SS.ffffff".
            stored = type_coerce(func.coalesce(SqlJob.run_at, SqlJob.created_at), String)
            return type_coerce(func.replace(stored, " ", "T") + "Z", String)
        return type_coerce(
            func.to_char(func.timezone("UTC", job_time()), 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
            String,
        )

    def _points_statement(
        self, series_id: int, filters: PointFilter, limit: int, time_column: Any
    ) -> Select[Any]:
        """The hot read of a series: it walks the covering index
        ``(series_id, job_id, value, unit)`` and looks each job up by its primary key
        (on PostgreSQL, in the index ``ix_jobs_id``, which includes the job columns read
        here: the wide job rows are not read). Columns in the order of `POINT_FIELDS`.
        """
        m, j = SqlMeasurement, SqlJob
        stmt = (
            select(
                m.job_id,
                m.id,
                m.value,
                m.unit,
                time_column,
                j.branch,
                j.commit_sha,
                j.pull_request,
                j.environment,
            )
            .join(j, j.id == m.job_id)
            .where(m.series_id == series_id)
        )
        stmt = _job_id_bounds(stmt, filters)
        if filters.branch is not None:
            stmt = stmt.where(j.branch == filters.branch)
        if filters.environment is not None:
            stmt = stmt.where(j.environment == filters.environment)
        if filters.since is not None:
            stmt = stmt.where(job_time() >= filters.since)
        if filters.until is not None:
            stmt = stmt.where(job_time() < filters.until)
        return stmt.order_by(m.job_id).limit(limit)

    def _fetch(self, stmt: Select[Any]) -> list[Any]:
        """The DBAPI rows of *stmt*, on the Core connection (no ORM row handling).

        Every column of the point reads comes from the driver in its final type (no
        result processor applies), so the rows are taken as they are. On PostgreSQL
        they come in the binary format: numbers are neither printed by the server nor
        parsed by psycopg (at 10,000 points, about 40 % of psycopg's work).
        """
        connection = self._session.connection()
        if connection.dialect.name == "postgresql":
            return _binary_rows(connection, stmt)
        result = connection.execute(stmt)
        try:
            return list(result.cursor.fetchall())
        finally:
            result.close()

    def job_id_range_for_commit(self, commit: str) -> tuple[int, int] | None:
        """The first and last job ids of a commit (prefix match), or None."""
        row = self._session.execute(
            select(func.min(SqlJob.id), func.max(SqlJob.id)).where(
                SqlJob.commit_sha.startswith(commit, autoescape=True)
            )
        ).first()
        if row is None or row[0] is None:
            return None
        return int(row[0]), int(row[1])


def _binary_rows(connection: Connection, stmt: Select[Any]) -> list[Any]:
    """The rows of *stmt* from psycopg in the binary format, on *connection*'s
    transaction.

    SQLAlchemy runs statements in the text format only, so the statement is compiled
    here, its parameters converted as SQLAlchemy would (a naive ``since`` is UTC, as
    `vigil.server.dbschema.base.UtcDateTime` stores it) and run on the driver's cursor.
    """
    dialect = connection.dialect
    compiled = stmt.compile(dialect=dialect)
    parameters = compiled.construct_params()
    for name, bind in compiled.binds.items():
        process = bind.type.bind_processor(dialect)
        if process is not None and name in parameters:
            parameters[name] = process(parameters[name])
    driver = connection.connection.driver_connection
    with driver.cursor(binary=True) as cursor:  # type: ignore[union-attr]
        cursor.execute(str(compiled), parameters)
        return list(cursor.fetchall())


def _parse_sqlite_time(text: str) -> datetime:
    # Stored as naive UTC by UtcDateTime; one C call makes it aware.
    return datetime.fromisoformat(text + "+00:00")


def series_info(row: SqlSeries) -> SeriesInfo:
    """The domain series of a row of ``series``."""
    return SeriesInfo(
        id=row.id,
        series_key=row.series_key,
        metric_name=row.metric_name,
        dataset=row.dataset,
        instrument=row.instrument,
        data_id=dict(row.data_id or {}),
    )
