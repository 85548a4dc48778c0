from __future__ import annotations

import math
import re
from typing import Any

import numpy as np
import pytest

from vigil.analysis import (
    NOT_ENOUGH_DATA,
    ChangePoint,
    analyse_series,
    as_direction,
    change_points,
    gate,
)

from ._data import cases, load_series

SERIES_CASES = cases("series")


@pytest.mark.parametrize(
    "case", SERIES_CASES, ids=[f"{c['file']}-{c['direction']}" for c in SERIES_CASES]
)
def test_known_answers(case: dict[str, Any]) -> None:
    values = load_series(case["file"])
    analysis = analyse_series(values, case["direction"])
    assert analysis.status == case["status"]
    if case["status"] == NOT_ENOUGH_DATA:
        assert analysis.change_points == ()
        assert analysis.reason is not None and case["reason"] in analysis.reason
        assert change_points(values, case["direction"]) == []
        return
    assert analysis.reason is None
    found = analysis.change_points
    expected = case["change_points"]
    assert [cp.index for cp in found] == [e["index"] for e in expected]
    assert [cp.kind for cp in found] == [e["kind"] for e in expected]
    for cp, e in zip(found, expected, strict=True):
        # The size is estimated from noisy values: within a third of the true one.
        assert cp.size == pytest.approx(e["size"], rel=1 / 3)
        assert cp.size == pytest.approx(cp.after - cp.before)
        assert cp.p_value < 0.001
        assert cp.significance == pytest.approx(1 - cp.p_value)
        assert math.copysign(1, cp.effect_size) == math.copysign(1, cp.size)
        if "previous_index" in e:
            assert cp.previous_index == e["previous_index"]
    assert change_points(values, case["direction"]) == list(found)


def test_segments_cover_the_series() -> None:
    values = load_series("two_steps")
    analysis = analyse_series(values)
    assert [(s.start, s.stop) for s in analysis.segments] == [(0, 50), (50, 110), (110, 160)]
    assert [round(s.median) for s in analysis.segments] == [0, 3, 1]
    assert analysis.n == analysis.n_valid == 160
    assert analysis.noise == pytest.approx(1.0, rel=0.2)


def test_nan_positions_are_those_of_the_sequence_given() -> None:
    values = load_series("nan_gaps")
    (cp,) = change_points(values)
    assert values[cp.index] is not None and values[cp.previous_index] is not None
    assert all(v is None for v in values[cp.previous_index + 1 : cp.index])
    analysis = analyse_series(np.array([np.nan if v is None else v for v in values]))
    assert [c.index for c in analysis.change_points] == [70]
    assert analysis.n == 140 and analysis.n_valid == 127


def test_relative_size() -> None:
    (cp,) = change_points(load_series("step_up"), "lower")
    assert cp.relative_size == pytest.approx(cp.size / abs(cp.before))
    (cp,) = change_points([0.0] * 10 + [1.0] * 10)
    assert cp.before == 0 and cp.relative_size is None


def test_kind_follows_the_direction_and_operators() -> None:
    values = load_series("step_up")
    assert change_points(values, "<=")[0].kind == "regression"
    assert change_points(values, ">")[0].kind == "improvement"
    assert analyse_series(values, "higher").regressions == ()
    assert len(analyse_series(values, "lower").regressions) == 1
    assert as_direction("Lower") == "lower" and as_direction(None) is None


def test_bad_arguments_say_what_to_do() -> None:
    with pytest.raises(ValueError, match="'lower' or 'higher'"):
        change_points([1.0] * 20, "sideways")
    with pytest.raises(ValueError, match="min_segment"):
        change_points([1.0] * 20, min_segment=1)
    with pytest.raises(ValueError, match="alpha"):
        change_points([1.0] * 20, alpha=1.5)


def test_none_nan_and_infinities_are_missing() -> None:
    values: list[Any] = [1.0] * 10 + [5.0] * 10
    values[3], values[15], values[16] = None, float("inf"), float("nan")
    (cp,) = change_points(values)
    assert cp.index == 10


@pytest.mark.parametrize(
    ("bad", "error", "message"),
    [
        ("1.5", TypeError, "value 3 is str '1.5', not a number"),
        ("n/a", TypeError, "value 3 is str 'n/a', not a number"),
        (True, TypeError, "value 3 is a boolean"),
        (np.bool_(False), TypeError, "value 3 is a boolean"),
        (10**400, ValueError, "value 3 is an integer beyond the range of a 64-bit float"),
        (object(), TypeError, "value 3 is object"),
    ],
)
def test_what_only_looks_like_a_number_is_refused(bad: Any, error: type, message: str) -> None:
    values: list[Any] = [1.0] * 10 + [5.0] * 10
    values[3] = bad
    with pytest.raises(error, match=re.escape(message)):
        change_points(values)
    with pytest.raises(error, match=re.escape(message)):
        gate(values[:10], [1.0])


def test_integer_arrays_beyond_float_range_are_refused() -> None:
    with pytest.raises(ValueError, match="beyond the range"):
        change_points(np.array([10**300] * 20, dtype=object) * 10**100)
    assert change_points(np.array([1] * 10 + [9] * 10)) != []


def test_empty_series() -> None:
    analysis = analyse_series([])
    assert analysis.status == NOT_ENOUGH_DATA and analysis.reason == "the series is empty"
    assert not analysis.ok


def test_a_longer_minimum_segment_ignores_a_short_excursion() -> None:
    values = load_series("bump")  # 15 values at +4 sigma
    assert len(change_points(values)) == 2
    assert change_points(values, min_segment=20) == []


def test_max_change_points_keeps_the_most_significant() -> None:
    values = load_series("two_steps")
    (cp,) = change_points(values, max_change_points=1)
    assert cp.index == 50  # the 3-sigma step, not the 2-sigma one


def test_min_effect_drops_small_changes() -> None:
    values = load_series("two_steps")
    assert [cp.index for cp in change_points(values, min_effect=2.2)] == [50]


def test_long_series_with_many_steps() -> None:
    rng = np.random.default_rng(3)
    truth = list(range(250, 10_000, 250))
    level = np.zeros(10_000)
    for i, t in enumerate(truth):
        level[t:] += 3.0 if i % 2 == 0 else -3.0
    found = change_points(level + rng.standard_t(3, level.size))
    assert len(found) == len(truth)
    assert all(abs(cp.index - t) <= 5 for cp, t in zip(found, truth, strict=True))


def test_change_point_is_a_plain_value() -> None:
    (cp,) = change_points(load_series("step_up"))
    assert isinstance(cp, ChangePoint)
    with pytest.raises(AttributeError):
        cp.index = 3  # type: ignore[misc]
