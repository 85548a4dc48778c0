"""Stored specifications judged by the one rule of `vigil.verify`.

A stored specification becomes a `ThresholdSpecification` (`threshold_specification`),
whose `~ThresholdSpecification.evaluate` is the pass/fail rule everywhere: a
specification applies when its ``metadata_query`` matches the job's ``meta`` together
with the measurement's dataId; values convert to the threshold's unit; NaN gives no
verdict. The dashboard, the regression analysis and the gate all judge through it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from vigil.verify import SpecStatus, ThresholdSpecification, VerifyError, query_metadata
from vigil.verify.spec import operator_direction
from vigil.verify.units import convert

from ..domain import SeriesInfo, SpecificationInfo
from ..storage.dashboard import MeasurementValue

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "SpecThreshold",
    "Verdict",
    "evaluate",
    "failing_count",
    "fails_further",
    "series_thresholds",
    "spec_status",
    "tag_rank",
    "threshold_specification",
    "thresholds_for",
]

_TAGS = ("minimum", "design", "stretch")


@dataclass(slots=True)
class SpecThreshold:
    """A specification's threshold as it applies to a series.

    ``value`` is converted to the metric's unit; None when its unit does not convert.
    """

    spec: SpecificationInfo
    value: float | None
    selected: bool

    @property
    def short_name(self) -> str:
        """The last part of the specification name."""
        return self.spec.name.rsplit(".", 1)[-1]

    @property
    def tag(self) -> str | None:
        """``minimum``, ``design`` or ``stretch`` if tagged so, else None."""
        for tag in _TAGS:
            if tag in self.spec.tags:
                return tag
        return None


@dataclass(slots=True)
class Verdict:
    """One specification against one measurement.

    `SpecStatus.ERROR` means the value's unit does not convert to the threshold's.
    """

    spec: SpecificationInfo
    status: SpecStatus


def threshold_specification(info: SpecificationInfo) -> ThresholdSpecification | None:
    """The `vigil.verify` specification of a stored one (whose ``evaluate`` is the one
    pass/fail rule, with unit conversion); ``None`` when it is not a valid threshold."""
    if info.type != "threshold" or info.threshold_value is None or not info.threshold_operator:
        return None
    try:
        return ThresholdSpecification(
            name=info.name,
            metadata_query=dict(info.metadata_query),
            tags=frozenset(info.tags),
            threshold_value=info.threshold_value,
            threshold_unit=info.threshold_unit or "",
            operator=info.threshold_operator,
        )
    except VerifyError:
        return None


@lru_cache(maxsize=4096)
def _threshold(
    name: str, value: float, unit: str | None, operator: str
) -> ThresholdSpecification | None:
    # Pages judge thousands of values against a few specifications: each is built once.
    try:
        return ThresholdSpecification(
            name=name, threshold_value=value, threshold_unit=unit or "", operator=operator
        )
    except VerifyError:
        return None


def spec_status(spec: SpecificationInfo, value: float | None, unit: str) -> SpecStatus:
    """*value* (None: not a number) in *unit* against a stored specification;
    `SpecStatus.ERROR` also when the stored specification is not a valid threshold."""
    if spec.threshold_value is None or spec.threshold_operator is None:
        return SpecStatus.ERROR
    checker = _threshold(
        spec.name, spec.threshold_value, spec.threshold_unit, spec.threshold_operator
    )
    if checker is None:
        return SpecStatus.ERROR
    return checker.evaluate(math.nan if value is None else value, unit)


_VERDICT_ORDER = {SpecStatus.FAIL: 0, SpecStatus.ERROR: 1, SpecStatus.PASS: 2, SpecStatus.NAN: 3}


def evaluate(
    value: MeasurementValue, specs: Iterable[SpecificationInfo], meta: Mapping[str, Any]
) -> list[Verdict]:
    """*value* against each of *specs* that applies (``vigil.verify`` semantics), the
    failures first and the loosest (most serious) of them first."""
    context = {**meta, **value.data_id}
    verdicts = []
    for spec in specs:
        if spec.threshold_value is None or spec.threshold_operator is None:
            continue
        if not query_metadata(spec.metadata_query, context):
            continue
        verdicts.append(Verdict(spec, spec_status(spec, value.value, value.unit)))
    verdicts.sort(key=lambda v: (_VERDICT_ORDER[v.status], tag_rank(v.spec), v.spec.name))
    return verdicts


def fails_further(spec: SpecificationInfo, value: float, other: float) -> bool:
    """Whether *value* fails *spec* by more than *other* does."""
    if operator_direction(spec.threshold_operator) == "higher":
        return value < other
    return value > other


def tag_rank(spec: SpecificationInfo) -> int:
    """``minimum`` first, then ``design``, ``stretch``, and the untagged."""
    for rank, tag in enumerate(_TAGS):
        if tag in spec.tags:
            return rank
    return len(_TAGS)


def _convert(value: float, from_unit: str | None, to_unit: str | None) -> float | None:
    try:
        return convert(value, from_unit or "", to_unit or "")
    except (VerifyError, ValueError):
        return None


def thresholds_for(
    specs: Iterable[SpecificationInfo],
    context: Mapping[str, Any],
    unit: str,
    wanted: Sequence[str] | None,
) -> list[SpecThreshold]:
    """The threshold specifications whose ``metadata_query`` matches *context*.

    Selected: those named in *wanted* (full or short names); by default those tagged
    ``design``, or all when none is.
    """
    found = []
    for spec in specs:
        if spec.threshold_value is None or spec.threshold_operator is None:
            continue
        if not query_metadata(spec.metadata_query, context):
            continue
        value = _convert(spec.threshold_value, spec.threshold_unit, unit)
        found.append(SpecThreshold(spec, value, False))
    if wanted:
        names = set(wanted)
        for t in found:
            t.selected = t.spec.name in names or t.short_name in names
    else:
        design = [t for t in found if "design" in t.spec.tags]
        for t in design or found:
            t.selected = True
    return sorted(found, key=lambda t: (not t.selected, tag_rank(t.spec), t.spec.name))


def series_thresholds(
    specs: Iterable[SpecificationInfo],
    meta: Mapping[str, Any],
    series: SeriesInfo,
    unit: str,
    wanted: Sequence[str] | None,
) -> list[SpecThreshold]:
    """`thresholds_for` a series, with the *meta* of its newest job."""
    # A series' jobs share its dataset and dataId; the newest job's meta stands for them.
    return thresholds_for(specs, {**meta, **series.data_id}, unit, wanted)


def failing_count(frame: pd.DataFrame, thresholds: Sequence[SpecThreshold]) -> int:
    """How many values of *frame* fail one of the selected *thresholds*."""
    from vigil.plots import Threshold, failing_mask

    lines = [
        Threshold(t.short_name, t.value, t.spec.threshold_operator or "<=")
        for t in thresholds
        if t.selected and t.value is not None
    ]
    if not lines or frame.empty:
        return 0
    return int(failing_mask(frame["value"].to_numpy(dtype=float), lines).sum())
