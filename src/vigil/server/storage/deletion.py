"""What deleting a job or a metric reads and removes (the service owns the transaction)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, distinct, func, select, update
from sqlalchemy.orm import Session

from ..dbschema import (
    SqlAnalysisQueueItem,
    SqlBlob,
    SqlJob,
    SqlJobPackage,
    SqlMeasurement,
    SqlMetric,
    SqlRegression,
    SqlSeries,
    SqlSpecification,
    measurement_blobs_table,
)
from ._sql import chunks

__all__ = ["AnchoredRegression", "DeletionStore"]


def _series_of(metric: str) -> Any:
    """The ids of a metric's series, as a subquery."""
    return select(SqlSeries.id).where(SqlSeries.metric_name == metric)


@dataclass(frozen=True, slots=True)
class AnchoredRegression:
    """A regression record that names a job as its first bad or last good one."""

    id: int
    series_id: int
    first_bad_job_id: int
    last_good_job_id: int | None


class DeletionStore:
    """Reads and deletes of `vigil.server.services.deletion`; never commits."""

    def __init__(self, session: Session) -> None:
        self._session = session

    # Jobs -------------------------------------------------------------------------------

    def lock_job(self, job_id: int) -> tuple[str, str | None] | None:
        """``(identifier, branch)`` of a job, its row locked until the transaction ends."""
        row = self._session.execute(
            select(SqlJob.identifier, SqlJob.branch).where(SqlJob.id == job_id).with_for_update()
        ).first()
        return (str(row[0]), row[1]) if row is not None else None

    def job_series(self, job_id: int) -> list[int]:
        """The series a job has measurements in."""
        rows = self._session.scalars(
            select(SqlMeasurement.series_id).where(SqlMeasurement.job_id == job_id).distinct()
        )
        return sorted(int(r) for r in rows)

    def anchored_regressions(self, job_id: int) -> list[AnchoredRegression]:
        """Regression records whose first bad or last good job is *job_id*."""
        r = SqlRegression
        rows = self._session.execute(
            select(r.id, r.series_id, r.first_bad_job_id, r.last_good_job_id)
            .where((r.first_bad_job_id == job_id) | (r.last_good_job_id == job_id))
            .order_by(r.id)
        )
        return [AnchoredRegression(*row) for row in rows]

    def move_regression(
        self, regression_id: int, *, first_bad: int | None = None, last_good: int | None = None
    ) -> None:
        """Point a record at other jobs (None leaves a column as it is)."""
        values: dict[str, int] = {}
        if first_bad is not None:
            values["first_bad_job_id"] = first_bad
        if last_good is not None:
            values["last_good_job_id"] = last_good
        if values:
            self._session.execute(
                update(SqlRegression).where(SqlRegression.id == regression_id).values(**values)
            )

    def delete_regressions(self, ids: Sequence[int]) -> int:
        """Delete records (their history goes with them); how many."""
        removed = 0
        for part in chunks(sorted(set(ids))):
            result = self._session.execute(delete(SqlRegression).where(SqlRegression.id.in_(part)))
            removed += int(result.rowcount)  # type: ignore[attr-defined]
        return removed

    def delete_job(self, job_id: int) -> dict[str, int]:
        """Delete a job's measurements (and their blob links), blobs, packages and row.

        Artifact rows are deleted by `ArtifactStore.delete_for_jobs`; columns of other
        tables that name the job (a regression's last good or trigger job, a queued
        analysis, a monitor processing) become NULL by their foreign keys.
        """
        m = SqlMeasurement
        links = self._session.execute(
            delete(measurement_blobs_table).where(
                measurement_blobs_table.c.measurement_id.in_(
                    select(m.id).where(m.job_id == job_id).scalar_subquery()
                )
            )
        )
        counts = {"blob_links": int(links.rowcount)}  # type: ignore[attr-defined]
        for name, table in (
            ("measurements", SqlMeasurement),
            ("blobs", SqlBlob),
            ("packages", SqlJobPackage),
        ):
            result = self._session.execute(delete(table).where(table.job_id == job_id))
            counts[name] = int(result.rowcount)  # type: ignore[attr-defined]
        r = SqlRegression
        self._session.execute(
            update(r).where(r.trigger_job_id == job_id).values(trigger_job_id=None)
        )
        self._session.execute(
            update(r).where(r.last_good_job_id == job_id).values(last_good_job_id=None)
        )
        self._session.execute(delete(SqlJob).where(SqlJob.id == job_id))
        return counts

    # Metrics ----------------------------------------------------------------------------

    def metric_exists(self, name: str) -> bool:
        """Whether a metric definition, a specification or a series has this name."""
        for stmt in (
            select(SqlMetric.id).where(SqlMetric.name == name).with_for_update(),
            select(SqlSpecification.id).where(SqlSpecification.metric_name == name),
            select(SqlSeries.id).where(SqlSeries.metric_name == name),
        ):
            if self._session.execute(stmt.limit(1)).first() is not None:
                return True
        return False

    def metric_counts(self, name: str) -> tuple[int, int]:
        """``(measurements, distinct jobs)`` of a metric's series."""
        m = SqlMeasurement
        row = self._session.execute(
            select(func.count(), func.count(distinct(m.job_id))).where(
                m.series_id.in_(_series_of(name))
            )
        ).one()
        return int(row[0]), int(row[1])

    def delete_metric(self, name: str) -> dict[str, int]:
        """Delete a metric: its regressions, queued analyses, measurements (and their blob
        links), series, specifications and definition; how many of each."""
        m = SqlMeasurement
        counts: dict[str, int] = {}
        steps: list[tuple[str | None, Any]] = [
            (
                "regressions",
                delete(SqlRegression).where(SqlRegression.series_id.in_(_series_of(name))),
            ),
            (
                None,
                delete(SqlAnalysisQueueItem).where(
                    SqlAnalysisQueueItem.series_id.in_(_series_of(name))
                ),
            ),
            (
                "blob_links",
                delete(measurement_blobs_table).where(
                    measurement_blobs_table.c.measurement_id.in_(
                        select(m.id).where(m.series_id.in_(_series_of(name)))
                    )
                ),
            ),
            ("measurements", delete(m).where(m.series_id.in_(_series_of(name)))),
            ("series", delete(SqlSeries).where(SqlSeries.metric_name == name)),
            (
                "specifications",
                delete(SqlSpecification).where(SqlSpecification.metric_name == name),
            ),
            ("definition", delete(SqlMetric).where(SqlMetric.name == name)),
        ]
        for label, stmt in steps:
            result = self._session.execute(stmt)
            if label is not None:
                counts[label] = int(result.rowcount)  # type: ignore[attr-defined]
        return counts
