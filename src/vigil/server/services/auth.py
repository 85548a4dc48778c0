"""Authentication (token or session → user with roles) and the administration of users
and tokens."""

from __future__ import annotations

import hmac
import re
import secrets
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ..config import Settings
from ..database import read_transaction
from ..domain import NewSession, NewToken, Role, Token, TokenKey, User, parse_decimal
from ..domain.audit import Actor
from ..domain.users import hash_session_key, roles_text
from ..exceptions import (
    AuthenticationError,
    InvalidRequestError,
    PermissionDeniedError,
    TokenNotFoundError,
    UserExistsError,
    UserNotFoundError,
)
from ..storage.audit import AuditStore
from ..storage.users import Credential, SessionStore, TokenStore, UserStore

__all__ = ["DEFAULT_ROLES", "AuthService", "UserService", "cli_actor"]

# Recording every use would turn each read into a write; once a minute is enough.
_TOUCH_INTERVAL = timedelta(minutes=1)
_USER_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")

DEFAULT_ROLES = frozenset({Role.SUBMITTER})
"""The roles of a user created without any named: a CI robot's."""


def _day(moment: datetime) -> str:
    return f"{moment.astimezone(UTC):%Y-%m-%d %H:%M} UTC"


def _check_credential(credential: Credential, now: datetime) -> User:
    """The user acting with a stored token, its roles narrowed to the token's scope.

    Raises
    ------
    AuthenticationError
        The token is revoked or expired.
    """
    token = credential.token
    if token.revoked_at is not None:
        raise AuthenticationError(
            f"The token was revoked on {_day(token.revoked_at)}; ask an administrator for a"
            f" new one (`vigil token create {token.user_name}`)."
        )
    if token.expired(now):
        assert token.expires_at is not None
        raise AuthenticationError(
            f"The token expired on {_day(token.expires_at)}; ask an administrator for a"
            f" new one (`vigil token create {token.user_name}`)."
        )
    user = credential.user
    user.roles = user.roles & token.roles
    return user


class AuthService:
    """Turns an API token, or a web session's key, into the user acting with it.

    The user's ``roles`` are those of the credential: the token's scope, narrowed to
    the roles its user still has (and, for a session, to those it was opened with).
    """

    def __init__(
        self,
        session: Session,
        settings: Settings | None = None,
        *,
        tokens: TokenStore,
        sessions: SessionStore,
    ) -> None:
        self._session = session
        self._settings = settings or Settings()
        self._tokens = tokens
        self._sessions = sessions

    def authenticate(self, token: str) -> User:
        """The user acting with *token*.

        Raises
        ------
        AuthenticationError
            The token is malformed, unknown, revoked or expired.
        """
        user, _ = self._authenticate(token)
        return user

    def _authenticate(self, token: str) -> tuple[User, Token]:
        key = TokenKey.parse(token)
        if key is None:
            raise AuthenticationError(
                "The token is not a Vigil token (vgl_<id>_<secret>); create one with"
                " `vigil token create NAME`."
            )
        found = self._tokens.get_credential(key.id)
        if found is None or not hmac.compare_digest(
            found.key_hash, TokenKey.hash_secret(key.secret)
        ):
            self._session.rollback()
            raise AuthenticationError("The token is not valid.")
        now = datetime.now(UTC)
        try:
            user = _check_credential(found, now)
        except AuthenticationError:
            self._session.rollback()
            raise
        last_used = found.token.last_used_at
        if last_used is None or now - last_used > _TOUCH_INTERVAL:
            self._tokens.touch(key.id, now)
            self._session.commit()
        else:
            self._session.rollback()
        return user, found.token

    # Web sessions ---------------------------------------------------------------------

    def open_session(self, token: str) -> tuple[NewSession, User]:
        """Log in with an API token: a new session of its user and roles.

        The session lasts ``session_hours``, never past the token's own expiry.

        Raises
        ------
        AuthenticationError
            The token is not valid (as `authenticate`).
        """
        user, stored = self._authenticate(token)
        now = datetime.now(UTC)
        expires = now + timedelta(hours=self._settings.session_hours)
        if stored.expires_at is not None:
            expires = min(expires, stored.expires_at)
        key = secrets.token_urlsafe(32)
        try:
            self._sessions.delete_expired(now)
            created = self._sessions.add(
                hash_session_key(key), user.id, stored.id, user.roles, now, expires
            )
            self._session.commit()
        except BaseException:
            self._session.rollback()
            raise
        return NewSession(session=created, key=key), user

    def session_user(self, key: str) -> User | None:
        """The user of a session's key, or None: unknown, ended, expired, or its token
        revoked or expired."""
        with read_transaction(self._session):
            found = self._sessions.get_with_credential(hash_session_key(key))
        if found is None:
            return None
        web_session, credential = found
        now = datetime.now(UTC)
        if web_session.revoked_at is not None or now >= web_session.expires_at:
            return None
        try:
            user = _check_credential(credential, now)
        except AuthenticationError:
            return None
        user.roles = user.roles & web_session.roles
        return user

    def close_session(self, key: str) -> bool:
        """Log out: end the session of *key* on the server; False if it was not open."""
        try:
            closed = self._sessions.revoke(hash_session_key(key), datetime.now(UTC))
            self._session.commit()
        except BaseException:
            self._session.rollback()
            raise
        return closed


