"""Metric and specification definitions in the database."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..dbschema import SqlMetric, SqlSpecification
from ..domain import MetricInfo, SpecificationInfo
from ._sql import chunks, insert_ignore, upsert

__all__ = ["MetricStore", "SpecificationStore", "spec_info"]


def _metric(row: SqlMetric) -> MetricInfo:
    return MetricInfo(
        name=row.name,
        package=row.package,
        description=row.description,
        unit=row.unit,
        tags=list(row.tags or []),
        reference=dict(row.reference or {}),
        direction=row.direction,
        updated_at=row.updated_at,
    )


def spec_info(row: SqlSpecification) -> SpecificationInfo:
    """The domain view of a ``specifications`` row."""
    return SpecificationInfo(
        name=row.name,
        metric_name=row.metric_name,
        type=row.type,
        threshold_value=row.threshold_value,
        threshold_unit=row.threshold_unit,
        threshold_operator=row.threshold_operator,
        metadata_query=dict(row.metadata_query or {}),
        tags=list(row.tags or []),
        updated_at=row.updated_at,
    )


class MetricStore:
    """Queries on ``metrics``."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def get_many(self, names: Iterable[str]) -> dict[str, MetricInfo]:
        """The stored definitions of *names* that exist (without ``updated_at``)."""
        m = SqlMetric
        columns = (m.name, m.package, m.description, m.unit, m.tags, m.reference, m.direction)
        result: dict[str, MetricInfo] = {}
        for part in chunks(sorted(set(names))):
            for row in self._session.execute(select(*columns).where(m.name.in_(part))):
                result[row.name] = MetricInfo(
                    name=row.name,
                    package=row.package,
                    description=row.description,
                    unit=row.unit,
                    tags=list(row.tags or []),
                    reference=dict(row.reference or {}),
                    direction=row.direction,
                )
        return result

    def upsert(self, rows: list[dict[str, Any]]) -> None:
        """Insert or replace definitions (dicts of ``metrics`` columns)."""
        upsert(self._session, SqlMetric.__table__, rows, ["name"])  # type: ignore[arg-type]

    def insert_missing(self, rows: list[dict[str, Any]]) -> None:
        """Insert definitions whose name is not stored yet; leave the others alone."""
        insert_ignore(self._session, SqlMetric.__table__, rows, ["name"])  # type: ignore[arg-type]

    def get(self, name: str) -> MetricInfo | None:
        """One metric."""
        row = self._session.scalars(select(SqlMetric).where(SqlMetric.name == name)).first()
        return _metric(row) if row else None

    def list(
        self, *, package: str | None = None, after: str | None = None, limit: int | None = None
    ) -> list[MetricInfo]:
        """Metrics by name."""
        stmt = select(SqlMetric).order_by(SqlMetric.name)
        if package is not None:
            stmt = stmt.where(SqlMetric.package == package)
        if after is not None:
            stmt = stmt.where(SqlMetric.name > after)
        if limit is not None:
            stmt = stmt.limit(limit)
        return [_metric(r) for r in self._session.scalars(stmt)]


class SpecificationStore:
    """Queries on ``specifications``."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def get_many(self, names: Iterable[str]) -> dict[str, SpecificationInfo]:
        """The stored specifications of *names* that exist (without ``updated_at``)."""
        s = SqlSpecification
        columns = (
            s.name,
            s.metric_name,
            s.type,
            s.threshold_value,
            s.threshold_unit,
            s.threshold_operator,
            s.metadata_query,
            s.tags,
        )
        result: dict[str, SpecificationInfo] = {}
        for part in chunks(sorted(set(names))):
            for row in self._session.execute(select(*columns).where(s.name.in_(part))):
                result[row.name] = SpecificationInfo(
                    name=row.name,
                    metric_name=row.metric_name,
                    type=row.type,
                    threshold_value=row.threshold_value,
                    threshold_unit=row.threshold_unit,
                    threshold_operator=row.threshold_operator,
                    metadata_query=dict(row.metadata_query or {}),
                    tags=list(row.tags or []),
                )
        return result

    def upsert(self, rows: list[dict[str, Any]]) -> None:
        """Insert or replace specifications (dicts of ``specifications`` columns)."""
        upsert(self._session, SqlSpecification.__table__, rows, ["name"])  # type: ignore[arg-type]

    def get(self, name: str) -> SpecificationInfo | None:
        """One specification."""
        row = self._session.scalars(
            select(SqlSpecification).where(SqlSpecification.name == name)
        ).first()
        return spec_info(row) if row else None

    def list(
        self,
        *,
        metric: str | None = None,
        after: str | None = None,
        limit: int | None = None,
    ) -> list[SpecificationInfo]:
        """Specifications by name."""
        stmt = select(SqlSpecification).order_by(SqlSpecification.name)
        if metric is not None:
            stmt = stmt.where(SqlSpecification.metric_name == metric)
        if after is not None:
            stmt = stmt.where(SqlSpecification.name > after)
        if limit is not None:
            stmt = stmt.limit(limit)
        return [spec_info(r) for r in self._session.scalars(stmt)]
