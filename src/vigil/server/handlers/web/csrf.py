"""Protection of the HTML forms against cross-site request forgery (double submit).

A page with a form puts `csrf_token` in the form and sends it back in the ``vigil_csrf``
cookie (HttpOnly, SameSite=Strict) with `with_csrf_cookie`; the handler of the form
calls `check_csrf` first, which refuses the post unless the form's value equals the
cookie's. A page of another site can make a browser post a form here, but it can
neither read nor set this server's cookie, so it cannot send the matching value.
"""

from __future__ import annotations

import hmac
import secrets

from fastapi import Request
from fastapi.responses import Response

from ...dependencies import base_url
from ...exceptions import PermissionDeniedError

__all__ = ["CSRF_COOKIE", "check_csrf", "csrf_token", "secure_cookies", "with_csrf_cookie"]

CSRF_COOKIE = "vigil_csrf"
"""The double-submit CSRF token; every form sends the same value as ``csrf_token``."""

# Shorter cookie values are not ones this server set (32 random bytes, base64): replaced.
_MIN_LENGTH = 32


def csrf_token(request: Request) -> str:
    """The token the forms of this response carry: the cookie's, else a new one.

    A new token is kept on ``request.state`` so that every form of one page and the
    cookie set by `with_csrf_cookie` hold the same value.
    """
    token = request.cookies.get(CSRF_COOKIE)
    if not token or len(token) < _MIN_LENGTH:
        token = getattr(request.state, "csrf_token", None) or secrets.token_urlsafe(32)
        request.state.csrf_token = token
    return token


def secure_cookies(request: Request) -> bool:
    """Whether the cookies of the pages must be ``Secure``: the site is served over HTTPS.

    Behind a proxy that ends TLS the request itself is plain HTTP, so the configured
    base URL counts too.
    """
    return request.url.scheme == "https" or base_url(request).startswith("https:")


def with_csrf_cookie(request: Request, response: Response) -> Response:
    """*response*, setting the CSRF cookie when the request did not carry its value."""
    token = csrf_token(request)
    if request.cookies.get(CSRF_COOKIE) != token:
        response.set_cookie(
            CSRF_COOKIE,
            token,
            httponly=True,
            samesite="strict",
            secure=secure_cookies(request),
            path="/",
        )
    return response


def check_csrf(request: Request, sent: str | None) -> None:
    """Refuse a form whose ``csrf_token`` (*sent*) is not the value of the CSRF cookie.

    Raises
    ------
    PermissionDeniedError
        No token sent, no cookie, or different values (403).
    """
    expected = request.cookies.get(CSRF_COOKIE)
    if not sent or not expected or not hmac.compare_digest(sent, expected):
        raise PermissionDeniedError(
            "This form was not sent from a page of this server (missing or stale CSRF"
            " token): reload the page and submit it again."
        )
