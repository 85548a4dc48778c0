"""Live events in the database, for the streaming clients of every server process.

Stores never commit.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, delete, func, insert, select, text
from sqlalchemy.orm import Session

from ..dbschema import SqlLiveEvent
from ..domain.live import LiveEvent, LiveItem

__all__ = ["LiveEventStore"]

_EVENTS = cast(Table, SqlLiveEvent.__table__)

# Any constant of our own: the lock that makes event ids follow the commit order.
_ORDER_LOCK = 0x7669_6769


class LiveEventStore:
    """Queries on ``live_events``."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def append(self, items: Sequence[LiveItem], now: datetime) -> None:
        """Add events, numbered after every event already committed.

        Readers take the events after the last id they read, so an id must never become
        visible after a larger one. SQLite has one writer at a time; on PostgreSQL a lock
        held until the commit does the same. Call it last in the transaction: the lock
        then serialises only the end of concurrent writes.
        """
        if not items:
            return
        if self._session.get_bind().dialect.name == "postgresql":
            self._session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _ORDER_LOCK})
        self._session.execute(
            insert(_EVENTS),
            [
                {"kind": kind, "topics": list(topics), "data": data, "created_at": now}
                for kind, topics, data in items
            ],
        )

    def after(self, last_id: int, *, until: int | None = None, limit: int) -> list[LiveEvent]:
        """Up to *limit* events after *last_id* (and up to *until*), in order."""
        stmt = select(_EVENTS).where(_EVENTS.c.id > last_id).order_by(_EVENTS.c.id).limit(limit)
        if until is not None:
            stmt = stmt.where(_EVENTS.c.id <= until)
        return [_event(row) for row in self._session.execute(stmt).mappings()]

    def last_id(self) -> int:
        """The id of the newest event (0 when there is none)."""
        return int(self._session.scalar(select(func.max(_EVENTS.c.id))) or 0)

    def first_id(self) -> int | None:
        """The id of the oldest event kept."""
        return cast("int | None", self._session.scalar(select(func.min(_EVENTS.c.id))))

    def prune(self, keep: int) -> int:
        """Delete all but the newest *keep* events (at least one is kept); how many."""
        newest = self.last_id()
        cutoff = newest - max(keep, 1)
        if cutoff <= 0:
            return 0
        result = self._session.execute(delete(SqlLiveEvent).where(SqlLiveEvent.id <= cutoff))
        return int(result.rowcount or 0)  # type: ignore[attr-defined]


def _event(row: Any) -> LiveEvent:
    return LiveEvent(row["id"], row["kind"], tuple(row["topics"]), row["data"])
