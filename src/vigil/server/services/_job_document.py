"""Limits of a job document, checked before it is read: what the databases can store.

A job is free JSON in places (``meta``, ``notes``, blob data), and SQLite and
PostgreSQL do not refuse the same things: PostgreSQL rejects NUL characters and values
longer than their column, SQLite accepts both. These checks make both databases behave
the same, and turn what would fail deep inside an insert into a 422 naming the field.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Any, cast

import orjson

from vigil.verify import InvalidNameError, check_metric_name, fits_64_bits
from vigil.verify.units import convertible

from ..domain.jobs import pull_request_number
from ..exceptions import InvalidJobError

__all__ = ["MAX_DEPTH", "MAX_STRING", "check_job_document", "check_spec_units"]

MAX_DEPTH = 32
"""Deepest nesting of objects and arrays in a job (real jobs nest about 7 deep)."""

MAX_STRING = 65_536
"""Longest string, in characters, anywhere in a job; large text belongs in an artifact."""

# NUL (PostgreSQL cannot store it), other C0 controls except tab, newline and carriage
# return, DEL, and lone UTF-16 surrogates (not encodable as UTF-8).
_BAD_TEXT = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")
# Names (metrics, units, identifiers, dataId) take no control character at all.
_BAD_NAME = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
# In orjson's output, where every character `_BAD_TEXT` refuses shows: it writes C0
# controls as escapes (only tab, newline and carriage return among them are allowed),
# DEL as is, and refuses lone surrogates and integers beyond 64 bits outright. A literal
# backslash before "b", "f" or "u00" is written "\\" and matches too: a false alarm that
# only sends the document to the full walk.
_SUSPECT_JSON = re.compile(rb"\\u00|\\b|\\f|\x7f")

_LEAVES = frozenset({str, int, float, bool, type(None)})

_TOP_LEVEL = frozenset({"measurements", "blobs", "metrics", "specs", "meta", "identifier"})
_MEASUREMENT = frozenset(
    {"metric", "identifier", "value", "unit", "blob_refs", "data_id", "notes", "blobs"}
)
_BLOB = frozenset({"identifier", "name", "data"})

# Longest value of the fields stored in columns of a fixed size.
_NAME = 1024
_PACKAGE = 256
_UNIT = 64
_BLOB_ID = 64


def check_job_document(payload: Mapping[str, Any]) -> None:
    """Refuse a job document that no database could store as sent.

    Checked: nesting depth, string length, characters (NUL, control characters,
    lone surrogates), integers beyond 64 bits, unknown fields at the top level and in
    measurements and blobs, lengths of the names kept in columns, finite numbers
    where a number identifies something (dataId values) or decides something
    (specification thresholds), measured metrics named as metrics are
    (``package.metric``), measurement identifiers unique in the job, every blob a
    measurement refers to carried by the job, and pull request numbers that their
    column holds.

    Raises
    ------
    InvalidJobError
        The first problem found, naming its field (``measurements[3].data_id.band``).
    """
    if not _plainly_storable(payload):
        _walk(payload, [], 0)
    _check_structure(payload)


def _plainly_storable(payload: Mapping[str, Any]) -> bool:
    """Whether *payload* passes every check of `_walk`, found without walking its strings.

    orjson serialises the document in C; its output tells whether any string or key
    holds a character `_BAD_TEXT` refuses, and it fails on lone surrogates, integers
    beyond 64 bits and keys that are not strings. A document shorter than `MAX_STRING`
    bytes holds no longer string. Only the depth is left, checked on the containers.
    False means "not known": `_walk` then finds the problem and names its field.
    """
    try:
        text = orjson.dumps(payload)
    except TypeError:
        return False
    if len(text) > MAX_STRING or _SUSPECT_JSON.search(text) is not None:
        return False
    return isinstance(payload, dict) and type(payload) is dict and _shallow(payload, 0)


def _shallow(value: dict[str, Any] | list[Any], depth: int) -> bool:
    # The depth rule of `_walk` (a container at depth MAX_DEPTH or more fails), on
    # exact types: anything but JSON's own types is left to `_walk`.
    if depth >= MAX_DEPTH:
        return False
    for item in value.values() if type(value) is dict else value:
        kind = type(item)
        if kind is dict or kind is list:
            if not _shallow(cast(dict[str, Any] | list[Any], item), depth + 1):
                return False
        elif kind not in _LEAVES:
            return False
    return True


def _path(parts: list[str]) -> str:
    text = ""
    for part in parts:
        text += part if part.startswith("[") or not text else f".{part}"
    return text or "body"


def _fail(parts: list[str], problem: str) -> InvalidJobError:
    field = _path(parts)
    if len(field) > 200:
        field = field[:200] + "..."
    return InvalidJobError(f"Field {field} {problem}.", field=field)


def _check_text(text: str, parts: list[str], what: str = "") -> None:
    if len(text) > MAX_STRING:
        raise _fail(
            parts,
            f"{what}is {len(text)} characters long; at most {MAX_STRING} are allowed"
            " (store large text as an artifact)",
        )
    found = _BAD_TEXT.search(text)
    if found is not None:
        raise _fail(
            parts, f"{what}contains the character U+{ord(found.group()):04X}, which is not allowed"
        )


def _walk(value: Any, parts: list[str], depth: int) -> None:
    if isinstance(value, str):
        _check_text(value, parts)
    elif isinstance(value, bool) or value is None or isinstance(value, float):
        return
    elif isinstance(value, int):
        if not fits_64_bits(value):
            raise _fail(parts, "is an integer beyond 64 bits")
    elif isinstance(value, Mapping | list):
        if depth >= MAX_DEPTH:
            raise _fail(parts, f"is nested more than {MAX_DEPTH} levels deep")
        if isinstance(value, list):
            for index, item in enumerate(value):
                if type(item) is not float:
                    parts.append(f"[{index}]")
                    _walk(item, parts, depth + 1)
                    parts.pop()
            return
        for key, item in value.items():
            parts.append(str(key))
            if isinstance(key, str):
                _check_text(key, parts, "has a name that ")
            _walk(item, parts, depth + 1)
            parts.pop()


# The problems of a name depend on the name alone, and a job repeats its metric names,
# units and dataId keys in every measurement: each is judged once (per process).
@lru_cache(maxsize=8192)
def _name_problem(value: str, limit: int) -> str | None:
    if len(value) > limit:
        return f"is {len(value)} characters long; at most {limit} are allowed"
    found = _BAD_NAME.search(value)
    if found is not None:
        return f"contains the control character U+{ord(found.group()):04X}, not allowed in names"
    return None


@lru_cache(maxsize=8192)
def _metric_name_problem(value: str, measured: bool) -> str | None:
    problem = _name_problem(value, _NAME)
    if problem is None and "." in value:
        problem = _name_problem(value.split(".", 1)[0], _PACKAGE)
    if problem is None and measured:
        try:
            check_metric_name(value)
        except InvalidNameError as exc:
            problem = f"is not a metric name: {exc.reason}"
    return problem


def _check_name(value: Any, parts: list[str], limit: int) -> None:
    if not isinstance(value, str):
        return  # the SDK says what type it must be
    problem = _name_problem(value, limit)
    if problem is not None:
        raise _fail(parts, problem)


def _check_metric_name(value: Any, parts: list[str], *, measured: bool = False) -> None:
    if isinstance(value, str):
        problem = _metric_name_problem(value, measured)
        if problem is not None:
            raise _fail(parts, problem)


def _unknown(item: Mapping[str, Any], known: frozenset[str], parts: list[str]) -> None:
    for key in item:
        if key not in known:
            raise _fail(
                [*parts, str(key)],
                f"is not a field of a job; expected one of {', '.join(sorted(known))}",
            )


def _finite(value: Any, parts: list[str], what: str) -> None:
    if isinstance(value, float) and not math.isfinite(value):
        raise _fail(parts, f"is {value}; {what} must be a finite number")


def _check_pull_requests(meta: Any) -> None:
    if not isinstance(meta, Mapping):
        return
    for block in ("git", "env"):
        section = meta.get(block)
        if not isinstance(section, Mapping) or section.get("pull_request") is None:
            continue
        value, parts = section["pull_request"], ["meta", block, "pull_request"]
        if isinstance(value, Mapping):
            value, parts = value.get("number"), [*parts, "number"]
        try:
            pull_request_number(value)
        except ValueError as exc:
            raise _fail(parts, str(exc)) from None


def _check_references(payload: Mapping[str, Any]) -> None:
    """Measurement identifiers are unique; every blob referred to is in the job."""
    measurements = _items(payload, "measurements")
    blobs = {b.get("identifier") for _, b in _items(payload, "blobs")}
    for _, m in measurements:
        blobs.update(b.get("identifier") for b in m.get("blobs") or () if isinstance(b, Mapping))
    seen: dict[str, int] = {}
    for i, m in measurements:
        identifier = m.get("identifier")
        if identifier is not None and identifier != "":
            key = str(identifier)
            first = seen.setdefault(key, i)
            if first != i:
                raise _fail(
                    [f"measurements[{i}]", "identifier"],
                    f"is {key!r}, the identifier of measurement {first} too; the"
                    " measurements of a job need distinct identifiers",
                )
        refs = m.get("blob_refs")
        if not isinstance(refs, list):
            continue  # the SDK names a malformed list
        for k, ref in enumerate(refs):
            if isinstance(ref, str) and ref not in blobs:
                raise _fail(
                    [f"measurements[{i}]", "blob_refs", f"[{k}]"],
                    f"refers to the blob {ref!r}, which the job does not carry; send the"
                    " blob in 'blobs' or leave it out of 'blob_refs'",
                )


def _check_structure(payload: Mapping[str, Any]) -> None:
    _unknown(payload, _TOP_LEVEL, [])
    _check_name(payload.get("identifier"), ["identifier"], 128)
    for i, m in _items(payload, "measurements"):
        # The field path is only built for an error: this loop runs for every measurement.
        if not m.keys() <= _MEASUREMENT:
            _unknown(m, _MEASUREMENT, [f"measurements[{i}]"])
        metric = m.get("metric")
        if isinstance(metric, str) and _metric_name_problem(metric, True) is not None:
            _check_metric_name(metric, [f"measurements[{i}]", "metric"], measured=True)
        unit = m.get("unit")
        if isinstance(unit, str) and _name_problem(unit, _UNIT) is not None:
            _check_name(unit, [f"measurements[{i}]", "unit"], _UNIT)
        data_id = m.get("data_id")
        if isinstance(data_id, Mapping):
            for key, value in data_id.items():
                if _data_id_item_fine(key, value):
                    continue
                where = [f"measurements[{i}]", "data_id", str(key)]
                _check_name(key, where, _NAME)
                _check_name(value, where, _NAME)
                _finite(value, where, "a dataId value")
    for i, blob in _items(payload, "blobs"):
        where = [f"blobs[{i}]"]
        _unknown(blob, _BLOB, where)
        _check_name(blob.get("identifier"), [*where, "identifier"], _BLOB_ID)
        _check_name(blob.get("name"), [*where, "name"], _NAME)
    for i, metric in _items(payload, "metrics"):
        _check_metric_name(metric.get("name"), [f"metrics[{i}]", "name"])
        _check_name(metric.get("unit"), [f"metrics[{i}]", "unit"], _UNIT)
    for i, spec in _items(payload, "specs"):
        where = [f"specs[{i}]"]
        _check_metric_name(spec.get("name"), [*where, "name"])
        threshold = spec.get("threshold")
        if isinstance(threshold, Mapping):
            _check_name(threshold.get("unit"), [*where, "threshold", "unit"], _UNIT)
            _finite(threshold.get("value"), [*where, "threshold", "value"], "a threshold")
    _check_pull_requests(payload.get("meta"))
    _check_references(payload)


def _data_id_item_fine(key: Any, value: Any) -> bool:
    """Whether a dataId key and value pass `_check_structure`'s checks (False: not known)."""
    if not isinstance(key, str) or _name_problem(key, _NAME) is not None:
        return False
    if isinstance(value, str):
        return _name_problem(value, _NAME) is None
    return not isinstance(value, float) or math.isfinite(value)


