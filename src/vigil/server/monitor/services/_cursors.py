"""The cursors of the monitor's listings: opaque text that holds where the next page
starts.

A cursor is URL-safe base64 (no padding) of a JSON object: the listing, its sort column
and order, and the `Keyset` of the previous page's last row (its sort value, a time in
ISO 8601, and its id). A cursor is only good for the listing, sort and order it was made
for.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from datetime import UTC, datetime
from typing import Any

from ...exceptions import InvalidRequestError
from ..domain import Keyset

__all__ = ["decode_cursor", "encode_cursor"]

_KEYS = {"list", "sort", "order", "value", "id"}
_INT_LIMIT = 2**63  # what a database integer holds
_MAX_LENGTH = 2_000  # far above what a sort value of the history takes


def _order(descending: bool) -> str:
    return "desc" if descending else "asc"


def encode_cursor(listing: str, sort: str, descending: bool, key: Keyset) -> str:
    """The cursor of the page after *key* in *listing* sorted by *sort*."""
    value = key.value.isoformat() if isinstance(key.value, datetime) else key.value
    document = {
        "list": listing,
        "sort": sort,
        "order": _order(descending),
        "value": value,
        "id": key.id,
    }
    text = json.dumps(document, separators=(",", ":"), allow_nan=False)
    return base64.urlsafe_b64encode(text.encode()).rstrip(b"=").decode("ascii")


def _refuse(cursor: str, why: str = "") -> InvalidRequestError:
    return InvalidRequestError(
        f"The cursor {cursor[:80]!r} is not one this server gave out{why}; start again"
        " without a cursor and follow each page's next_url.",
        field="cursor",
    )


def _refuse_constant(name: str) -> Any:
    raise ValueError(name)


def _value(raw: Any, kind: type) -> Any:
    """*raw* as a value of the sort column; ValueError or OverflowError if it cannot be
    one."""
    if raw is None:
        return None
    if isinstance(raw, bool):
        raise ValueError(raw)
    if kind is datetime and isinstance(raw, str):
        value = datetime.fromisoformat(raw)
        if value.tzinfo is None:
            raise ValueError(raw)
        return value.astimezone(UTC)
    if kind is float and isinstance(raw, int | float) and math.isfinite(float(raw)):
        return float(raw)
    if kind is int and isinstance(raw, int) and abs(raw) < _INT_LIMIT:
        return raw
    if kind is str and isinstance(raw, str) and "\x00" not in raw:
        return raw
    raise ValueError(raw)


def decode_cursor(
    cursor: str | None, listing: str, sort: str, descending: bool, kind: type
) -> Keyset | None:
    """The `Keyset` a cursor holds; None for no cursor (the first page).

    Parameters
    ----------
    cursor
        The previous page's ``next_cursor``.
    listing, sort, descending
        What the request lists and how it sorts; the cursor must have been made for them.
    kind
        The type of the sort column's values (``int``, ``float``, ``str``, ``datetime``).

    Raises
    ------
    InvalidRequestError
        The cursor is not one this server could have given out, or was made for another
        listing, sort or order (``field`` is ``cursor``).
    """
    if cursor is None or cursor == "":
        return None
    if len(cursor) > _MAX_LENGTH:
        raise _refuse(cursor)
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        document = json.loads(text, parse_constant=_refuse_constant)
    except (binascii.Error, ValueError, RecursionError) as error:
        raise _refuse(cursor) from error
    if not isinstance(document, dict) or set(document) != _KEYS:
        raise _refuse(cursor)
    if (document["list"], document["sort"], document["order"]) != (
        listing,
        sort,
        _order(descending),
    ):
        raise _refuse(
            cursor,
            f" for this listing (it was made for sort={document['sort']!r}"
            f" order={document['order']!r})",
        )
    try:
        identifier = _value(document["id"], int)
        value = _value(document["value"], kind)
    except (ValueError, OverflowError) as error:
        raise _refuse(cursor) from error
    if identifier is None:
        raise _refuse(cursor)
    return Keyset(value=value, id=identifier)
