"""Authentication (token → user) and the administration of users and tokens."""

from __future__ import annotations

import hmac
import re
from datetime import UTC, datetime, timedelta

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ..domain import NewToken, Token, TokenKey, User, parse_decimal
from ..exceptions import (
    AuthenticationError,
    InvalidRequestError,
    TokenNotFoundError,
    UserExistsError,
    UserNotFoundError,
)
from ..storage.users import TokenStore, UserStore

__all__ = ["AuthService", "UserService"]

# Recording every use would turn each read into a write; once a minute is enough.
_TOUCH_INTERVAL = timedelta(minutes=1)
_USER_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")


class AuthService:
    """Turns the text of an API token into the user it belongs to."""

    def __init__(self, session: Session) -> None:
        self._session = session
        self._tokens = TokenStore(session)

    def authenticate(self, token: str) -> User:
        """The user owning *token*.

        Raises
        ------
        AuthenticationError
            The token is malformed, unknown or revoked.
        """
        key = TokenKey.parse(token)
        if key is None:
            raise AuthenticationError(
                "The token is not a Vigil token (vgl_<id>_<secret>); create one with"
                " `vigil token create NAME`."
            )
        found = self._tokens.get_with_user(key.id)
        if found is None:
            self._session.rollback()
            raise AuthenticationError("The token is not valid.")
        key_hash, revoked_at, last_used_at, user = found
        if not hmac.compare_digest(key_hash, TokenKey.hash_secret(key.secret)):
            self._session.rollback()
            raise AuthenticationError("The token is not valid.")
        if revoked_at is not None:
            self._session.rollback()
            raise AuthenticationError("The token was revoked; create a new one.")
        now = datetime.now(UTC)
        if last_used_at is None or now - last_used_at > _TOUCH_INTERVAL:
            self._tokens.touch(key.id, now)
            self._session.commit()
        else:
            self._session.rollback()
        return user


class UserService:
    """Create users and tokens, list and revoke tokens (the CLI's administration)."""

    def __init__(self, session: Session) -> None:
        self._session = session
        self._users = UserStore(session)
        self._tokens = TokenStore(session)

    def create_user(self, name: str, email: str | None = None, *, is_admin: bool = False) -> User:
        """Create a user.

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
        try:
            user = self._users.add(name, email, is_admin=is_admin, now=datetime.now(UTC))
            self._session.commit()
        except IntegrityError:
            self._session.rollback()
            raise UserExistsError(f"A user called {name!r} exists already.") from None
        return user

    def list_users(self) -> list[User]:
        """Every user."""
        users = self._users.list()
        self._session.rollback()
        return users

    def create_token(self, user_name: str, token_name: str = "default") -> NewToken:  # noqa: S107
        """Create a token for *user_name*; the returned text is the only copy.

        Raises
        ------
        UserNotFoundError
            No such user.
        """
        user = self._users.get_by_name(user_name)
        if user is None:
            self._session.rollback()
            raise UserNotFoundError(
                f"No user is called {user_name!r}; create it with `vigil user create {user_name}`."
            )
        secret = TokenKey.new_secret()
        now = datetime.now(UTC)
        token_id = self._tokens.add(user.id, token_name, TokenKey.hash_secret(secret), now)
        self._session.commit()
        token = Token(
            id=token_id,
            user_name=user.name,
            name=token_name,
            created_at=now,
            last_used_at=None,
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

    def revoke_token(self, token: str | int) -> None:
        """Revoke a token given by id or by its full text.

        Raises
        ------
        TokenNotFoundError
            No such active token.
        """
        if isinstance(token, int):
            token_id = token
        else:
            key = TokenKey.parse(token)
            if key is not None:
                token_id = key.id
            elif (number := parse_decimal(token)) is not None:
                token_id = number
            else:
                raise TokenNotFoundError(f"{token!r} is neither a token id nor a Vigil token.")
        if not self._tokens.revoke(token_id, datetime.now(UTC)):
            self._session.rollback()
            raise TokenNotFoundError(f"No active token has the id {token_id}.")
        self._session.commit()