def _items(payload: Mapping[str, Any], key: str) -> list[tuple[int, Mapping[str, Any]]]:
    items = payload.get(key)
    if not isinstance(items, list):
        return []
    return [(i, item) for i, item in enumerate(items) if isinstance(item, Mapping)]


def check_spec_units(payload: Mapping[str, Any]) -> None:
    """Refuse a specification whose threshold unit does not convert to its metric's unit.

    Only the metrics the job defines are known here; call after the SDK has read the
    job, so that every unit parses.

    Raises
    ------
    InvalidJobError
        Naming ``specs[i].threshold.unit``.
    """
    units = {m.get("name"): m.get("unit") or "" for _, m in _items(payload, "metrics")}
    for i, spec in _items(payload, "specs"):
        name, threshold = spec.get("name"), spec.get("threshold")
        if not isinstance(name, str) or not isinstance(threshold, Mapping):
            continue
        metric_unit = units.get(name.rsplit(".", 1)[0])
        unit = threshold.get("unit") or ""
        if metric_unit is None or not isinstance(unit, str) or convertible(unit, metric_unit):
            continue
        raise _fail(
            [f"specs[{i}]", "threshold", "unit"],
            f"'{unit}' does not convert to the unit '{metric_unit or 'dimensionless'}' of its"
            " metric",
        )
