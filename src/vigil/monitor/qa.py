"""QA statuses: a value against its NORMAL and WARNING ranges (the DESI convention).

A QA value (a number, or a list of numbers such as one per amplifier or per fiber) is
compared with two ranges after subtracting its reference, when it has one:

- inside the NORMAL range: ``normal`` (green);
- else inside the WARNING range: ``warning`` (yellow);
- else (outside WARNING): ``alarm`` (red);
- no value (null, NaN) or no range to judge it by: ``missing`` (grey).

A list takes the worst status of its elements; missing elements are ignored unless every
element is missing. This module is pure: no I/O.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

__all__ = [
    "COLOURS",
    "QaEvaluation",
    "QaStatus",
    "Range",
    "colour",
    "evaluate",
    "parse_status",
    "worst",
]


class QaStatus(StrEnum):
    """The status of one QA value."""

    NORMAL = "normal"
    WARNING = "warning"
    ALARM = "alarm"
    MISSING = "missing"


COLOURS: dict[QaStatus, str] = {
    QaStatus.NORMAL: "green",
    QaStatus.WARNING: "yellow",
    QaStatus.ALARM: "red",
    QaStatus.MISSING: "grey",
}
"""The colour shown for each status."""

_RANK = {QaStatus.MISSING: 0, QaStatus.NORMAL: 1, QaStatus.WARNING: 2, QaStatus.ALARM: 3}

_ALIASES = {
    "normal": QaStatus.NORMAL,
    "ok": QaStatus.NORMAL,
    "green": QaStatus.NORMAL,
    "warning": QaStatus.WARNING,
    "warn": QaStatus.WARNING,
    "yellow": QaStatus.WARNING,
    "alarm": QaStatus.ALARM,
    "alert": QaStatus.ALARM,
    "red": QaStatus.ALARM,
    "missing": QaStatus.MISSING,
    "unknown": QaStatus.MISSING,
    "grey": QaStatus.MISSING,
    "gray": QaStatus.MISSING,
}


def colour(status: QaStatus | str) -> str:
    """The colour of *status*: green, yellow, red or grey."""
    return COLOURS[QaStatus(status)]


def worst(statuses: Iterable[QaStatus | str]) -> QaStatus:
    """The worst of *statuses* (alarm > warning > normal > missing); missing if none."""
    result = QaStatus.MISSING
    for status in statuses:
        status = QaStatus(status)
        if _RANK[status] > _RANK[result]:
            result = status
    return result


def parse_status(text: Any) -> QaStatus | None:
    """A status written by a pipeline (``NORMAL``, ``WARNING``, ``ALARM``...), or None."""
    if not isinstance(text, str):
        return None
    return _ALIASES.get(text.strip().lower())


@dataclass(frozen=True, slots=True)
class Range:
    """A closed interval ``[low, high]``; either end may be infinite."""

    low: float
    high: float

    def __post_init__(self) -> None:
        if math.isnan(self.low) or math.isnan(self.high) or self.low > self.high:
            raise ValueError(f"A range needs low <= high, got [{self.low}, {self.high}].")

    def __contains__(self, value: float) -> bool:
        return self.low <= value <= self.high

    @classmethod
    def parse(cls, value: Any) -> Range:
        """A range from ``[low, high]`` (``null`` meaning unbounded on that side).

        Raises
        ------
        ValueError
            *value* is not a pair of numbers with low <= high.
        """
        if isinstance(value, Range):
            return value
        if not isinstance(value, list | tuple) or len(value) != 2:
            raise ValueError(f"A range is a pair [low, high], got {value!r}.")
        low, high = value
        try:
            low_f = -math.inf if low is None else float(low)
            high_f = math.inf if high is None else float(high)
        except (TypeError, ValueError):
            raise ValueError(f"A range is a pair of numbers [low, high], got {value!r}.") from None
        return cls(low_f, high_f)

    def to_list(self) -> list[float | None]:
        """``[low, high]`` with infinite ends as None (JSON has no infinity)."""
        return [
            None if math.isinf(self.low) else self.low,
            None if math.isinf(self.high) else self.high,
        ]


@dataclass(frozen=True, slots=True)
class QaEvaluation:
    """The verdict on one QA value.

    Attributes
    ----------
    status
        The worst status of the elements.
    value
        One number summing the value up: the number itself, or the median of a list's
        finite elements (None when there is none).
    values
        The value's elements (one for a number); None for a missing element.
    statuses
        The status of each element.
    """

    status: QaStatus
    value: float | None
    values: tuple[float | None, ...]
    statuses: tuple[QaStatus, ...]

    @property
    def colour(self) -> str:
        """green, yellow, red or grey."""
        return COLOURS[self.status]


def _number(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _elements(value: Any) -> tuple[float | None, ...]:
    if isinstance(value, list | tuple):
        flat: list[float | None] = []
        for item in value:
            if isinstance(item, list | tuple):
                flat.extend(_number(x) for x in item)
            else:
                flat.append(_number(item))
        return tuple(flat)
    return (_number(value),)


def _median(values: Sequence[float]) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return (ordered[middle - 1] + ordered[middle]) / 2


def _judge(delta: float | None, normal: Range | None, warning: Range | None) -> QaStatus:
    if delta is None or normal is None:
        return QaStatus.MISSING
    if delta in normal:
        return QaStatus.NORMAL
    if warning is not None and delta in warning:
        return QaStatus.WARNING
    return QaStatus.ALARM


def evaluate(
    value: Any,
    normal: Range | None,
    warning: Range | None = None,
    reference: Any = None,
    reported: QaStatus | None = None,
) -> QaEvaluation:
    """Judge *value* against its ranges.

    Parameters
    ----------
    value
        A number or a (possibly nested) list of numbers; None or NaN is missing.
    normal
        The NORMAL range; without it the value cannot be judged and *reported* is used.
    warning
        The WARNING range; without it anything outside NORMAL is an alarm.
    reference
        Subtracted from the value before the comparison: a number, or a list matching
        the value's elements.
    reported
        The status the pipeline itself wrote, used only when there is no NORMAL range.

    Returns
    -------
    QaEvaluation
        The status, a summary number and each element's status.
    """
    values = _elements(value)
    refs: tuple[float | None, ...]
    if reference is None:
        refs = (0.0,) * len(values)
    else:
        ref_values = _elements(reference)
        if len(ref_values) == len(values):
            refs = ref_values
        elif len(ref_values) == 1:
            refs = ref_values * len(values)
        else:
            refs = (None,) * len(values)
    if normal is None:
        fallback = reported or QaStatus.MISSING
        statuses = tuple(QaStatus.MISSING if v is None else fallback for v in values)
    else:
        statuses = tuple(
            _judge(None if v is None or r is None else v - r, normal, warning)
            for v, r in zip(values, refs, strict=True)
        )
    finite = [v for v in values if v is not None]
    summary = values[0] if len(values) == 1 else _median(finite)
    return QaEvaluation(
        status=worst(statuses),
        value=summary,
        values=values,
        statuses=statuses,
    )
