"""Who is calling: API tokens in ``Authorization: Bearer`` (or ``JWT``, for SQuaSH clients)."""

from __future__ import annotations

from fastapi import Depends, Request

from ..domain import User
from ..exceptions import AuthenticationError
from ..factory import Factory
from .context import factory_dependency, process_context

__all__ = ["optional_user", "read_access", "require_user", "token_from_header"]

_SCHEMES = ("bearer", "jwt")


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
    """The authenticated user, or None when the request carries no token."""
    cached = getattr(request.state, "user", None)
    if cached is not None:
        return cached
    token = token_from_header(request.headers.get("authorization"))
    if token is None:
        return None
    user = factory.create_auth_service().authenticate(token)
    request.state.user = user
    return user


def require_user(user: User | None = Depends(optional_user)) -> User:
    """The authenticated user; every write needs one."""
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
