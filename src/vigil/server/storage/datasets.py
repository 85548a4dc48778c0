"""Datasets: a summary over the ``jobs`` table."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..dbschema import SqlJob
from ..domain import DatasetInfo

__all__ = ["DatasetStore"]


class DatasetStore:
    """Queries that summarise jobs by dataset."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def list(self) -> list[DatasetInfo]:
        """Every dataset with its job count, instruments and latest job."""
        rows = self._session.execute(
            select(SqlJob.dataset, func.count(), func.max(SqlJob.id))
            .where(SqlJob.dataset.is_not(None))
            .group_by(SqlJob.dataset)
            .order_by(SqlJob.dataset)
        ).all()
        instruments: dict[str, set[str]] = {}
        for dataset, instrument in self._session.execute(
            select(SqlJob.dataset, SqlJob.instrument)
            .where(SqlJob.dataset.is_not(None), SqlJob.instrument.is_not(None))
            .distinct()
        ):
            instruments.setdefault(str(dataset), set()).add(str(instrument))
        last_ids = [int(r[2]) for r in rows]
        created = {
            job_id: created_at
            for job_id, created_at in self._session.execute(
                select(SqlJob.id, SqlJob.created_at).where(SqlJob.id.in_(last_ids))
            )
        }
        return [
            DatasetInfo(
                name=str(name),
                job_count=int(count),
                instruments=sorted(instruments.get(str(name), set())),
                last_job_id=int(last_id),
                last_job_at=created[int(last_id)],
            )
            for name, count, last_id in rows
        ]
