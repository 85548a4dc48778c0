"""Query parameters that the API and the pages read the same way."""

from __future__ import annotations

from typing import Any

import orjson

from ..exceptions import InvalidRequestError

__all__ = ["parse_data_id"]


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
