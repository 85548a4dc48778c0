"""Parameters that the API, the SQuaSH surface and the pages read and refuse the same way."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi.exceptions import RequestValidationError

from ..exceptions import InvalidRequestError

__all__ = ["parse_data_id", "validation_error"]

_WHERE = {"query": "Query parameter", "path": "Path parameter", "body": "Field", "header": "Header"}


def validation_error(exc: RequestValidationError) -> InvalidRequestError:
    """FastAPI's first complaint about a request, as an error naming where the value
    was (``Path parameter `job_id` is invalid: ...``)."""
    error = exc.errors()[0] if exc.errors() else {}
    loc = [str(part) for part in error.get("loc", ())]
    where = _WHERE.get(loc[0], "Parameter") if loc else "Parameter"
    name = ".".join(loc[1:]) or "body"
    if error.get("type") == "missing":
        message = f"{where} `{name}` is required."
    else:
        message = f"{where} `{name}` is invalid: {error.get('msg', 'bad value')}."
    return InvalidRequestError(message, field=name)


def parse_data_id(text: str | None) -> dict[str, Any] | None:
    """The dataId of a ``data_id`` parameter (a JSON object); None when not given.

    Raises
    ------
    InvalidRequestError
        The text is not a JSON object (``field`` is ``data_id``).
    """
    if text is None or text == "":
        return None
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        value = None
    if not isinstance(value, dict):
        raise InvalidRequestError(
            f'data_id must be a JSON object such as {{"band": "i"}}, not {text!r}.',
            field="data_id",
        )
    return value
