"""JSON reading and writing with lsst.verify's conventions for non-finite numbers.

Jobs written before 2021 contain bare ``NaN`` tokens (Python's ``json`` wrote them); later
ones write ``null``. Both are read as NaN. Vigil always writes ``null`` so that any JSON
parser can read its files.

An integer literal too long for 64 bits is never read as a float (orjson would turn
``10**30`` into ``1e+30``): it is read as `BEYOND_64_BITS` (negated if negative), which
every check of a 64-bit range refuses, whatever its digits (Python's ``int()`` gives up
beyond 4,300 of them).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from vigil.verify.errors import DocumentError

__all__ = [
    "BEYOND_64_BITS",
    "dumps",
    "fits_64_bits",
    "loads",
    "loads_exact",
    "plain",
    "read_json",
]

BEYOND_64_BITS = 2**64
"""What an integer literal of more than 20 digits is read as (its sign kept)."""

# Digits become "0", the characters a JSON number may follow become "D", the rest "x";
# whitespace and minus signs are deleted. "D" and 19 zeros then marks a number of 19 or
# more digits, the shortest orjson may read as a float (-2**63 - 1); a string such as
# "a,1234567890123456789" matches too, and costs only the slower exact parse. One pass
# in C, about 1 GB/s.
_SCAN = bytes(0x30 if 0x30 <= i <= 0x39 else 0x44 if i in b":[," else 0x78 for i in range(256))
_LONG_NUMBER = b"D" + b"0" * 19


def fits_64_bits(value: int) -> bool:
    """Whether *value* is a signed or unsigned 64-bit integer (-2**63 to 2**64 - 1)."""
    return -(2**63) <= value < 2**64


def _exact_int(text: str) -> int:
    digits = len(text) - text.startswith("-")
    if digits <= 20:
        return int(text)
    return -BEYOND_64_BITS if text.startswith("-") else BEYOND_64_BITS


def loads_exact(data: bytes) -> Any:
    """Parse JSON bytes that may hold bare ``NaN`` tokens, integers read exactly.

    The fast parser (orjson) unless the text has a number of 19 digits or more, or a
    bare ``NaN`` or ``Infinity``; then Python's ``json``, with integers of more than 20
    digits read as `BEYOND_64_BITS`.

    Raises
    ------
    UnicodeDecodeError, json.JSONDecodeError, RecursionError
        As Python's ``json`` does; the callers say where.
    """
    if data.translate(_SCAN, b" \t\r\n-").find(_LONG_NUMBER) == -1:
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError:
            pass  # orjson rejects bare NaN tokens: fall back to the standard parser
        return json.loads(data.decode("utf-8"))
    return json.loads(data.decode("utf-8"), parse_int=_exact_int)


def loads(text: str | bytes, source: str = "<request>") -> Any:
    """Parse JSON text that may contain bare ``NaN``/``Infinity`` tokens.

    Raises
    ------
    DocumentError
        The text is not JSON; the message gives the line and column.
    """
    try:
        data = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text
        return loads_exact(data)
    except UnicodeDecodeError:
        raise DocumentError("is not UTF-8 text, so not JSON", source=source) from None
    except json.JSONDecodeError as exc:
        raise DocumentError(
            f"is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}",
            source=source,
        ) from None


def read_json(path: str | Path) -> Any:
    """Read a JSON file (see `loads`)."""
    return loads(Path(path).read_bytes(), source=str(path))


def dumps(data: Any, *, indent: bool = False) -> bytes:
    """Serialise *data* as UTF-8 JSON; NaN and infinities become ``null``, numpy is welcome."""
    option = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS
    if indent:
        option |= orjson.OPT_INDENT_2
    return orjson.dumps(data, option=option)


def plain(value: Any) -> Any:
    """Turn numpy scalars and arrays into JSON-ready Python values (NaN kept as float nan)."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value
