"""Known answers at the edges a team meets in its first week: short excursions, the
subset property between levels of ``alpha``, drifts, seasons, and early warnings."""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vigil.analysis import analyse_series, change_points, suspect

FloatArray = npt.NDArray[np.float64]


def _excursion(rng: np.random.Generator, length: int) -> tuple[np.ndarray, int]:
    n = int(rng.integers(100, 300))
    x = rng.standard_normal(n)
    start = int(rng.integers(30, n - 30 - length))
    x[start : start + length] += 2.5 * float(rng.choice([-1.0, 1.0]))
    return x, start


def test_short_excursions_are_found_at_both_ends() -> None:
    """Excursions of 8 to 20 points at 2.5 sigma: both ends found in at least 9 of 10."""
    rng = np.random.default_rng(2026)
    found = total = 0
    for length in (8, 10, 12, 14, 17, 20):
        for _ in range(20):
            x, start = _excursion(rng, length)
            indices = [cp.index for cp in change_points(x)]
            ends = [any(abs(i - end) <= 3 for i in indices) for end in (start, start + length)]
            found += all(ends)
            total += 1
    assert found / total >= 0.9


@st.composite
def bumpy(draw: st.DrawFn) -> list[float]:
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    n = draw(st.integers(30, 250))
    x = rng.standard_normal(n)
    for _ in range(draw(st.integers(0, 4))):
        start = int(rng.integers(0, n))
        x[start : start + int(rng.integers(3, 40))] += float(rng.normal(0, 3))
    return [float(v) for v in x]


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(bumpy(), st.lists(st.sampled_from([0.05, 0.02, 0.01, 0.001, 1e-4, 1e-6]), min_size=2))
def test_a_stricter_alpha_finds_a_subset(values: list[float], alphas: list[float]) -> None:
    found = {a: {cp.index for cp in change_points(values, alpha=a)} for a in set(alphas)}
    ordered = sorted(found, reverse=True)
    for lax, strict in itertools.pairwise(ordered):
        assert found[strict] <= found[lax], (lax, strict)


@pytest.mark.parametrize(
    "trend",
    [
        lambda t, n: 0.05 * t,  # a slow linear drift
        lambda t, n: 0.2 * t,  # a fast one
        lambda t, n: 20 * np.sqrt((t + 1) / n),  # a growing backlog levelling off
        lambda t, n: 8 * (1 - np.exp(-t / (n / 4))),  # a population count saturating
    ],
    ids=["slow", "fast", "sqrt", "saturating"],
)
def test_a_smooth_trend_is_one_drift_not_a_chain_of_steps(
    trend: Callable[[FloatArray, int], FloatArray],
) -> None:
    rng = np.random.default_rng(7)
    findings = []
    for _ in range(10):
        n = int(rng.integers(150, 300))
        t = np.arange(n, dtype=float)
        analysis = analyse_series(trend(t, n) + rng.standard_normal(n), "lower")
        findings.append(len(analysis.change_points) + len(analysis.drifts))
        assert all(d.kind == "regression" and d.size > 0 for d in analysis.drifts)
    assert np.mean(findings) <= 1.0


def test_a_step_inside_a_drift_is_still_a_change_point() -> None:
    rng = np.random.default_rng(3)
    t = np.arange(240, dtype=float)
    values = 0.05 * t + rng.standard_normal(240)
    values[150:] += 8.0
    indices = [cp.index for cp in change_points(values)]
    assert any(abs(i - 150) <= 2 for i in indices)


@pytest.mark.parametrize("period", [7, 30, 120])
def test_a_season_is_not_flagged_at_every_period(period: int) -> None:
    rng = np.random.default_rng(period)
    flagged = 0
    for _ in range(10):
        n = int(rng.integers(300, 600))
        t = np.arange(n)
        values = 3 * np.sin(2 * math.pi * t / period + rng.uniform(0, 6)) + rng.standard_normal(n)
        flagged += len(change_points(values))
    assert flagged <= 10  # at most one per series on average, not one per period


def test_a_step_on_top_of_a_season_is_found() -> None:
    rng = np.random.default_rng(5)
    t = np.arange(400)
    values = 3 * np.sin(2 * math.pi * t / 30) + rng.standard_normal(400)
    values[250:] += 6.0
    indices = [cp.index for cp in change_points(values, "lower")]
    assert any(abs(i - 250) <= 2 for i in indices)


def test_a_jump_is_suspected_on_its_first_run() -> None:
    rng = np.random.default_rng(1)
    history = list(10 + rng.standard_normal(60))
    warning = suspect([*history, 30.0], "lower")  # 20 sigma, one night
    assert warning is not None
    assert (warning.index, warning.count, warning.kind) == (60, 1, "regression")
    assert warning.effect_size > 10
    assert suspect([*history, -10.0], "lower") is None  # an improvement is not suspect
    assert suspect([*history, -10.0]) is not None  # without a direction either way is
    assert suspect(history, "lower") is None


def test_a_run_of_newest_values_is_suspected_before_it_can_be_confirmed() -> None:
    rng = np.random.default_rng(2)
    history = list(rng.standard_normal(60))
    newest = [3.1, 2.9, 3.2]  # 3 sigma, three nights: not yet min_segment
    assert change_points([*history, *newest], "lower") == []
    warning = suspect([*history, *newest], "lower")
    assert warning is not None and warning.index == 60 and warning.count == 3


@pytest.mark.parametrize(
    "history",
    [[], [1.0] * 3, [5.0] * 40, [None] * 40],
    ids=["empty", "short", "constant", "no-values"],
)
def test_nothing_is_suspected_without_a_history_to_judge(history: list[float | None]) -> None:
    assert suspect([*history, 6.0], "lower") is None


def test_suspicion_rates_on_flat_series() -> None:
    """Gaussian noise: a false suspicion on at most 1 % of runs."""
    rng = np.random.default_rng(9)
    runs = raised = 0
    for _ in range(40):
        x = list(rng.standard_normal(100))
        for end in range(60, 100):
            runs += 1
            raised += suspect(x[: end + 1], "lower") is not None
    assert raised / runs <= 0.01
