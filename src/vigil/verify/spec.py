"""Specifications: thresholds a metric's measurements must meet, with unit conversion.

A specification ``package.metric.spec`` carries a threshold (value, unit, operator), an
optional ``metadata_query`` saying to which jobs it applies (``{"filter_name": "r"}``)
and tags (``design``, ``minimum``, ``stretch``...).
"""

from __future__ import annotations

import math
import operator as _op
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import astropy.units as u

from vigil.verify._fields import as_float, as_mapping, as_str, as_tags
from vigil.verify.errors import DocumentError, InvalidNameError, VerifyError
from vigil.verify.naming import Name
from vigil.verify.units import convert, parse_unit, unit_string

__all__ = [
    "OPERATORS",
    "SpecStatus",
    "Specification",
    "ThresholdSpecification",
    "operator_direction",
    "passes_threshold",
    "query_metadata",
]

OPERATORS: dict[str, Callable[[Any, Any], Any]] = {
    "<": _op.lt,
    "<=": _op.le,
    ">": _op.gt,
    ">=": _op.ge,
    "==": _op.eq,
    "!=": _op.ne,
}


def passes_threshold(value: Any, operator: str, threshold: float) -> Any:
    """``value <operator> threshold``: the pass/fail rule of every threshold specification.

    *value* is a number or a numpy array (then the answer is an array of booleans); it
    is already in the threshold's unit. NaN compares False, so it never passes: callers
    that must not fail it either check for NaN first (`ThresholdSpecification.check`).
    """
    return OPERATORS[operator](value, threshold)


def operator_direction(operator: str | None) -> str | None:
    """Which way is better under a threshold *operator*: ``lower`` for an upper limit
    (``<``, ``<=``), ``higher`` for a lower limit (``>``, ``>=``), None otherwise."""
    if operator in ("<", "<="):
        return "lower"
    if operator in (">", ">="):
        return "higher"
    return None


class SpecStatus(StrEnum):
    """The verdict of one value against one specification."""

    PASS = "pass"  # noqa: S105 (a verdict, not a secret)
    FAIL = "fail"
    NAN = "nan"
    """The value is not a number: no verdict."""
    ERROR = "error"
    """The value's unit does not convert to the threshold's, or the specification is invalid."""

    @property
    def passed(self) -> bool | None:
        """True for a pass, False for a failure, None without a verdict."""
        if self is SpecStatus.PASS:
            return True
        if self is SpecStatus.FAIL:
            return False
        return None


def _lookup(metadata: Mapping[str, Any], key: str) -> tuple[bool, Any]:
    """Find *key* in *metadata*; a dotted key (``env.ci_dataset``) reaches into nested dicts."""
    if key in metadata:
        return True, metadata[key]
    node: Any = metadata
    for part in key.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return False, None
        node = node[part]
    return True, node


def query_metadata(query: Mapping[str, Any], metadata: Mapping[str, Any]) -> bool:
    """True when every key of *query* is in *metadata* with an equal value.

    A list in the metadata matches a scalar of the query that it contains; a list in the
    query matches a metadata value equal to the list or contained in it.
    """
    for key, wanted in query.items():
        found, value = _lookup(metadata, key)
        if not found:
            return False
        if value == wanted:
            continue
        if isinstance(value, (list, tuple, set)) and not isinstance(wanted, (list, tuple)):
            if wanted in value:
                continue
        if isinstance(wanted, (list, tuple)) and not isinstance(value, (list, tuple)):
            if value in wanted:
                continue
        return False
    return True


@dataclass(slots=True)
class Specification:
    """Base of every specification type: a name, a metadata query and tags."""

    name: str
    metadata_query: dict[str, Any] = field(default_factory=dict)
    tags: frozenset[str] = field(default_factory=frozenset)

    type = "base"

    def __post_init__(self) -> None:
        parsed = Name.parse(self.name, kind="spec")
        if not parsed.is_fq:
            raise InvalidNameError(
                f"'{self.name}' is not a specification name 'package.metric.spec'", field="name"
            )
        self.tags = frozenset(self.tags)

    @property
    def metric_name(self) -> str:
        """The metric this specification applies to (``package.metric``)."""
        return self.name.rsplit(".", 1)[0]

    @property
    def short_name(self) -> str:
        """The last component of the name (``design_gri``)."""
        return self.name.rsplit(".", 1)[1]

    def query_metadata(self, metadata: Mapping[str, Any]) -> bool:
        """True when this specification applies to a job with *metadata*."""
        return query_metadata(self.metadata_query, metadata)


