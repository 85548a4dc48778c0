"""Reading JSON request bodies the way lsst.verify writes them (bare NaN included)."""

from __future__ import annotations

import json
from typing import Any

from fastapi import Depends, Request

from vigil.verify import loads_exact

from ..domain import User
from ..exceptions import InvalidJsonError, PayloadTooLargeError
from .auth import optional_user
from .context import process_context

__all__ = ["gate_body", "json_body", "parse_json", "read_bounded"]


def parse_json(body: bytes) -> Any:
    """Parse a JSON document that may contain bare ``NaN``/``Infinity`` tokens.

    Raises
    ------
    InvalidJsonError
        The body is not JSON; the message gives the line and column.
    """
    if not body.strip():
        raise InvalidJsonError("The request body is empty; send a JSON document.", field="body")
    try:
        # Bare NaN (pre-2021 lsst.verify jobs) allowed; integers never read as floats.
        return loads_exact(body)
    except UnicodeDecodeError:
        raise InvalidJsonError("The request body is not UTF-8 text.", field="body") from None
    except RecursionError:
        raise InvalidJsonError(
            "The request body is nested too deeply to be a job; flatten it.", field="body"
        ) from None
    except json.JSONDecodeError as exc:
        raise InvalidJsonError(
            f"The request body is not valid JSON: {exc.msg} at line {exc.lineno},"
            f" column {exc.colno}.",
            field="body",
        ) from None


async def json_body(request: Request) -> Any:
    """The parsed JSON body of the request."""
    return parse_json(await request.body())


async def read_bounded(request: Request, limit: int, setting: str) -> bytes:
    """The request body, refused as soon as it is known to be over *limit* bytes.

    A declared ``Content-Length`` over the limit is refused before anything is read;
    otherwise the body is counted as it arrives.

    Raises
    ------
    PayloadTooLargeError
        Naming the ``body`` and the setting (*setting*) that bounds it.
    """

    def too_large() -> PayloadTooLargeError:
        return PayloadTooLargeError(
            f"The request body is larger than the limit of {limit} bytes ({setting}).",
            field="body",
        )

    declared = request.headers.get("content-length", "")
    if declared.isascii() and declared.isdigit() and int(declared) > limit:
        raise too_large()
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large()
        chunks.append(chunk)
    return b"".join(chunks)


async def gate_body(request: Request, user: User | None = Depends(optional_user)) -> Any:
    """The parsed body of ``POST /api/gate``, bounded by ``gate_max_bytes`` (anonymous
    callers) or ``gate_max_bytes_authenticated``; the gate answers anyone."""
    settings = process_context(request).settings
    if user is None:
        limit, setting = settings.gate_max_bytes, "VIGIL_GATE_MAX_BYTES"
    else:
        limit, setting = settings.gate_max_bytes_authenticated, "VIGIL_GATE_MAX_BYTES_AUTHENTICATED"
    return parse_json(await read_bounded(request, limit, setting))
