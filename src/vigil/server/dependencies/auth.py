"""Who is calling, and whether they may: API tokens in ``Authorization: Bearer`` (or
``JWT``, for SQuaSH clients), web sessions in the ``vigil_session`` cookie, and the one
role check every write route declares (`require_role`)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import Depends, Request

from ..domain import Role, User
from ..domain.users import ROLE_GRANTS, roles_text
from ..exceptions import AuthenticationError, PermissionDeniedError
from ..factory import Factory
from .context import factory_dependency, process_context

__all__ = [
    "SESSION_COOKIE",
    "check_role",
    "optional_user",
    "read_access",
    "require_role",
    "require_user",
    "session_user",
    "token_from_header",
]

_SCHEMES = ("bearer", "jwt")
_UNSET = object()

SESSION_COOKIE = "vigil_session"
"""Holds the key of the web session (never an API token; HttpOnly: scripts cannot read it)."""


def token_from_header(value: str | None) -> str | None:
    """The token of an ``Authorization`` header, or None if there is none.

    Raises
    ------
    AuthenticationError
        The header uses another scheme or has no token.
    """
    if not value:
        return None
    scheme, _, token = value.strip().partition(" ")
    if scheme.lower() not in _SCHEMES or not token.strip():
        raise AuthenticationError(
            "The Authorization header must be 'Bearer <token>' (or 'JWT <token>')."
        )
    return token.strip()


def optional_user(request: Request, factory: Factory = Depends(factory_dependency)) -> User | None:
    """The user of the request's API token, or None when it carries no token."""
    cached: User | None = getattr(request.state, "user", None)
    if cached is not None:
        return cached
    token = token_from_header(request.headers.get("authorization"))
    if token is None:
        return None
    user = factory.create_auth_service().authenticate(token)
    request.state.user = user
    return user


def session_user(request: Request, factory: Factory = Depends(factory_dependency)) -> User | None:
    """The user of the web session cookie, or None (no cookie, or a session that ended,
    expired, or whose token was revoked or expired)."""
    key = request.cookies.get(SESSION_COOKIE)
    if not key:
        return None
    found = getattr(request.state, "session_user", _UNSET)
    if found is _UNSET:
        found = factory.create_auth_service().session_user(key)
        request.state.session_user = found
    return found if isinstance(found, User) else None


def require_user(user: User | None = Depends(optional_user)) -> User:
    """The authenticated user (reads of one's own things; writes use `require_role`)."""
    if user is None:
        raise AuthenticationError(
            "This needs an API token: send 'Authorization: Bearer <token>'; an"
            " administrator creates one with `vigil token create NAME`."
        )
    return user


def read_access(request: Request, user: User | None = Depends(optional_user)) -> User | None:
    """Allow a read: anyone when ``public_read`` is on, else only authenticated users."""
    if user is None and not process_context(request).settings.public_read:
        raise AuthenticationError(
            "Reading this server needs an API token (VIGIL_PUBLIC_READ is off): send"
            " 'Authorization: Bearer <token>'."
        )
    return user


def check_role(user: User, role: Role, *, session: bool = False) -> User:
    """*user*, if its credential may do what needs *role*.

    Raises
    ------
    PermissionDeniedError
        It may not: the message names the role, what it allows, and how to get it.
    """
    if user.has_role(role):
        return user
    held = roles_text(user.roles) or "no role"
    held_by = "log-in" if session else "token"
    again = (
        "then log in again with a token that carries it"
        if session
        else "a token carries it when created with"
        f" `vigil token create {user.name} --role {role.value}`"
    )
    raise PermissionDeniedError(
        f"This needs the {role.value} role ({ROLE_GRANTS[role]}); your {held_by} has"
        f" {held}. An administrator grants it with `vigil user roles {user.name} --add"
        f" {role.value}`; {again}."
    )


def require_role(role: Role, *, session: bool = False) -> Callable[..., Awaitable[User]]:
    """The dependency of a write route: the caller's user, if it may do what needs *role*.

    With *session*, the caller is the web session's (the HTML forms); otherwise the API
    token's. No credential, or an invalid one, is 401; a valid one without the role, 403.
    """
    # The check itself does no I/O: as a coroutine it runs on the event loop, saving the
    # request a hop to a worker thread and back.
    if session:

        async def dependency(user: User | None = Depends(session_user)) -> User:
            if user is None:
                raise AuthenticationError(
                    "Log in (at /login, with an API token) first: this form changes data."
                )
            return check_role(user, role, session=True)

    else:

        async def dependency(user: User | None = Depends(optional_user)) -> User:
            return check_role(require_user(user), role)

    dependency.required_role = role  # type: ignore[attr-defined]
    dependency.uses_session = session  # type: ignore[attr-defined]
    dependency.__name__ = f"require_{role.value}{'_session' if session else ''}"
    return dependency