class UserService:
    """Users, their roles and their tokens (the CLI's administration, and the API's).

    Every change is recorded in the audit log, in the same transaction.
    """

    def __init__(
        self,
        session: Session,
        settings: Settings | None = None,
        *,
        users: UserStore,
        tokens: TokenStore,
        audit: AuditStore,
    ) -> None:
        self._session = session
        self._settings = settings or Settings()
        self._users = users
        self._tokens = tokens
        self._audit = audit

    def create_user(
        self,
        name: str,
        email: str | None = None,
        *,
        roles: Iterable[Role] | None = None,
        is_admin: bool = False,
        actor: Actor | None = None,
    ) -> User:
        """Create a user with *roles* (default `DEFAULT_ROLES`; *is_admin* adds ``admin``).

        Raises
        ------
        UserExistsError
            A user of that name exists.
        InvalidRequestError
            The name is not 1-64 letters, digits, ``.``, ``_``, ``@`` or ``-``.
        """
        if not _USER_NAME_RE.match(name):
            raise InvalidRequestError(
                f"The user name {name!r} is not valid: use 1 to 64 letters, digits, '.',"
                " '_', '@' or '-', starting with a letter or digit.",
                field="name",
            )
        chosen = frozenset(roles) if roles is not None else frozenset()
        if is_admin:
            chosen |= {Role.ADMIN}
        if not chosen:
            chosen = DEFAULT_ROLES
        now = datetime.now(UTC)
        try:
            user = self._users.add(name, email, roles=chosen, now=now)
            self._audit.add(
                actor or cli_actor(), "user.create", name, {"roles": roles_text(chosen)}, now
            )
            self._session.commit()
        except IntegrityError:
            self._session.rollback()
            raise UserExistsError(f"A user called {name!r} exists already.") from None
        return user

    def set_roles(
        self,
        user_name: str,
        *,
        roles: Iterable[Role] | None = None,
        add: Iterable[Role] = (),
        remove: Iterable[Role] = (),
        actor: Actor | None = None,
    ) -> User:
        """Set, add or remove roles of a user.

        A token keeps its scope: it acts with the roles of its scope its user still has,
        so a role removed from the user is removed from its tokens and sessions at once;
        a role added reaches only the tokens created afterwards.

        Raises
        ------
        UserNotFoundError
            No such user.
        InvalidRequestError
            The user would be left with no role.
        """
        user = self._user(user_name)
        before = user.roles
        after = frozenset(roles) if roles is not None else before
        after = (after | frozenset(add)) - frozenset(remove)
        if not after:
            self._session.rollback()
            raise InvalidRequestError(
                f"{user_name} would be left without a role; give at least one (viewer is the"
                " least).",
                field="roles",
            )
        now = datetime.now(UTC)
        self._users.set_roles(user.id, after)
        self._audit.add(
            actor or cli_actor(),
            "user.roles",
            user_name,
            {"before": roles_text(before), "after": roles_text(after)},
            now,
        )
        self._session.commit()
        user.roles = after
        return user

    def list_users(self) -> list[User]:
        """Every user."""
        users = self._users.list()
        self._session.rollback()
        return users

    def create_token(
        self,
        user_name: str,
        token_name: str = "default",  # noqa: S107 (a label, not a secret)
        *,
        roles: Iterable[Role] | None = None,
        expires_in: timedelta | None = None,
        now: datetime | None = None,
        actor: Actor | None = None,
    ) -> NewToken:
        """Create a token for *user_name*; the returned text is the only copy.

        *roles* scope it (default: every role of the user); it expires *expires_in*
        after *now* (default ``token_default_days``, at most ``token_max_days``).

        Raises
        ------
        UserNotFoundError
            No such user.
        InvalidRequestError
            A role the user does not have, or a lifetime beyond the maximum.
        """
        user = self._user(user_name)
        scope = frozenset(roles) if roles is not None else user.roles
        missing = scope - user.roles
        if missing or not scope:
            self._session.rollback()
            if not scope:
                raise InvalidRequestError("A token needs at least one role.", field="roles")
            raise InvalidRequestError(
                f"{user_name} has no role {roles_text(missing)} (only"
                f" {roles_text(user.roles)}), so no token of theirs can: an administrator"
                f" grants it with `vigil user roles {user_name} --add"
                f" {sorted(r.value for r in missing)[0]}`.",
                field="roles",
            )
        default_days = min(self._settings.token_default_days, self._settings.token_max_days)
        lifetime = expires_in or timedelta(days=default_days)
        longest = timedelta(days=self._settings.token_max_days)
        if lifetime <= timedelta(0) or lifetime > longest:
            self._session.rollback()
            raise InvalidRequestError(
                f"A token lives at most {self._settings.token_max_days} days"
                " (VIGIL_TOKEN_MAX_DAYS) and more than nothing; ask for less.",
                field="expires_in",
            )
        now = now or datetime.now(UTC)
        expires_at = now + lifetime
        secret = TokenKey.new_secret()
        token_id = self._tokens.add(
            user.id,
            token_name,
            TokenKey.hash_secret(secret),
            now,
            roles=scope,
            expires_at=expires_at,
        )
        self._audit.add(
            actor or cli_actor(),
            "token.create",
            f"token {token_id} of {user.name}",
            {"name": token_name, "roles": roles_text(scope), "expires_at": expires_at.isoformat()},
            now,
        )
        self._session.commit()
        token = Token(
            id=token_id,
            user_name=user.name,
            name=token_name,
            roles=scope,
            created_at=now,
            last_used_at=None,
            expires_at=expires_at,
            revoked_at=None,
        )
        return NewToken(token=token, text=str(TokenKey(token_id, secret)))

    def list_tokens(
        self, user_name: str | None = None, *, include_revoked: bool = False
    ) -> list[Token]:
        """Tokens (never their secrets), optionally of one user."""
        tokens = self._tokens.list(user_name, include_revoked=include_revoked)
        self._session.rollback()
        return tokens

    def revoke_token(
        self, token: str | int, *, by: User | None = None, actor: Actor | None = None
    ) -> Token:
        """Revoke a token given by id or by its full text; its web sessions end with it.

        *by*, when given, is the user asking (the API): an administrator may revoke any
        token, anyone else only their own.

        Raises
        ------
        TokenNotFoundError
            No such active token (or, for *by*, none of theirs).
        """
        token_id = _token_id(token)
        found = self._tokens.get(token_id)
        if found is None or (by is not None and found[1] != by.id and not by.is_admin):
            self._session.rollback()
            raise TokenNotFoundError(f"No active token of yours has the id {token_id}.")
        stored, _ = found
        now = datetime.now(UTC)
        if not self._tokens.revoke(token_id, now):
            self._session.rollback()
            raise TokenNotFoundError(f"No active token has the id {token_id}.")
        if actor is None and by is not None:
            actor = Actor(by.name, by.id)
        self._audit.add(
            actor or cli_actor(),
            "token.revoke",
            f"token {token_id} of {stored.user_name}",
            {"name": stored.name, "roles": roles_text(stored.roles)},
            now,
        )
        self._session.commit()
        stored.revoked_at = now
        return stored

    def tokens_of(self, user: User, *, everyone: bool = False) -> list[Token]:
        """The tokens *user* may see: their own, or everyone's for an administrator.

        Raises
        ------
        PermissionDeniedError
            *everyone* asked by someone who is not an administrator.
        """
        if everyone and not user.is_admin:
            raise PermissionDeniedError(
                "Only administrators list everyone's tokens (the admin role); leave out"
                " all=true to list yours."
            )
        return self.list_tokens(None if everyone else user.name, include_revoked=True)

    def _user(self, name: str) -> User:
        user = self._users.get_by_name(name)
        if user is None:
            self._session.rollback()
            raise UserNotFoundError(
                f"No user is called {name!r}; create it with `vigil user create {name}`."
            )
        return user


def _token_id(token: str | int) -> int:
    if isinstance(token, int):
        return token
    key = TokenKey.parse(token)
    if key is not None:
        return key.id
    if (number := parse_decimal(token)) is not None:
        return number
    raise TokenNotFoundError(f"{token!r} is neither a token id nor a Vigil token.")


def cli_actor() -> Actor:
    """The actor of a change made without a named one: the command line's login."""
    import getpass

    try:
        login = getpass.getuser()
    except Exception:  # no login name (a container without a passwd entry)
        login = "unknown"
    return Actor(f"cli:{login}")
