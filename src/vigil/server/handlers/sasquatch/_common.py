"""Plumbing of the Sasquatch handlers: error rendering, credentials, the service."""

from __future__ import annotations

import base64
import binascii
from typing import Any

from fastapi import Depends, Request
from fastapi.responses import JSONResponse

from ...dependencies import factory_dependency
from ...exceptions import AuthenticationError, VigilError
from ...factory import Factory
from ...services.sasquatch import SasquatchService
from .._routes import error_shaped_route
from .models import ErrorResponse

__all__ = ["ERRORS", "SasquatchRoute", "basic_credentials", "sasquatch_service"]

ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorResponse, "description": "Missing or invalid credentials"},
    403: {"model": ErrorResponse, "description": "The token lacks the submitter role"},
    404: {"model": ErrorResponse, "description": "Unknown cluster id"},
}


def _error_response(exc: VigilError) -> JSONResponse:
    body = ErrorResponse(
        error_code=exc.status_code, message=exc.message, code=exc.code, field=exc.field
    )
    headers = {"WWW-Authenticate": 'Basic realm="vigil"'} if exc.status_code == 401 else None
    return JSONResponse(body.model_dump(), status_code=exc.status_code, headers=headers)


SasquatchRoute = error_shaped_route(
    _error_response,
    "A route that renders errors as the Kafka REST proxy does (``error_code``, ``message``).",
)


def sasquatch_service(factory: Factory = Depends(factory_dependency)) -> SasquatchService:
    """The Sasquatch service on the request's session."""
    return factory.create_sasquatch_service()


def basic_credentials(
    request: Request, service: SasquatchService = Depends(sasquatch_service)
) -> None:
    """Authenticate ``Authorization: Basic`` (user name, API token), as the dispatcher
    sends the credentials of its proxy URL; the role checks that follow see the user.

    Other schemes (``Bearer``) are left to the usual token check.
    """
    header = request.headers.get("authorization", "")
    scheme, _, encoded = header.strip().partition(" ")
    if scheme.lower() != "basic":
        return
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise AuthenticationError(
            "The Basic credentials are not base64 of 'user:token'.", field="authorization"
        ) from None
    username, colon, token = decoded.partition(":")
    if not colon or not token:
        raise AuthenticationError(
            "The Basic credentials have no password: put a Vigil API token there"
            " (http://USER:TOKEN@host/sasquatch).",
            field="password",
        )
    request.state.user = service.authenticate(username, token)
