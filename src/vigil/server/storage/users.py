"""Users and tokens in the database."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from ..dbschema import SqlToken, SqlUser
from ..domain import Token, User

__all__ = ["TokenStore", "UserStore"]


def _user(row: SqlUser) -> User:
    return User(
        id=row.id,
        name=row.name,
        email=row.email,
        is_admin=row.is_admin,
        created_at=row.created_at,
    )


class UserStore:
    """Queries on ``users``."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def add(self, name: str, email: str | None, *, is_admin: bool, now: datetime) -> User:
        """Insert a user (flushes; the caller commits)."""
        row = SqlUser(name=name, email=email, is_admin=is_admin, created_at=now)
        self._session.add(row)
        self._session.flush()
        return _user(row)

    def get_by_name(self, name: str) -> User | None:
        """The user called *name*."""
        row = self._session.scalars(select(SqlUser).where(SqlUser.name == name)).first()
        return _user(row) if row else None

    def get(self, user_id: int) -> User | None:
        """The user with this id."""
        row = self._session.get(SqlUser, user_id)
        return _user(row) if row else None

    def list(self) -> list[User]:
        """Every user, by name."""
        return [_user(r) for r in self._session.scalars(select(SqlUser).order_by(SqlUser.name))]


class TokenStore:
    """Queries on ``tokens``."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def add(self, user_id: int, name: str, key_hash: str, now: datetime) -> int:
        """Insert a token and return its id."""
        row = SqlToken(user_id=user_id, name=name, key_hash=key_hash, created_at=now)
        self._session.add(row)
        self._session.flush()
        return row.id

    def get_with_user(
        self, token_id: int
    ) -> tuple[str, datetime | None, datetime | None, User] | None:
        """``(key_hash, revoked_at, last_used_at, user)`` of a token, or None."""
        row = self._session.execute(
            select(SqlToken, SqlUser)
            .join(SqlUser, SqlUser.id == SqlToken.user_id)
            .where(SqlToken.id == token_id)
        ).first()
        if row is None:
            return None
        token, user = row
        return token.key_hash, token.revoked_at, token.last_used_at, _user(user)

    def touch(self, token_id: int, now: datetime) -> None:
        """Record that a token was used."""
        self._session.execute(
            update(SqlToken).where(SqlToken.id == token_id).values(last_used_at=now)
        )

    def revoke(self, token_id: int, now: datetime) -> bool:
        """Revoke a token; False if there is no such unrevoked token."""
        result = self._session.execute(
            update(SqlToken)
            .where(SqlToken.id == token_id, SqlToken.revoked_at.is_(None))
            .values(revoked_at=now)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    def list(self, user_name: str | None = None, *, include_revoked: bool = False) -> list[Token]:
        """Tokens, optionally of one user, oldest first."""
        stmt = (
            select(SqlToken, SqlUser.name)
            .join(SqlUser, SqlUser.id == SqlToken.user_id)
            .order_by(SqlToken.id)
        )
        if user_name is not None:
            stmt = stmt.where(SqlUser.name == user_name)
        if not include_revoked:
            stmt = stmt.where(SqlToken.revoked_at.is_(None))
        return [
            Token(
                id=t.id,
                user_name=uname,
                name=t.name,
                created_at=t.created_at,
                last_used_at=t.last_used_at,
                revoked_at=t.revoked_at,
            )
            for t, uname in self._session.execute(stmt)
        ]
