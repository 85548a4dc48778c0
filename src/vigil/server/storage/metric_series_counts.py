"""How many points each series of a metric page has, on the main line and in all."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from ..dbschema import SqlJob, SqlMeasurement
from ._sql import chunks

__all__ = ["series_point_counts"]


def series_point_counts(
    session: Session, series_ids: Iterable[int], main_branch: str
) -> dict[int, tuple[int, int]]:
    """``series id → (points on main_branch, all points)`` of *series_ids*; a series
    without points is left out."""
    m, j = SqlMeasurement, SqlJob
    on_main = func.sum(case((j.branch == main_branch, 1), else_=0))
    found: dict[int, tuple[int, int]] = {}
    for part in chunks(sorted(set(series_ids))):
        rows = session.execute(
            select(m.series_id, on_main, func.count())
            .join(j, j.id == m.job_id)
            .where(m.series_id.in_(part))
            .group_by(m.series_id)
        )
        found.update({int(s): (int(main or 0), int(n)) for s, main, n in rows})
    return found
