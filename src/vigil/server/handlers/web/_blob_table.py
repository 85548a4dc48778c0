"""The job page's table of blob datums that no plot shows: scalars, strings, odd arrays.

Each row says what the datum holds in a few words: a scalar's value, a short array's
values, or why an array is not drawn (ragged, text, no finite value, two values).
Texts are cut to `MAX_TEXT` characters; the whole blob stays at
``/api/jobs/{id}/blobs/{identifier}``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from vigil.plots.blob import BlobArray, blob_arrays, why_not_drawn

__all__ = ["MAX_INLINE_VALUES", "MAX_TEXT", "DatumRow", "datum_rows"]

MAX_TEXT = 120
"""The most characters of a datum's text shown in the table."""

MAX_INLINE_VALUES = 6
"""Arrays this short are written out in the table."""


@dataclass(frozen=True, slots=True)
class DatumRow:
    """One datum of a blob, described for the table."""

    blob: str
    name: str
    value: str
    unit: str
    label: str
    note: str = ""


def _cut(text: str) -> str:
    return text if len(text) <= MAX_TEXT else text[: MAX_TEXT - 1] + "…"


def _number(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "NaN"  # lsst.verify writes NaN as null
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def _scalar(value: Any) -> str:
    if isinstance(value, bool | int | float) or value is None:
        return _number(value)
    return _cut(str(value))


def _array_note(value: list[Any] | tuple[Any, ...], drawn: BlobArray | None) -> str:
    if drawn is not None:
        reason = why_not_drawn(drawn)
        return f"not drawn by default: {reason}" if reason else ""
    if any(isinstance(v, str | bytes) for v in value[:1000]):
        return "text, not drawn"
    if any(isinstance(v, list | tuple | Mapping) for v in value[:1000]):
        return "nested arrays of different lengths, not drawn"
    return "not numbers, not drawn"


def datum_rows(
    blob_name: str, data: Mapping[str, Any], arrays: Mapping[str, BlobArray] | None = None
) -> list[DatumRow]:
    """The rows of *data*'s datums that the blob's plot does not show in full.

    Numeric arrays longer than `MAX_INLINE_VALUES` that are worth a plot are left to the
    plot (and to its axis choice); everything else gets a row. *arrays* is
    ``blob_arrays(data)`` when the caller has it already.
    """
    if arrays is None:
        arrays = blob_arrays(data)
    rows = []
    for name, datum in data.items():
        if isinstance(datum, Mapping):
            value = datum.get("value")
            unit, label = str(datum.get("unit") or ""), str(datum.get("label") or "")
        else:
            value, unit, label = datum, "", ""
        drawn = arrays.get(name)
        if not isinstance(value, list | tuple):
            rows.append(DatumRow(blob_name, name, _scalar(value), unit, _cut(label)))
            continue
        note = _array_note(value, drawn)
        if drawn is not None and not note and len(value) > MAX_INLINE_VALUES:
            continue
        if len(value) <= MAX_INLINE_VALUES and all(
            isinstance(v, bool | int | float) or v is None for v in value
        ):
            text = "[" + ", ".join(_number(v) for v in value) + "]"
        else:
            text = f"{len(value):,} values"
        rows.append(DatumRow(blob_name, name, _cut(text), unit, _cut(label), note))
    return rows
