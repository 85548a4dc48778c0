"""The significance of a difference of two values: known answers."""

from __future__ import annotations

import math

import numpy as np
import pytest

from vigil.analysis import MIN_DIFFERENCE_HISTORY, difference_sigma, difference_significance


def test_two_values_differ_by_sigma_sqrt2() -> None:
    history = np.random.default_rng(1).normal(50.0, 2.0, size=2000)
    judged = difference_significance(history, 50.0, 53.0)
    assert judged.sigma is not None and judged.sigma_difference is not None
    assert judged.z is not None
    assert judged.sigma == pytest.approx(2.0, rel=0.1)
    assert judged.sigma_difference == pytest.approx(judged.sigma * math.sqrt(2))
    assert judged.statistic == pytest.approx(3.0 / judged.sigma_difference)
    # Many history points: the reference is nearly Gaussian, z close to the statistic.
    assert judged.z == pytest.approx(judged.statistic, rel=0.1)
    assert judged.p_value == pytest.approx(2 * 0.5 * math.erfc(judged.z / math.sqrt(2)))


def test_means_and_medians_of_several_values() -> None:
    history = np.random.default_rng(2).normal(0.0, 1.0, size=500)
    one = difference_significance(history, 0.0, 1.0)
    means = difference_significance(history, 0.0, 1.0, n_a=4, n_b=4)
    medians = difference_significance(history, 0.0, 1.0, n_a=4, n_b=4, average="median")
    assert one.sigma_difference is not None
    assert means.sigma_difference == pytest.approx(one.sigma_difference / 2)
    assert medians.sigma_difference == pytest.approx(
        one.sigma_difference / 2 * math.sqrt(math.pi / 2)
    )
    with pytest.raises(ValueError, match="n_a and n_b"):
        difference_significance(history, 0.0, 1.0, n_a=0)


def test_a_step_in_the_history_does_not_widen_the_noise() -> None:
    rng = np.random.default_rng(3)
    flat = rng.normal(0.0, 1.0, size=60)
    stepped = flat + np.where(np.arange(60) >= 30, 25.0, 0.0)
    assert difference_sigma(stepped)[0] == pytest.approx(difference_sigma(flat)[0], rel=0.15)


def test_few_points_are_judged_with_their_uncertainty() -> None:
    assert difference_significance([1.0, 2.0, None, 1.5], 1.0, 9.0).z is None
    few = difference_significance([1.0, 1.2, 0.9, 1.1, 1.0], 1.0, 1.6)
    many = difference_significance(list(np.resize([1.0, 1.2, 0.9, 1.1, 1.0], 200)), 1.0, 1.6)
    assert few.history == MIN_DIFFERENCE_HISTORY
    assert few.degrees_of_freedom is not None and many.degrees_of_freedom is not None
    assert few.degrees_of_freedom < many.degrees_of_freedom
    assert few.z is not None and many.z is not None and few.z < many.z


def test_constant_history_and_missing_values() -> None:
    constant = [5.0] * 10
    assert difference_significance(constant, 5.0, 5.5).z == math.inf
    assert difference_significance(constant, 5.0, 4.5).z == -math.inf
    assert difference_significance(constant, 5.0, 5.0).z == 0.0
    nan = difference_significance(constant, None, 5.0)
    assert nan.difference is None and nan.z is None and nan.sigma == 0.0


def test_far_tails_still_rank() -> None:
    history = np.random.default_rng(4).normal(0.0, 1.0, size=40)
    found = [difference_significance(history, 0.0, b).z for b in (10.0, 1e3, 1e8, 1e150)]
    zs = [z for z in found if z is not None and math.isfinite(z)]
    assert len(zs) == len(found)
    assert zs == sorted(zs) and len(set(zs)) == len(zs)
