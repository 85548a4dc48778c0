"""JSON reading and writing with lsst.verify's conventions for non-finite numbers.

Jobs written before 2021 contain bare ``NaN`` tokens (Python's ``json`` wrote them); later
ones write ``null``. Both are read as NaN. Vigil always writes ``null`` so that any JSON
parser can read its files.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from vigil.verify.errors import DocumentError

__all__ = ["dumps", "loads", "plain", "read_json"]


def loads(text: str | bytes, source: str = "<request>") -> Any:
    """Parse JSON text that may contain bare ``NaN``/``Infinity`` tokens.

    Raises
    ------
    DocumentError
        The text is not JSON; the message gives the line and column.
    """
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        pass  # orjson rejects bare NaN tokens: fall back to the standard parser
    try:
        if isinstance(text, bytes):
            text = text.decode("utf-8")
        return json.loads(text)
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
