"""Queries on the monitor's pipelines and exposures. Stores never commit."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, select, update
from sqlalchemy.orm import Session

from ..dbschema import SqlExposure, SqlMonitorPipeline, SqlProcessing
from ..domain import ConditionPoint, ExposureRecord, ExposureSeen, PipelineInfo

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


def _exposure(row: SqlExposure, processings: int = 0) -> ExposureRecord:
    return ExposureRecord(
        id=row.id,
        pipeline=row.pipeline,
        exposure=row.exposure,
        state=row.state,
        created_at=row.created_at,
        header=row.header or {},
        processing_count=processings,
        **{name: getattr(row, name) for name in _EXPOSURE_FIELDS},
    )


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

    def list_exposures(
        self,
        *,
        pipeline: str | None,
        flavor: str | None,
        program: str | None,
        since: datetime | None,
        until: datetime | None,
        limit: int,
        offset: int,
    ) -> tuple[list[ExposureRecord], int]:
        """Exposures, newest first, and how many match."""
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
        count = (
            select(func.count())
            .select_from(SqlProcessing)
            .where(SqlProcessing.exposure_id == SqlExposure.id)
            .scalar_subquery()
        )
        stmt = (
            select(SqlExposure, count)
            .where(and_(True, *conditions))
            .order_by(SqlExposure.id.desc())
            .limit(limit)
            .offset(offset)
        )
        total = self._session.scalar(
            select(func.count()).select_from(SqlExposure).where(and_(True, *conditions))
        )
        items = [_exposure(row, n or 0) for row, n in self._session.execute(stmt)]
        return items, total or 0

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
