"""Turn the server's error answers into one line a user can act on."""

from __future__ import annotations

from typing import Any

import httpx

from vigil.client.errors import AuthenticationError, RejectedJobError

HOW_TO_AUTHENTICATE = (
    "ask a Vigil administrator for one (`vigil token create NAME` on the server) "
    "and pass it with --token or VIGIL_TOKEN"
)


def _body(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _field_from_loc(loc: object) -> str | None:
    if not isinstance(loc, list | tuple):
        return None
    # FastAPI prefixes the location with where the value came from ("body", "query").
    parts = [str(part) for part in loc]
    if parts and parts[0] in ("body", "query", "path", "header"):
        parts = parts[1:]
    return ".".join(parts) or None


def rejection(response: httpx.Response) -> RejectedJobError:
    """Build the error for a 4xx answer that is the job's fault.

    Understands Vigil's ``{"detail": {"code", "message", "field"}}``, FastAPI's
    validation list ``{"detail": [{"loc", "msg", "type"}, ...]}`` and a plain
    ``{"detail": "..."}``.

    Parameters
    ----------
    response
        The server's answer.

    Returns
    -------
    RejectedJobError
        The error, its message naming the field when the server named one.
    """
    status = response.status_code
    detail = (_body(response) or {}).get("detail") if isinstance(_body(response), dict) else None
    code: str | None = None
    field: str | None = None
    message: str
    if isinstance(detail, dict):
        code = detail.get("code")
        field = detail.get("field")
        message = str(detail.get("message") or code or response.reason_phrase)
    elif isinstance(detail, list) and detail:
        first = detail[0] if isinstance(detail[0], dict) else {}
        code = first.get("type")
        field = _field_from_loc(first.get("loc"))
        message = str(first.get("msg") or response.reason_phrase)
        if len(detail) > 1:
            message += f" (and {len(detail) - 1} more problem{'s' if len(detail) > 2 else ''})"
    elif isinstance(detail, str) and detail:
        message = detail
    else:
        text = response.text.strip().splitlines()
        message = text[0][:200] if text else response.reason_phrase
    return rejected(status, code, field, message)


def rejected(status: int, code: str | None, field: str | None, message: str) -> RejectedJobError:
    """The error for a job the server refused with *status*, *code* and *message*."""
    where = f" in field '{field}'" if field else ""
    label = f"{status} {code}" if code else str(status)
    return RejectedJobError(
        f"The server rejected the job ({label}){where}: {message}. "
        "Fix the job and dispatch it again.",
        status=status,
        code=code,
        field=field,
    )


def authentication_failure(response: httpx.Response, *, token_given: bool) -> AuthenticationError:
    """Build the error for a 401 or 403 answer.

    Parameters
    ----------
    response
        The server's answer.
    token_given
        Whether a token was sent.

    Returns
    -------
    AuthenticationError
        The error, saying how to get a valid token.
    """
    status = response.status_code
    if not token_given:
        problem = "no token was given"
    elif status == 403:
        problem = "the token is not allowed to submit jobs"
    else:
        problem = "the token is invalid or expired"
    return AuthenticationError(
        f"The server refused the request ({status}): {problem}; {HOW_TO_AUTHENTICATE}.",
        status=status,
    )
