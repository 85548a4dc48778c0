"""QA statuses follow the NORMAL and WARNING ranges (DESI's convention)."""

from __future__ import annotations

import math

import pytest

from vigil.monitor.qa import QaStatus, Range, colour, evaluate, parse_status, worst

NORMAL = Range(-1.0, 1.0)
WARNING = Range(-2.0, 2.0)


@pytest.mark.parametrize(
    ("value", "status", "shown"),
    [
        (0.0, QaStatus.NORMAL, "green"),
        (1.0, QaStatus.NORMAL, "green"),
        (1.5, QaStatus.WARNING, "yellow"),
        (-2.0, QaStatus.WARNING, "yellow"),
        (2.01, QaStatus.ALARM, "red"),
        (-7.0, QaStatus.ALARM, "red"),
        (None, QaStatus.MISSING, "grey"),
        (math.nan, QaStatus.MISSING, "grey"),
    ],
)
def test_a_value_is_judged_by_its_ranges(value: float | None, status: QaStatus, shown: str) -> None:
    result = evaluate(value, NORMAL, WARNING)
    assert result.status is status
    assert result.colour == shown


def test_the_reference_is_subtracted_first() -> None:
    assert evaluate(10.5, NORMAL, WARNING, reference=10.0).status is QaStatus.NORMAL
    assert evaluate(10.5, NORMAL, WARNING).status is QaStatus.ALARM
    per_amp = evaluate([3.4, 3.6, 5.0, 3.5], NORMAL, WARNING, reference=[3.4, 3.6, 3.3, 3.5])
    assert per_amp.statuses == (
        QaStatus.NORMAL,
        QaStatus.NORMAL,
        QaStatus.WARNING,
        QaStatus.NORMAL,
    )
    assert per_amp.status is QaStatus.WARNING


def test_a_list_takes_its_worst_element_and_ignores_missing_ones() -> None:
    result = evaluate([0.1, None, 3.0], NORMAL, WARNING)
    assert result.status is QaStatus.ALARM
    assert result.values == (0.1, None, 3.0)
    assert result.value == pytest.approx(1.55)  # the median of the finite elements
    assert evaluate([None, None], NORMAL, WARNING).status is QaStatus.MISSING


def test_outside_normal_without_a_warning_range_is_an_alarm() -> None:
    assert evaluate(1.2, NORMAL, None).status is QaStatus.ALARM


def test_without_ranges_the_pipeline_status_is_kept_else_grey() -> None:
    assert evaluate(5.0, None, None, reported=QaStatus.WARNING).status is QaStatus.WARNING
    assert evaluate(5.0, None, None).status is QaStatus.MISSING
    assert parse_status("ALARM") is QaStatus.ALARM
    assert parse_status("NORMAL") is QaStatus.NORMAL
    assert parse_status("bogus") is None


def test_worst_and_colours() -> None:
    assert worst(["normal", "warning", "missing"]) is QaStatus.WARNING
    assert worst(["normal", "alarm"]) is QaStatus.ALARM
    assert worst([]) is QaStatus.MISSING
    assert [colour(s) for s in QaStatus] == ["green", "yellow", "red", "grey"]


def test_ranges_are_checked() -> None:
    assert Range.parse([None, 3]).to_list() == [None, 3.0]
    with pytest.raises(ValueError, match="low <= high"):
        Range.parse([2, 1])
    with pytest.raises(ValueError, match="pair"):
        Range.parse([1, 2, 3])
