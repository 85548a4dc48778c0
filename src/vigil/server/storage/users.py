"""Users, tokens and web sessions in the database."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, delete, select, update
from sqlalchemy.orm import Session

from ..dbschema import SqlSession, SqlToken, SqlUser
from ..domain import Role, Token, User, WebSession
from ..domain.users import parse_roles, roles_text

__all__ = ["Credential", "SessionStore", "TokenStore", "UserStore"]


def _roles(text: str | None) -> frozenset[Role]:
    return parse_roles([text or ""])


def _user(row: SqlUser) -> User:
    return User(
        id=row.id,
        name=row.name,
        email=row.email,
        roles=_roles(row.roles),
        created_at=row.created_at,
    )


def _token(row: Any, user_name: str) -> Token:
    """A token of a `SqlToken`, or of a result row with its column names."""
    return Token(
        id=row.id,
        user_name=user_name,
        name=row.name,
        roles=_roles(row.roles),
        created_at=row.created_at,
        last_used_at=row.last_used_at,
        expires_at=row.expires_at,
        revoked_at=row.revoked_at,
    )


_TOKENS, _USERS = SqlToken.__table__.c, SqlUser.__table__.c
# One statement object, built once: executing the same object again skips compiling it
# and adapting its result columns (most of the cost of a lookup).
_CREDENTIAL = (
    select(
        _TOKENS.id,
        _TOKENS.name,
        _TOKENS.key_hash,
        _TOKENS.roles,
        _TOKENS.created_at,
        _TOKENS.last_used_at,
        _TOKENS.expires_at,
        _TOKENS.revoked_at,
        _USERS.id.label("user_id"),
        _USERS.name.label("user_name"),
        _USERS.email.label("user_email"),
        _USERS.roles.label("user_roles"),
        _USERS.created_at.label("user_created_at"),
    )
    .join_from(SqlToken.__table__, SqlUser.__table__, _USERS.id == _TOKENS.user_id)
    .where(_TOKENS.id == bindparam("token_id"))
)


@dataclass(slots=True)
class Credential:
    """A stored token with what authentication checks: its hash, its token and its user."""

    key_hash: str
    token: Token
    user: User


class UserStore:
    """Queries on ``users``."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def add(self, name: str, email: str | None, *, roles: frozenset[Role], now: datetime) -> User:
        """Insert a user (flushes; the caller commits)."""
        row = SqlUser(
            name=name,
            email=email,
            is_admin=Role.ADMIN in roles,
            roles=roles_text(roles),
            created_at=now,
        )
        self._session.add(row)
        self._session.flush()
        return _user(row)

    def set_roles(self, user_id: int, roles: frozenset[Role]) -> None:
        """Replace a user's roles (and keep ``is_admin`` in step)."""
        self._session.execute(
            update(SqlUser)
            .where(SqlUser.id == user_id)
            .values(roles=roles_text(roles), is_admin=Role.ADMIN in roles)
        )

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

    def add(
        self,
        user_id: int,
        name: str,
        key_hash: str,
        now: datetime,
        *,
        roles: frozenset[Role],
        expires_at: datetime | None,
    ) -> int:
        """Insert a token and return its id."""
        row = SqlToken(
            user_id=user_id,
            name=name,
            key_hash=key_hash,
            created_at=now,
            roles=roles_text(roles),
            expires_at=expires_at,
        )
        self._session.add(row)
        self._session.flush()
        return row.id

    def get_credential(self, token_id: int) -> Credential | None:
        """A token with its hash and its user, or None."""
        # Every request with a token asks this: columns on the session's connection, no
        # ORM objects to build and track.
        row = self._session.connection().execute(_CREDENTIAL, {"token_id": token_id}).first()
        if row is None:
            return None
        token = _token(row, row.user_name)
        user = User(
            id=row.user_id,
            name=row.user_name,
            email=row.user_email,
            roles=_roles(row.user_roles),
            created_at=row.user_created_at,
        )
        return Credential(row.key_hash, token, user)

    def get(self, token_id: int) -> tuple[Token, int] | None:
        """A token and the id of its user, or None."""
        row = self._session.execute(
            select(SqlToken, SqlUser.name)
            .join(SqlUser, SqlUser.id == SqlToken.user_id)
            .where(SqlToken.id == token_id)
        ).first()
        if row is None:
            return None
        token, user_name = row
        return _token(token, user_name), token.user_id

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

    def list(
        self,
        user_name: str | None = None,
        *,
        include_revoked: bool = False,
        include_expired: bool = True,
        now: datetime | None = None,
    ) -> list[Token]:
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
        if not include_expired and now is not None:
            stmt = stmt.where((SqlToken.expires_at.is_(None)) | (SqlToken.expires_at > now))
        return [_token(t, uname) for t, uname in self._session.execute(stmt)]


class SessionStore:
    """Queries on ``web_sessions``."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def add(
        self,
        key_hash: str,
        user_id: int,
        token_id: int,
        roles: frozenset[Role],
        now: datetime,
        expires_at: datetime,
    ) -> WebSession:
        """Insert a session (flushes)."""
        row = SqlSession(
            key_hash=key_hash,
            user_id=user_id,
            token_id=token_id,
            roles=roles_text(roles),
            created_at=now,
            expires_at=expires_at,
        )
        self._session.add(row)
        self._session.flush()
        return _web_session(row)

    def get_with_credential(self, key_hash: str) -> tuple[WebSession, Credential] | None:
        """The session of a key's hash with its token and user, or None."""
        row = self._session.execute(
            select(SqlSession, SqlToken, SqlUser)
            .join(SqlToken, SqlToken.id == SqlSession.token_id)
            .join(SqlUser, SqlUser.id == SqlSession.user_id)
            .where(SqlSession.key_hash == key_hash)
        ).first()
        if row is None:
            return None
        session, token, user = row
        credential = Credential(token.key_hash, _token(token, user.name), _user(user))
        return _web_session(session), credential

    def revoke(self, key_hash: str, now: datetime) -> bool:
        """End a session; False when there is no such open session."""
        result = self._session.execute(
            update(SqlSession)
            .where(SqlSession.key_hash == key_hash, SqlSession.revoked_at.is_(None))
            .values(revoked_at=now)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    def delete_expired(self, now: datetime) -> int:
        """Forget sessions past their expiry; how many."""
        result = self._session.execute(delete(SqlSession).where(SqlSession.expires_at <= now))
        return int(result.rowcount)  # type: ignore[attr-defined]


def _web_session(row: SqlSession) -> WebSession:
    return WebSession(
        id=row.id,
        user_id=row.user_id,
        token_id=row.token_id,
        roles=_roles(row.roles),
        created_at=row.created_at,
        expires_at=row.expires_at,
        revoked_at=row.revoked_at,
    )
