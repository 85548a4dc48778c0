"""The audit log in the database."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..dbschema import SqlAuditEntry
from ..domain.audit import DATA_REMOVING_ACTIONS, Actor, AuditEntry

__all__ = ["AuditStore"]


def _entry(row: SqlAuditEntry) -> AuditEntry:
    return AuditEntry(
        id=row.id,
        created_at=row.created_at,
        actor=row.actor,
        actor_user_id=row.actor_user_id,
        action=row.action,
        target=row.target,
        summary=dict(row.summary or {}),
    )


_DATA_GENERATION = select(func.max(SqlAuditEntry.id)).where(
    SqlAuditEntry.action.in_(DATA_REMOVING_ACTIONS)
)


class AuditStore:
    """Queries on ``audit_log``."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def add(
        self, actor: Actor, action: str, target: str, summary: dict[str, Any], now: datetime
    ) -> AuditEntry:
        """Record an action (flushes; the caller's transaction commits it with the action)."""
        row = SqlAuditEntry(
            created_at=now,
            actor=actor.name[:256],
            actor_user_id=actor.user_id,
            action=action,
            target=target[:1024],
            summary=summary,
        )
        self._session.add(row)
        self._session.flush()
        return _entry(row)

    def list(
        self, *, limit: int, before: int | None = None, action: str | None = None
    ) -> list[AuditEntry]:
        """Entries newest first, those with an id below *before*."""
        stmt = select(SqlAuditEntry).order_by(SqlAuditEntry.id.desc()).limit(limit)
        if before is not None:
            stmt = stmt.where(SqlAuditEntry.id < before)
        if action is not None:
            stmt = stmt.where(SqlAuditEntry.action == action)
        return [_entry(row) for row in self._session.scalars(stmt)]

    def data_generation(self) -> int:
        """What changes whenever stored data are removed: the newest removal's id (0: none).

        Row ids of SQLite may be reused once the newest row is deleted, and a removal in
        the middle of a series need not change its newest id: caches keyed on data
        versions include this number.
        """
        # Read before every ingest: a Core statement built once, on the connection.
        return int(self._session.connection().execute(_DATA_GENERATION).scalar() or 0)
