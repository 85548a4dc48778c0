"""Small readers that check one field of a document and say precisely what is wrong."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from vigil.verify.errors import DocumentError

__all__ = ["as_float", "as_mapping", "as_str", "as_tags", "optional_str"]


def as_mapping(value: Any, field: str) -> dict[str, Any]:
    """Return *value* as a dict, or raise naming *field*."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise DocumentError(f"must be a mapping, not {type(value).__name__}", field=field)
    return dict(value)


def as_str(value: Any, field: str) -> str:
    """Return *value* as a non-empty string, or raise naming *field*."""
    if not isinstance(value, str) or not value:
        shown = "missing" if value is None else f"{type(value).__name__} {value!r}"[:80]
        raise DocumentError(f"must be a non-empty string, got {shown}", field=field)
    return value


def optional_str(value: Any, field: str) -> str | None:
    """Return *value* as a string or None; numbers are accepted and written as text."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise DocumentError(f"must be a string, not {type(value).__name__}", field=field)
    return str(value)


def as_float(value: Any, field: str, *, numeric_strings: bool = False) -> float:
    """Return *value* as a float; ``None`` and ``"NaN"`` mean not-a-number, never 0.

    With *numeric_strings*, a string such as ``"1e-6"`` is read as its number: YAML 1.1
    reads exponent notation without a decimal point as a string.
    """
    if value is None:
        return math.nan
    if isinstance(value, bool):
        raise DocumentError("must be a number, not a boolean", field=field)
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str) and value.strip().lower() in ("nan", "+nan", "-nan"):
        return math.nan
    if numeric_strings and isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            pass
    if hasattr(value, "__float__") and not isinstance(value, (str, bytes)):
        try:
            return float(value)
        except (TypeError, ValueError):
            pass
    raise DocumentError(f"is not a number: {value!r}"[:200], field=field)


def as_tags(value: Any, field: str) -> frozenset[str]:
    """Tags are a set of strings; a single string is one tag."""
    if value is None:
        return frozenset()
    if isinstance(value, str):
        return frozenset([value])
    if isinstance(value, (list, tuple, set, frozenset)):
        tags = set()
        for i, tag in enumerate(value):
            if not isinstance(tag, str):
                raise DocumentError(f"tags must be strings, got {tag!r}", field=f"{field}[{i}]")
            tags.add(tag)
        return frozenset(tags)
    raise DocumentError(f"must be a list of strings, not {type(value).__name__}", field=field)
