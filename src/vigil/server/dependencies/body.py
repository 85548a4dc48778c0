"""Reading JSON request bodies the way lsst.verify writes them (bare NaN included)."""

from __future__ import annotations

import json
from typing import Any

import orjson
from fastapi import Request

from ..exceptions import InvalidJsonError

__all__ = ["json_body", "parse_json"]


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
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        pass  # orjson rejects bare NaN, which pre-2021 lsst.verify jobs contain
    try:
        return json.loads(body.decode("utf-8"))
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
