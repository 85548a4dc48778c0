"""SQL helpers shared by the stores: dialect-aware upserts and chunked IN lists."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

__all__ = ["aware_utc", "chunks", "dialect_insert", "insert_ignore", "sqlite_time", "upsert"]

T = TypeVar("T")

# Under both SQLite's (32,766) and PostgreSQL's (65,535) bound-parameter limits.
_CHUNK = 500


def chunks(items: Sequence[T], size: int = _CHUNK) -> Iterator[Sequence[T]]:
    """Consecutive slices of at most *size* items."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


def dialect_insert(session: Session, table: Table) -> Any:
    """An INSERT of the session's dialect: one that takes ``on_conflict_do_*``."""
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


def insert_ignore(
    session: Session, table: Table, rows: list[dict[str, Any]], index_elements: list[str]
) -> None:
    """Insert *rows*, skipping those that conflict on *index_elements*."""
    if not rows:
        return
    stmt = dialect_insert(session, table).on_conflict_do_nothing(index_elements=index_elements)
    session.execute(stmt, rows)


def upsert(
    session: Session,
    table: Table,
    rows: list[dict[str, Any]],
    index_elements: list[str],
) -> None:
    """Insert *rows*, replacing the other columns of those that already exist."""
    if not rows:
        return
    stmt = dialect_insert(session, table)
    columns = [c for c in rows[0] if c not in index_elements]
    stmt = stmt.on_conflict_do_update(
        index_elements=index_elements,
        set_={c: stmt.excluded[c] for c in columns},
    )
    session.execute(stmt, rows)


def aware_utc(value: datetime) -> datetime:
    """*value* in UTC with its time zone; a naive value is taken as UTC."""
    return value.astimezone(UTC) if value.tzinfo is not None else value.replace(tzinfo=UTC)


def sqlite_time(value: datetime) -> str:
    """The text SQLite stores for *value*: what `UtcDateTime` and SQLAlchemy's SQLite
    DATETIME write (naive UTC, always six digits of microseconds, compared as text), at a
    third of their cost."""
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value.isoformat(" ", "microseconds")
