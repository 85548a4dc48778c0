from __future__ import annotations

from typing import Any

import numpy as np
import pytest

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
