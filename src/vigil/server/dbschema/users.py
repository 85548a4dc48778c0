"""Users, their API tokens and their web sessions."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, UtcDateTime

__all__ = ["SqlSession", "SqlToken", "SqlUser"]


class SqlUser(Base):
    """A person or robot that may write to the server.

    ``roles`` are role names separated by spaces (`vigil.server.domain.users.Role`);
    ``is_admin`` is kept in step with the ``admin`` role for readers of the first schema.
    """

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    email: Mapped[str | None] = mapped_column(String(256))
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    roles: Mapped[str] = mapped_column(String(128), server_default="")


class SqlToken(Base):
    """An API token; only the SHA-256 of its secret is stored.

    ``roles`` are the roles it is scoped to (it acts with those its user still has);
    ``expires_at`` None marks a token made before tokens expired: it never does.
    """

    __tablename__ = "tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(256))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    roles: Mapped[str] = mapped_column(String(128), server_default="")
    expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class SqlSession(Base):
    """A web log-in made from an API token; the cookie holds a key whose SHA-256 is here."""

    __tablename__ = "web_sessions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_id: Mapped[int] = mapped_column(ForeignKey("tokens.id", ondelete="CASCADE"), index=True)
    roles: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
