"""The highest batch applied per event source: event ingest (a monitor runner's, a log
handler's) applies each batch once. Stores never commit."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from ..dbschema import SqlEventSource

__all__ = ["EventSourceStore"]


class EventSourceStore:
    """The highest batch applied per event source (the idempotency of event ingest)."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def last_sequence(self, source: str) -> int | None:
        """The last batch applied from *source* (locked until the transaction ends)."""
        stmt = select(SqlEventSource.last_sequence).where(SqlEventSource.name == source)
        if self._session.get_bind().dialect.name == "postgresql":
            stmt = stmt.with_for_update()
        return self._session.scalar(stmt)

    def set_last_sequence(self, source: str, sequence: int, now: datetime) -> None:
        """Record that batch *sequence* of *source* was applied."""
        updated = self._session.execute(
            update(SqlEventSource)
            .where(SqlEventSource.name == source)
            .values(last_sequence=sequence, updated_at=now)
        )
        if not updated.rowcount:  # type: ignore[attr-defined]
            self._session.add(SqlEventSource(name=source, last_sequence=sequence, updated_at=now))
            self._session.flush()
