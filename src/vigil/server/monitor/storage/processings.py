"""Queries on the monitor's processings, units, steps, QA values and comments. Stores
never commit."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Select, Table, and_, func, or_, select, update
from sqlalchemy.orm import Session

from ...domain.logs import FAILED_STATUSES
from ...storage._sql import upsert
from ..dbschema import (
    SqlExposure,
    SqlProcessing,
    SqlProcessingComment,
    SqlQaValue,
    SqlStepRun,
    SqlUnitRun,
)
from ..domain import (
    Alert,
    Comment,
    HistoryFilter,
    Keyset,
    ProcessingSummary,
    QaValue,
    StepView,
    TrendPoint,
    UnitView,
    tile_of,
)
from ._keyset import after, order_by, rows_after

__all__ = ["ProcessingKeys", "ProcessingStore"]


class ProcessingKeys:
    """The ids a processing's events need, looked up once per batch."""

    __slots__ = (
        "exposure",
        "flavor",
        "id",
        "log_run_id",
        "observed_at",
        "pipeline",
        "steps",
        "units",
    )

    def __init__(
        self,
        id: int,
        pipeline: str,
        exposure: str,
        flavor: str | None,
        log_run_id: int | None,
        observed_at: datetime,
        units: dict[str, int],
        steps: dict[tuple[int, str], int],
    ) -> None:
        self.id = id
        self.pipeline = pipeline
        self.exposure = exposure
        self.flavor = flavor
        self.log_run_id = log_run_id
        self.observed_at = observed_at
        self.units = units
        self.steps = steps


def _summary_columns() -> tuple[Any, ...]:
    comments = (
        select(func.count())
        .select_from(SqlProcessingComment)
        .where(SqlProcessingComment.processing_id == SqlProcessing.id)
        .scalar_subquery()
    )
    return (
        SqlProcessing,
        SqlExposure.exposure,
        SqlExposure.night,
        SqlExposure.program,
        SqlExposure.airmass,
        SqlExposure.seeing,
        SqlExposure.exposure_time,
        SqlExposure.observed_at,
        SqlExposure.ra,
        SqlExposure.dec,
        SqlExposure.header,
        comments.label("comment_count"),
    )


def _summary(row: Any) -> ProcessingSummary:
    p: SqlProcessing = row[0]
    return ProcessingSummary(
        id=p.id,
        key=p.key,
        pipeline=p.pipeline,
        exposure=row.exposure,
        night=row.night,
        flavor=p.flavor,
        program=row.program,
        status=p.status,
        qa_status=p.qa_status,
        started_at=p.started_at,
        ended_at=p.ended_at,
        unit_count=p.unit_count,
        failed_count=p.failed_count,
        airmass=row.airmass,
        seeing=row.seeing,
        exposure_time=row.exposure_time,
        observed_at=row.observed_at,
        comment_count=row.comment_count or 0,
        log_run_id=p.log_run_id,
        job_id=p.job_id,
        ra=row.ra,
        dec=row.dec,
        tile=tile_of(row.header),
    )


_SORT_COLUMNS: dict[str, Any] = {
    "id": SqlProcessing.id,
    "exposure": SqlExposure.exposure,
    "night": SqlExposure.night,
    "flavor": SqlProcessing.flavor,
    "program": SqlExposure.program,
    "status": SqlProcessing.status,
    "qa_status": SqlProcessing.qa_status,
    "started_at": SqlProcessing.started_at,
    "ended_at": SqlProcessing.ended_at,
    "airmass": SqlExposure.airmass,
    "seeing": SqlExposure.seeing,
    "exposure_time": SqlExposure.exposure_time,
    "failed_count": SqlProcessing.failed_count,
    "ra": SqlExposure.ra,
    "dec": SqlExposure.dec,
}


