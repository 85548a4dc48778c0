"""Cursors of keyset pagination, as the services read them back from a request."""

from __future__ import annotations

from ..domain.numbers import parse_decimal
from ..exceptions import InvalidRequestError

__all__ = ["int_cursor"]


def int_cursor(cursor: str | None) -> int | None:
    """The id a ``next_cursor`` holds; None for no cursor (the first page).

    Raises
    ------
    InvalidRequestError
        For text that is not an id this server could have given out (``field`` is
        ``cursor``).
    """
    if cursor is None or cursor == "":
        return None
    value = parse_decimal(cursor)
    if value is None:
        raise InvalidRequestError(
            f"The cursor {cursor!r} is not one this server gave out.", field="cursor"
        )
    return value
