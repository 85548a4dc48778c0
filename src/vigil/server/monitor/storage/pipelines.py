"""Queries on the monitor's pipelines and exposures. Stores never commit."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, select, update
from sqlalchemy.orm import Session

from ..dbschema import SqlExposure, SqlMonitorPipeline, SqlProcessing
from ..domain import ConditionPoint, ExposureRecord, ExposureSeen, Keyset, PipelineInfo
from ._keyset import after, order_by, rows_after

__all__ = ["PipelineStore"]

_EXPOSURE_FIELDS = (
    "path",
    "night",
    "flavor",
    "program",
    "airmass",
    "seeing",
    "sky_brightness",
    "exposure_time",
    "ra",
    "dec",
    "observed_at",
)


def _exposure(
    row: SqlExposure,
    processings: int = 0,
    last_id: int | None = None,
    last_qa: str | None = None,
) -> ExposureRecord:
    return ExposureRecord(
        id=row.id,
        pipeline=row.pipeline,
        exposure=row.exposure,
        state=row.state,
        created_at=row.created_at,
        header=row.header or {},
        processing_count=processings,
        last_processing_id=last_id,
        last_qa_status=last_qa,
        **{name: getattr(row, name) for name in _EXPOSURE_FIELDS},
    )


def _processing_count() -> Any:
    return (
        select(func.count())
        .select_from(SqlProcessing)
        .where(SqlProcessing.exposure_id == SqlExposure.id)
        .scalar_subquery()
    )


def _last_processing() -> Any:
    return (
        select(func.max(SqlProcessing.id))
        .where(SqlProcessing.exposure_id == SqlExposure.id)
        .scalar_subquery()
    )


def _last_qa() -> Any:
    return (
        select(SqlProcessing.qa_status)
        .where(SqlProcessing.exposure_id == SqlExposure.id)
        .order_by(SqlProcessing.id.desc())
        .limit(1)
        .scalar_subquery()
    )


_EXPOSURE_SORTS: dict[str, Any] = {
    "id": SqlExposure.id,
    "exposure": SqlExposure.exposure,
    "night": SqlExposure.night,
    "flavor": SqlExposure.flavor,
    "program": SqlExposure.program,
    "airmass": SqlExposure.airmass,
    "seeing": SqlExposure.seeing,
    "exposure_time": SqlExposure.exposure_time,
    "ra": SqlExposure.ra,
    "dec": SqlExposure.dec,
    "observed_at": SqlExposure.observed_at,
    "last_qa_status": _last_qa(),
}


class PipelineStore:
    """Queries on the monitor's pipelines and exposures (the runners' queue)."""

    def __init__(self, session: Session) -> None:
        self._session = session

    # Pipelines ------------------------------------------------------------------------

    def _pipeline_row(self, name: str) -> SqlMonitorPipeline | None:
        return self._session.scalar(
            select(SqlMonitorPipeline).where(SqlMonitorPipeline.name == name)
        )

    def announce_pipeline(
        self, name: str, description: dict[str, Any] | None, now: datetime
    ) -> None:
        """Record a pipeline's runner (a new pipeline is ``running``)."""
        row = self._pipeline_row(name)
        if row is None:
            row = SqlMonitorPipeline(
                name=name,
                description=description or {},
                desired_state="running",
                state_changed_by=None,
                state_changed_at=None,
                last_seen_at=now,
            )
            self._session.add(row)
        else:
            if description is not None:
                row.description = description
            row.last_seen_at = now
        self._session.flush()

    def get_pipeline(self, name: str) -> PipelineInfo | None:
        """One pipeline."""
        row = self._pipeline_row(name)
        return None if row is None else self._pipeline(row)

    def list_pipelines(self) -> list[PipelineInfo]:
        """Every pipeline, by name."""
        rows = self._session.scalars(select(SqlMonitorPipeline).order_by(SqlMonitorPipeline.name))
        return [self._pipeline(row) for row in rows]

    @staticmethod
    def _pipeline(row: SqlMonitorPipeline) -> PipelineInfo:
        return PipelineInfo(
            name=row.name,
            description=row.description or {},
            desired_state=row.desired_state,
            state_changed_by=row.state_changed_by,
            state_changed_at=row.state_changed_at,
            last_seen_at=row.last_seen_at,
        )

    def set_desired_state(self, name: str, state: str, by: str, now: datetime) -> None:
        """Ask the pipeline's runner to run or stop (created if unknown)."""
        self.announce_pipeline(name, None, now)
        self._session.execute(
            update(SqlMonitorPipeline)
            .where(SqlMonitorPipeline.name == name)
            .values(desired_state=state, state_changed_by=by, state_changed_at=now)
        )

    # Exposures ------------------------------------------------------------------------

    def upsert_exposure(self, event: ExposureSeen, state: str, now: datetime) -> int:
        """Store an exposure (its values are replaced when it is seen again); its id."""
        row = self._session.scalar(
            select(SqlExposure).where(
                SqlExposure.pipeline == event.pipeline, SqlExposure.exposure == event.exposure
            )
        )
        if row is None:
            row = SqlExposure(
                pipeline=event.pipeline, exposure=event.exposure, created_at=now, header={}
            )
            self._session.add(row)
        elif row.state in ("claimed", "processed") and state in ("seen", "queued"):
            state = row.state
        row.state = state
        for name in _EXPOSURE_FIELDS:
            value = getattr(event, name)
            if value is not None:
                setattr(row, name, value)
        if event.header:
            row.header = event.header
        self._session.flush()
        return row.id

    def exposure_id(self, pipeline: str, exposure: str) -> int | None:
        """The id of an exposure."""
        return self._session.scalar(
            select(SqlExposure.id).where(
                SqlExposure.pipeline == pipeline, SqlExposure.exposure == exposure
            )
        )

    def set_exposure_state(self, exposure_id: int, state: str) -> None:
        """Mark an exposure queued, claimed, seen or processed."""
        self._session.execute(
            update(SqlExposure).where(SqlExposure.id == exposure_id).values(state=state)
        )

    def claim_exposures(self, pipeline: str, limit: int) -> list[ExposureRecord]:
        """The oldest queued exposures of *pipeline*, marked claimed."""
        stmt = (
            select(SqlExposure)
            .where(SqlExposure.pipeline == pipeline, SqlExposure.state == "queued")
            .order_by(SqlExposure.id)
            .limit(limit)
        )
        if self._session.get_bind().dialect.name == "postgresql":
            stmt = stmt.with_for_update(skip_locked=True)
        rows = list(self._session.scalars(stmt))
        for row in rows:
            row.state = "claimed"
        self._session.flush()
        return [_exposure(row) for row in rows]

    def get_exposure(self, exposure_id: int) -> ExposureRecord | None:
        """One exposure with its number of processings."""
        row = self._session.execute(
            select(SqlExposure, _processing_count()).where(SqlExposure.id == exposure_id)
        ).first()
        return None if row is None else _exposure(row[0], row[1] or 0)

    def list_exposures(
        self,
        *,
        pipeline: str | None,
        flavor: str | None,
        program: str | None,
        since: datetime | None,
        until: datetime | None,
        limit: int,
        offset: int = 0,
        key: Keyset | None = None,
        sort: str = "id",
        descending: bool = True,
    ) -> tuple[list[ExposureRecord], int, int]:
        """Up to *limit* exposures sorted by *sort* (`EXPOSURE_SORTS`; newest first by
        default), those after *key* (else after *offset* rows); how many match and how
        many come before the first one."""
        conditions = []
        if pipeline:
            conditions.append(SqlExposure.pipeline == pipeline)
        if flavor:
            conditions.append(SqlExposure.flavor == flavor)
        if program:
            conditions.append(SqlExposure.program == program)
        time = func.coalesce(SqlExposure.observed_at, SqlExposure.created_at)
        if since:
            conditions.append(time >= since)
        if until:
            conditions.append(time < until)
        column = _EXPOSURE_SORTS[sort]
        later = None if key is None else after(column, SqlExposure.id, key, descending)
        stmt = (
            select(SqlExposure, _processing_count(), _last_processing(), _last_qa())
            .where(and_(True, *conditions))
            .order_by(*order_by(column, SqlExposure.id, descending))
            .limit(limit)
        )
        stmt = stmt.offset(offset) if later is None else stmt.where(later)
        total, remaining = self._session.execute(
            select(func.count(), rows_after(later))
            .select_from(SqlExposure)
            .where(and_(True, *conditions))
        ).one()
        items = [
            _exposure(row, n or 0, last_id, last_qa)
            for row, n, last_id, last_qa in self._session.execute(stmt)
        ]
        return items, total, offset if later is None else total - remaining

    def conditions(
        self,
        pipeline: str | None,
        since: datetime | None,
        until: datetime | None,
        flavor: str | None,
    ) -> list[ConditionPoint]:
        """The observing conditions of exposures, oldest first."""
        time = func.coalesce(SqlExposure.observed_at, SqlExposure.created_at)
        stmt = select(SqlExposure, time.label("time")).order_by(time, SqlExposure.id)
        if pipeline:
            stmt = stmt.where(SqlExposure.pipeline == pipeline)
        if flavor:
            stmt = stmt.where(SqlExposure.flavor == flavor)
        if since:
            stmt = stmt.where(time >= since)
        if until:
            stmt = stmt.where(time < until)
        return [
            ConditionPoint(
                exposure=row.exposure,
                time=row.observed_at or row.created_at,
                flavor=row.flavor,
                program=row.program,
                airmass=row.airmass,
                seeing=row.seeing,
                sky_brightness=row.sky_brightness,
                exposure_time=row.exposure_time,
            )
            for row, _ in self._session.execute(stmt)
        ]