class ProcessingStore:
    """Queries on the monitor's processings, units, steps, QA values and comments."""

    def __init__(self, session: Session) -> None:
        self._session = session

    # Processings ----------------------------------------------------------------------

    def insert_processing(
        self,
        *,
        key: str,
        exposure_id: int,
        pipeline: str,
        flavor: str | None,
        steps: list[dict[str, Any]],
        units: Sequence[str],
        log_run_id: int,
        now: datetime,
    ) -> int:
        """Create a running processing with its units and their steps, all pending."""
        row = SqlProcessing(
            key=key,
            exposure_id=exposure_id,
            pipeline=pipeline,
            flavor=flavor,
            status="running",
            qa_status="missing",
            started_at=now,
            ended_at=None,
            unit_count=len(units),
            failed_count=0,
            steps=steps,
            log_run_id=log_run_id,
            job_id=None,
        )
        self._session.add(row)
        self._session.flush()
        unit_rows = [
            SqlUnitRun(
                processing_id=row.id,
                name=name,
                position=i,
                status="pending",
                current_step=None,
                qa_status="missing",
                exit_status=None,
                message=None,
                last_lines=[],
            )
            for i, name in enumerate(units)
        ]
        self._session.add_all(unit_rows)
        self._session.flush()
        self._session.add_all(
            SqlStepRun(
                unit_id=unit.id,
                name=str(step["name"]),
                position=j,
                status="pending",
                qa_status="missing",
            )
            for unit in unit_rows
            for j, step in enumerate(steps)
        )
        self._session.flush()
        return row.id

    def processing_keys(self, key: str) -> ProcessingKeys | None:
        """The ids of processing *key* and of its units."""
        row = self._session.execute(
            select(
                SqlProcessing.id,
                SqlProcessing.pipeline,
                SqlProcessing.flavor,
                SqlProcessing.log_run_id,
                SqlProcessing.started_at,
                SqlExposure.exposure,
                SqlExposure.observed_at,
            )
            .join(SqlExposure, SqlExposure.id == SqlProcessing.exposure_id)
            .where(SqlProcessing.key == key)
        ).first()
        if row is None:
            return None
        units = {
            name: unit_id
            for name, unit_id in self._session.execute(
                select(SqlUnitRun.name, SqlUnitRun.id).where(SqlUnitRun.processing_id == row.id)
            )
        }
        steps = {
            (unit_id, name): step_id
            for step_id, unit_id, name in self._session.execute(
                select(SqlStepRun.id, SqlStepRun.unit_id, SqlStepRun.name).where(
                    SqlStepRun.unit_id.in_(list(units.values()))
                )
            )
        }
        return ProcessingKeys(
            id=row.id,
            pipeline=row.pipeline,
            exposure=row.exposure,
            flavor=row.flavor,
            log_run_id=row.log_run_id,
            observed_at=row.observed_at or row.started_at,
            units=units,
            steps=steps,
        )

    def update_processing(self, processing_id: int, **values: Any) -> None:
        """Set columns of a processing."""
        self._session.execute(
            update(SqlProcessing).where(SqlProcessing.id == processing_id).values(**values)
        )

    def update_units(self, rows: list[dict[str, Any]]) -> None:
        """Set columns of many units (each row: ``id`` and the columns), in one go."""
        if rows:
            self._session.execute(update(SqlUnitRun), rows)

    def update_steps(self, rows: list[dict[str, Any]]) -> None:
        """Set columns of many steps (each row: ``id`` and the columns), in one go."""
        if rows:
            self._session.execute(update(SqlStepRun), rows)

    def unit_statuses(self, processing_id: int) -> list[tuple[str, str]]:
        """``(status, qa_status)`` of every unit of a processing."""
        stmt = select(SqlUnitRun.status, SqlUnitRun.qa_status).where(
            SqlUnitRun.processing_id == processing_id
        )
        return [(status, qa) for status, qa in self._session.execute(stmt)]

    def get_summary(self, processing_id: int) -> ProcessingSummary | None:
        """One row of the processing history."""
        row = self._session.execute(
            select(*_summary_columns())
            .join(SqlExposure, SqlExposure.id == SqlProcessing.exposure_id)
            .where(SqlProcessing.id == processing_id)
        ).first()
        return None if row is None else _summary(row)

    def processing_steps(self, processing_id: int) -> list[dict[str, Any]]:
        """The step definitions a processing ran with."""
        steps = self._session.scalar(
            select(SqlProcessing.steps).where(SqlProcessing.id == processing_id)
        )
        return list(steps or [])

    def latest_processing_id(self, pipeline: str | None) -> int | None:
        """The most recent processing (of *pipeline*)."""
        stmt = select(func.max(SqlProcessing.id))
        if pipeline:
            stmt = stmt.where(SqlProcessing.pipeline == pipeline)
        return self._session.scalar(stmt)

    def _history_conditions(self, filters: HistoryFilter) -> list[Any]:
        conditions: list[Any] = []
        if filters.pipeline:
            conditions.append(SqlProcessing.pipeline == filters.pipeline)
        if filters.status:
            conditions.append(SqlProcessing.status == filters.status)
        if filters.qa_status:
            conditions.append(SqlProcessing.qa_status == filters.qa_status)
        if filters.flavor:
            conditions.append(SqlProcessing.flavor == filters.flavor)
        if filters.program:
            conditions.append(SqlExposure.program == filters.program)
        if filters.exposure:
            conditions.append(SqlExposure.exposure.like(f"%{filters.exposure}%"))
        if filters.since:
            conditions.append(SqlProcessing.started_at >= filters.since)
        if filters.until:
            conditions.append(SqlProcessing.started_at < filters.until)
        return conditions

    def list_processings(
        self,
        filters: HistoryFilter,
        *,
        sort: str,
        descending: bool,
        limit: int,
        offset: int = 0,
        key: Keyset | None = None,
    ) -> tuple[list[ProcessingSummary], int, int]:
        """Up to *limit* rows of the processing history, those after *key* (else after
        *offset* rows); how many rows match and how many come before the first one."""
        conditions = self._history_conditions(filters)
        column = _SORT_COLUMNS[sort]
        later = None if key is None else after(column, SqlProcessing.id, key, descending)
        stmt: Select[Any] = (
            select(*_summary_columns())
            .join(SqlExposure, SqlExposure.id == SqlProcessing.exposure_id)
            .where(and_(True, *conditions))
            .order_by(*order_by(column, SqlProcessing.id, descending))
            .limit(limit)
        )
        stmt = stmt.offset(offset) if later is None else stmt.where(later)
        total, remaining = self._session.execute(
            select(func.count(), rows_after(later))
            .select_from(SqlProcessing)
            .join(SqlExposure, SqlExposure.id == SqlProcessing.exposure_id)
            .where(and_(True, *conditions))
        ).one()
        before = offset if later is None else total - remaining
        return [_summary(row) for row in self._session.execute(stmt)], total, before

    def distinct_values(self, column: str, pipeline: str | None) -> list[str]:
        """The values of ``flavor`` or ``program`` seen, for filter menus."""
        attribute = {"flavor": SqlExposure.flavor, "program": SqlExposure.program}[column]
        stmt = select(attribute).where(attribute.is_not(None)).distinct().order_by(attribute)
        if pipeline:
            stmt = stmt.where(SqlExposure.pipeline == pipeline)
        return [value for value in self._session.scalars(stmt) if value]

    # Units, steps, QA -----------------------------------------------------------------

    def list_units(self, processing_id: int) -> list[UnitView]:
        """The units of a processing with their steps, in order."""
        units = list(
            self._session.scalars(
                select(SqlUnitRun)
                .where(SqlUnitRun.processing_id == processing_id)
                .order_by(SqlUnitRun.position)
            )
        )
        steps: dict[int, list[StepView]] = {u.id: [] for u in units}
        if units:
            for step in self._session.scalars(
                select(SqlStepRun)
                .where(SqlStepRun.unit_id.in_(list(steps)))
                .order_by(SqlStepRun.unit_id, SqlStepRun.position)
            ):
                steps[step.unit_id].append(
                    StepView(
                        name=step.name,
                        status=step.status,
                        qa_status=step.qa_status,
                        started_at=step.started_at,
                        ended_at=step.ended_at,
                    )
                )
        return [
            UnitView(
                name=u.name,
                status=u.status,
                current_step=u.current_step,
                qa_status=u.qa_status,
                exit_status=u.exit_status,
                message=u.message,
                started_at=u.started_at,
                ended_at=u.ended_at,
                last_lines=list(u.last_lines or []),
                steps=steps[u.id],
            )
            for u in units
        ]

    def upsert_qa_values(self, rows: list[dict[str, Any]]) -> None:
        """Store QA values, replacing those of the same unit, step and key."""
        if rows:
            upsert(
                self._session, cast(Table, SqlQaValue.__table__), rows, ["unit_id", "step", "key"]
            )

    def qa_statuses(self, unit_ids: list[int]) -> list[tuple[int, str, str]]:
        """``(unit id, step, status)`` of every QA value of these units."""
        stmt = select(SqlQaValue.unit_id, SqlQaValue.step, SqlQaValue.status).where(
            SqlQaValue.unit_id.in_(unit_ids)
        )
        return [(unit_id, step, status) for unit_id, step, status in self._session.execute(stmt)]

    def list_qa(self, processing_id: int) -> list[QaValue]:
        """Every QA value of a processing."""
        rows = self._session.scalars(
            select(SqlQaValue)
            .where(SqlQaValue.processing_id == processing_id)
            .order_by(SqlQaValue.unit_id, SqlQaValue.id)
        )
        return [
            QaValue(
                unit=r.unit,
                step=r.step,
                key=r.key,
                display_name=r.display_name,
                status=r.status,
                value=r.value,
                values=list(r.values or []),
                statuses=list(r.statuses or []),
                normal=r.normal_range,
                warning=r.warning_range,
                reference=r.reference,
            )
            for r in rows
        ]

    def qa_keys(self, pipeline: str | None) -> list[str]:
        """The QA keys stored (of *pipeline*)."""
        stmt = select(SqlQaValue.key).distinct().order_by(SqlQaValue.key)
        if pipeline:
            stmt = stmt.where(SqlQaValue.pipeline == pipeline)
        return list(self._session.scalars(stmt))

    def trend(
        self,
        *,
        pipeline: str | None,
        key: str,
        units: Iterable[str] | None,
        since: datetime | None,
        until: datetime | None,
    ) -> list[tuple[TrendPoint, list[float | None]]]:
        """A QA key's values over time: each point with its value's elements."""
        stmt = (
            select(
                SqlQaValue.observed_at,
                SqlQaValue.processing_id,
                SqlQaValue.unit,
                SqlQaValue.value,
                SqlQaValue.values,
                SqlQaValue.status,
                SqlExposure.exposure,
            )
            .join(SqlProcessing, SqlProcessing.id == SqlQaValue.processing_id)
            .join(SqlExposure, SqlExposure.id == SqlProcessing.exposure_id)
            .where(SqlQaValue.key == key)
            .order_by(SqlQaValue.observed_at, SqlQaValue.id)
        )
        if pipeline:
            stmt = stmt.where(SqlQaValue.pipeline == pipeline)
        unit_list = list(units or [])
        if unit_list:
            stmt = stmt.where(SqlQaValue.unit.in_(unit_list))
        if since:
            stmt = stmt.where(SqlQaValue.observed_at >= since)
        if until:
            stmt = stmt.where(SqlQaValue.observed_at < until)
        return [
            (
                TrendPoint(
                    time=row.observed_at,
                    processing_id=row.processing_id,
                    exposure=row.exposure,
                    unit=row.unit,
                    value=row.value,
                    status=row.status,
                ),
                list(row.values or []),
            )
            for row in self._session.execute(stmt)
        ]

    # Comments and alerts --------------------------------------------------------------

    def add_comment(self, processing_id: int, author: str, text: str, now: datetime) -> Comment:
        """Store a comment."""
        row = SqlProcessingComment(
            processing_id=processing_id, author=author, text=text, created_at=now
        )
        self._session.add(row)
        self._session.flush()
        return Comment(row.id, processing_id, author, text, now)

    def list_comments(self, processing_id: int) -> list[Comment]:
        """The comments of a processing, oldest first."""
        rows = self._session.scalars(
            select(SqlProcessingComment)
            .where(SqlProcessingComment.processing_id == processing_id)
            .order_by(SqlProcessingComment.id)
        )
        return [Comment(r.id, r.processing_id, r.author, r.text, r.created_at) for r in rows]

    def recent_alerts(self, pipeline: str | None, limit: int) -> list[Alert]:
        """Failed units and QA values in alarm or warning, newest first."""
        failed = (
            select(SqlUnitRun, SqlProcessing.id, SqlExposure.exposure)
            .join(SqlProcessing, SqlProcessing.id == SqlUnitRun.processing_id)
            .join(SqlExposure, SqlExposure.id == SqlProcessing.exposure_id)
            .where(SqlUnitRun.status.in_(FAILED_STATUSES))
            .order_by(SqlUnitRun.id.desc())
            .limit(limit)
        )
        qa = (
            select(SqlQaValue, SqlExposure.exposure)
            .join(SqlProcessing, SqlProcessing.id == SqlQaValue.processing_id)
            .join(SqlExposure, SqlExposure.id == SqlProcessing.exposure_id)
            .where(or_(SqlQaValue.status == "alarm", SqlQaValue.status == "warning"))
            .order_by(SqlQaValue.id.desc())
            .limit(limit)
        )
        if pipeline:
            failed = failed.where(SqlProcessing.pipeline == pipeline)
            qa = qa.where(SqlQaValue.pipeline == pipeline)
        alerts = [
            Alert(
                time=unit.ended_at or unit.started_at or datetime.min,
                processing_id=pid,
                exposure=exposure,
                unit=unit.name,
                kind="failed",
                message=unit.message or unit.status,
            )
            for unit, pid, exposure in self._session.execute(failed)
        ]
        alerts += [
            Alert(
                time=value.observed_at,
                processing_id=value.processing_id,
                exposure=exposure,
                unit=value.unit,
                kind=value.status,
                message=f"{value.display_name or value.key} {value.status.upper()} ({value.step})",
            )
            for value, exposure in self._session.execute(qa)
        ]
        alerts.sort(key=lambda a: (a.processing_id, a.kind == "failed"), reverse=True)
        return alerts[:limit]