@dataclass(slots=True)
class ThresholdSpecification(Specification):
    """A measurement passes when ``value <operator> threshold`` in a common unit."""

    threshold_value: float = math.nan
    threshold_unit: str = ""
    operator: str = "<="

    type = "threshold"

    def __post_init__(self) -> None:
        Specification.__post_init__(self)
        if self.operator not in OPERATORS:
            raise DocumentError(
                f"operator must be one of {', '.join(OPERATORS)}, not {self.operator!r}",
                field="threshold.operator",
            )
        try:
            parse_unit(self.threshold_unit)
        except DocumentError as exc:
            raise exc.located(field_prefix="threshold.unit") from None

    @property
    def threshold(self) -> u.Quantity:
        """The threshold as an astropy Quantity."""
        return self.threshold_value * parse_unit(self.threshold_unit)

    @property
    def direction(self) -> str | None:
        """``lower`` when the threshold is an upper limit (``<``, ``<=``), ``higher`` for ``>``."""
        return operator_direction(self.operator)

    def check(self, value: Any, unit: str | None = None) -> bool | None:
        """Does *value* pass? ``None`` when the value is not a number (no verdict).

        *value* is an astropy Quantity, or a number with its *unit* string.

        Raises
        ------
        UnitError
            The value's unit does not convert to the threshold's unit.
        """
        if isinstance(value, u.Quantity):
            number, value_unit = float(value.value), unit_string(value.unit)
        else:
            number, value_unit = as_float(value, "value"), unit or ""
        if math.isnan(number) or math.isnan(self.threshold_value):
            return None
        converted = convert(number, value_unit, self.threshold_unit)
        return bool(passes_threshold(converted, self.operator, self.threshold_value))

    def evaluate(self, value: Any, unit: str | None = None) -> SpecStatus:
        """The verdict on *value* as `check` gives it, `SpecStatus.ERROR` where `check`
        raises (units that do not convert, a value that is not a number at all)."""
        try:
            passed = self.check(value, unit)
        except (VerifyError, ValueError):
            return SpecStatus.ERROR
        if passed is None:
            return SpecStatus.NAN
        return SpecStatus.PASS if passed else SpecStatus.FAIL

    @classmethod
    def from_dict(cls, data: Any, field_name: str = "") -> ThresholdSpecification:
        """Read a resolved specification document (the lsst.verify JSON shape)."""
        doc = as_mapping(data, field_name)
        prefix = f"{field_name}." if field_name else ""
        kind = doc.get("type", "threshold")
        if kind != "threshold":
            raise DocumentError(
                f"only threshold specifications are supported, not type {kind!r}",
                field=f"{prefix}type",
            )
        threshold = doc.get("threshold")
        if threshold is None:
            raise DocumentError(
                "is missing: a specification needs a threshold", field=f"{prefix}threshold"
            )
        threshold = as_mapping(threshold, f"{prefix}threshold")
        for key in ("value", "operator"):
            if key not in threshold:
                raise DocumentError("is missing", field=f"{prefix}threshold.{key}")
        unit = threshold.get("unit") or ""
        if not isinstance(unit, str):
            raise DocumentError(
                f"must be a unit string, not {unit!r}", field=f"{prefix}threshold.unit"
            )
        try:
            return cls(
                name=as_str(doc.get("name"), f"{prefix}name"),
                metadata_query=as_mapping(doc.get("metadata_query"), f"{prefix}metadata_query"),
                tags=as_tags(doc.get("tags"), f"{prefix}tags"),
                threshold_value=as_float(
                    threshold["value"], f"{prefix}threshold.value", numeric_strings=True
                ),
                threshold_unit=unit,
                operator=str(threshold["operator"]),
            )
        except DocumentError as exc:
            if exc.field and prefix and exc.field.startswith(prefix):
                raise
            raise exc.located(field_prefix=field_name or None) from None

    def to_dict(self) -> dict[str, Any]:
        """The lsst.verify JSON shape of this specification."""
        return {
            "name": self.name,
            "type": self.type,
            "threshold": {
                "value": self.threshold_value,
                "unit": self.threshold_unit,
                "operator": self.operator,
            },
            "metadata_query": dict(self.metadata_query),
            "tags": sorted(self.tags),
        }
