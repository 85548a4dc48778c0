"""The job page's JSON twin sends each distinct blob array once.

validate_drp writes the same arrays into many blobs (the ``rmsDistMas`` of ``AM1`` again
in ``AD1_design``, ``AF1_design``...): in the twin, the value of every array datum is a
reference ``{"array": key}`` into one table of arrays, keyed by a hash of the values.
Arrays longer than `MAX_TWIN_VALUES` are cut (named in the twin's ``truncated_arrays``);
``/api/jobs/{id}/blobs`` keeps every blob whole.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from ...domain import Blob

__all__ = ["MAX_TWIN_VALUES", "SharedArrays", "shared_arrays"]

MAX_TWIN_VALUES = 100_000
"""The most items of one array the JSON twin sends."""


@dataclass(slots=True)
class SharedArrays:
    """Blobs whose arrays are references into one table."""

    blobs: list[tuple[str, str | None, dict[str, Any]]]
    """(identifier, name, data) of each blob, arrays replaced by ``{"array": key}``."""
    arrays: dict[str, list[Any]]
    truncated: list[str]


class _Table:
    def __init__(self) -> None:
        self.arrays: dict[str, list[Any]] = {}
        self.truncated: list[str] = []

    def ref(self, values: list[Any] | tuple[Any, ...]) -> dict[str, str]:
        try:
            encoded = orjson.dumps(values, option=orjson.OPT_SERIALIZE_NUMPY)
        except TypeError:  # integers beyond 64 bits
            encoded = repr(values).encode()
        key = hashlib.blake2b(encoded, digest_size=8).hexdigest()
        if key not in self.arrays:
            self.arrays[key] = list(values[:MAX_TWIN_VALUES])
            if len(values) > MAX_TWIN_VALUES:
                self.truncated.append(key)
        return {"array": key}


def _datum(table: _Table, datum: Any) -> Any:
    if isinstance(datum, list | tuple):
        return table.ref(datum)
    if isinstance(datum, Mapping) and isinstance(datum.get("value"), list | tuple):
        return {**datum, "value": table.ref(datum["value"])}
    return datum


def shared_arrays(blobs: Sequence[Blob]) -> SharedArrays:
    """*blobs* with every array datum (an lsst.verify datum's ``value``, or a bare array)
    replaced by a reference into a table where identical arrays appear once."""
    table = _Table()
    out = [
        (b.identifier, b.name, {name: _datum(table, d) for name, d in b.data.items()})
        for b in blobs
    ]
    return SharedArrays(out, table.arrays, table.truncated)
