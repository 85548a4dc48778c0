"""The audit log of administrative actions (deletions, users, tokens)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, JsonType, UtcDateTime

__all__ = ["SqlAuditEntry"]


class SqlAuditEntry(Base):
    """One administrative action: who, when, what, to what, and a summary of its effect.

    ``actor`` is the user's name (kept when the user is gone) or ``cli:<login>`` for the
    commands that work on the database directly.
    """

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    actor: Mapped[str] = mapped_column(String(256))
    actor_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    action: Mapped[str] = mapped_column(String(32))
    target: Mapped[str] = mapped_column(String(1024))
    summary: Mapped[dict[str, Any]] = mapped_column(JsonType)

    # The newest data-removing entry is read by every ingest and cached page: an index
    # answers it from its last key.
    __table_args__ = (Index(None, "action", "id"),)
