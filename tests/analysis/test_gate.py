from __future__ import annotations

import math
from random import Random
from statistics import NormalDist
from typing import Any

import numpy as np
import pytest
from scipy import stats

from vigil.analysis import NOT_ENOUGH_DATA, gate

from ._data import cases, load_series

GATE_CASES = cases("gate")


@pytest.mark.parametrize("case", GATE_CASES, ids=[c["name"] for c in GATE_CASES])
def test_known_answers(case: dict[str, Any]) -> None:
    baseline = case["baseline"]
    values = load_series(baseline) if isinstance(baseline, str) else baseline
    settings = {k: case[k] for k in ("min_relative", "history", "min_baseline") if k in case}
    new = [float(v) if isinstance(v, str) else v for v in case["new"]]
    result = gate(values, new, case["direction"], **settings)
    assert result.verdict == case["verdict"], result.message
    assert result.message.startswith(case["verdict"])
    if case["verdict"] == NOT_ENOUGH_DATA:
        assert not result.enough_data
        assert result.reason is not None and case["reason"] in result.reason
    else:
        assert result.enough_data and result.reason is None
        assert result.p_value is not None and 0 <= result.p_value <= 1
    assert result.is_regression == (case["verdict"] == "regression")


def test_effect_size_and_summaries() -> None:
    baseline = load_series("baseline")
    result = gate(baseline, [13.0], "lower")
    assert result.baseline.n == 30  # the default history
    assert result.baseline_start == 10
    assert result.new.n == 1 and result.new.median == 13.0
    assert result.baseline.median is not None and result.difference is not None
    assert result.effect_size is not None
    assert result.difference == pytest.approx(13.0 - result.baseline.median)
    assert result.relative_difference == pytest.approx(result.difference / result.baseline.median)
    assert result.effect_size == pytest.approx(6.15, abs=0.01)
    assert result.noise == pytest.approx(result.difference / result.effect_size)
    assert result.p_value is not None and result.p_value < 1e-5


def test_the_recent_level_is_the_baseline() -> None:
    result = gate(load_series("baseline_moved"), [12.1], "lower")
    assert result.baseline_start == 40  # the level since the change 15 values ago
    assert result.baseline.n == 15


def test_more_new_values_give_more_power() -> None:
    baseline = load_series("baseline")
    one = gate(baseline, [10.9], "lower")
    five = gate(baseline, [10.9, 10.8, 11.0, 10.9, 10.85], "lower")
    assert one.verdict == "no change" and five.verdict == "regression"
    assert five.p_value is not None and one.p_value is not None and five.p_value < one.p_value


def test_a_new_outlier_among_several_does_not_decide() -> None:
    baseline = load_series("baseline")
    assert gate(baseline, [10.0, 9.9, 30.0, 10.1, 9.8], "lower").verdict == "no change"


def test_min_effect() -> None:
    baseline = load_series("baseline")
    new = list(np.full(30, 10.3))
    assert gate(baseline, new, "lower", min_effect=0.0).verdict == "regression"
    assert gate(baseline, new, "lower").verdict == "no change"  # under one sigma


def test_bad_settings() -> None:
    with pytest.raises(ValueError, match="min_baseline"):
        gate([1.0] * 10, [1.0], history=3, min_baseline=5)
    with pytest.raises(ValueError, match="alpha"):
        gate([1.0] * 10, [1.0], alpha=0)
    with pytest.raises(ValueError, match="direction"):
        gate([1.0] * 10, [1.0], "up")


# A deterministic metric: a constant baseline is judged exactly ------------------------


@pytest.mark.parametrize(
    ("new", "direction", "verdict"),
    [
        ([6], "lower", "regression"),
        ([6], "higher", "improvement"),
        ([4], "higher", "regression"),
        ([6], None, "change"),
        ([5], "lower", "no change"),
        ([5, 5, 5], None, "no change"),
        ([5, 6, 6], "lower", "regression"),  # judged on the median of the re-runs
        ([5, 5, 6], "lower", "no change"),
    ],
)
def test_a_constant_baseline_is_judged_exactly(
    new: list[int], direction: str | None, verdict: str
) -> None:
    result = gate([5] * 20, new, direction)
    assert result.verdict == verdict, result.message
    assert result.method == "exact" and result.noise == 0.0
    assert result.difference == float(np.median(new)) - 5
    assert result.p_value == (1.0 if verdict == "no change" else 0.0)
    assert "exact" in result.message


def test_exact_judgement_ignores_scale_and_keeps_min_relative() -> None:
    tiny = gate([5e-200] * 10, [6e-200], "lower")
    assert tiny.verdict == "regression" and tiny.relative_difference == pytest.approx(0.2)
    assert gate([100.0] * 10, [100.5], "lower", min_relative=0.01).verdict == "no change"
    assert gate([100.0] * 10, [102.0], "lower", min_relative=0.01).verdict == "regression"


def test_the_constant_level_since_a_change_is_the_baseline() -> None:
    # A count that moved from 4 to 5 on main five runs ago: 5 is its level now.
    assert gate([4] * 20 + [5] * 6, [5], "lower").verdict == "no change"
    assert gate([4] * 20 + [5] * 6, [4], "lower").verdict == "improvement"


def test_a_single_baseline_outlier_is_not_a_constant_baseline() -> None:
    result = gate([5] * 10 + [6] + [5] * 10, [5], "lower")
    assert result.method == "noise" and result.verdict == "no change"


# Why not judged ----------------------------------------------------------------------


def test_too_few_baseline_points_say_how_many_are_there_and_needed() -> None:
    result = gate([1.0, 1.1, None, 0.9, math.nan], [5.0], "lower")
    assert not result.enough_data and result.reason_code == "too_few_baseline_points"
    assert result.reason == "3 finite baseline values (2 more are NaN); at least 5 are needed"
    assert result.method is None


def test_no_finite_new_value_is_named() -> None:
    result = gate(load_series("baseline"), [math.nan, None], "lower")
    assert result.reason_code == "no_value" and result.reason == "no finite new value"


# Several re-runs judged together ------------------------------------------------------


def test_one_noisy_run_flags_where_the_median_of_three_does_not() -> None:
    baseline = _quantile_baseline()
    assert gate(baseline, [10.5], "lower").verdict == "regression"  # 5 sigma
    assert gate(baseline, [10.5, 10.0, 10.02], "lower").verdict == "no change"


def test_three_runs_flag_where_one_does_not() -> None:
    baseline = _quantile_baseline()
    one = gate(baseline, [10.24], "lower")
    three = gate(baseline, [10.24, 10.22, 10.26], "lower")
    assert one.verdict == "no change" and three.verdict == "regression"
    # The known answer: t = effect / sqrt(c_k/k + c_n/n), c = pi/2 for more than two.
    assert three.effect_size is not None and three.noise is not None
    t = three.effect_size / math.sqrt(math.pi / 2 / 3 + math.pi / 2 / 20)
    assert three.p_value == pytest.approx(float(stats.t.sf(t, 19)), rel=1e-6)


def _quantile_baseline() -> list[float]:
    """20 values at the standard normal quantiles (noise exactly 0.1), in a fixed order."""
    z = [NormalDist().inv_cdf((i + 0.5) / 20) for i in range(20)]
    Random(3).shuffle(z)
    return [round(10.0 * (1 + 0.01 * v), 6) for v in z]
