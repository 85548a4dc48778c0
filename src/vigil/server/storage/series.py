"""Series and their points in the database."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import String, func, select, type_coerce
from sqlalchemy.orm import Session

from ..dbschema import SqlJob, SqlMeasurement, SqlSeries
from ..domain import SeriesInfo, SeriesPoint
from ._sql import chunks, insert_ignore
from .jobs import job_time

__all__ = ["PointFilter", "SeriesStore", "series_info"]


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


class SeriesStore:
    """Queries on ``series`` and the measurements of one series."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def _ids_for(self, keys: Sequence[str]) -> dict[str, int]:
        found: dict[str, int] = {}
        for part in chunks(keys):
            rows = self._session.execute(
                select(SqlSeries.series_key, SqlSeries.id).where(SqlSeries.series_key.in_(part))
            )
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
            insert_ignore(
                self._session,
                SqlSeries.__table__,  # type: ignore[arg-type]
                missing,
                ["series_key"],
            )
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

        The hot read of the dashboard: it walks the covering index
        ``(series_id, job_id, value, unit)`` and runs on the Core connection, skipping
        ORM row handling; on SQLite, times are parsed here rather than by SQLAlchemy's
        much slower generic DATETIME parser.
        """
        m, j = SqlMeasurement, SqlJob
        sqlite = self._session.get_bind().dialect.name == "sqlite"
        time_column = job_time()
        if sqlite:
            time_column = type_coerce(func.coalesce(j.run_at, j.created_at), String)
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
        if filters.after_job_id is not None:
            stmt = stmt.where(m.job_id > filters.after_job_id)
        if filters.first_job_id is not None:
            stmt = stmt.where(m.job_id >= filters.first_job_id)
        if filters.last_job_id is not None:
            stmt = stmt.where(m.job_id <= filters.last_job_id)
        if filters.branch is not None:
            stmt = stmt.where(j.branch == filters.branch)
        if filters.environment is not None:
            stmt = stmt.where(j.environment == filters.environment)
        if filters.since is not None:
            stmt = stmt.where(job_time() >= filters.since)
        if filters.until is not None:
            stmt = stmt.where(job_time() < filters.until)
        stmt = stmt.order_by(m.job_id).limit(limit)
        result = self._session.connection().execute(stmt)
        try:
            # Every column comes from the driver in its final type (no result
            # processors apply to these), so the DBAPI rows are read as they are.
            rows = result.cursor.fetchall()
        finally:
            result.close()
        parse = _parse_sqlite_time if sqlite else _aware
        return [
            SeriesPoint(r[0], r[1], r[2], r[3], parse(r[4]), r[5], r[6], r[7], r[8]) for r in rows
        ]

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


def _parse_sqlite_time(text: str) -> datetime:
    # Stored as naive UTC by UtcDateTime; one C call makes it aware.
    return datetime.fromisoformat(text + "+00:00")


def _aware(value: datetime) -> datetime:
    return value.astimezone(UTC) if value.tzinfo is not None else value.replace(tzinfo=UTC)


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
