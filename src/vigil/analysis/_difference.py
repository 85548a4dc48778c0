"""The significance of a difference between two values of a series, judged by its history.

The compare page and the branch view put one value (or the mean or median of a few)
beside another and ask how unusual the difference is. The spread that matters is the
spread of a *difference*: two values from the same series differ by about ``sigma *
sqrt(2)``, not ``sigma``. The maths is in ``docs/analysis.md`` ("Comparing two values").
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
from scipy import special

from vigil.analysis._robust import MAD_TO_SIGMA, FloatArray, finite_values

__all__ = [
    "MIN_DIFFERENCE_HISTORY",
    "TAIL_CAP",
    "TAIL_DEGREES_OF_FREEDOM",
    "Difference",
    "degrees_of_freedom",
    "difference_sigma",
    "difference_significance",
]

MIN_DIFFERENCE_HISTORY = 5
"""Fewest finite history values that give a noise estimate."""

TAIL_CAP = 2.0
"""The tail estimate of the noise is at most this many times the body estimate: one wild
value in the history widens the noise, but cannot hide every later change."""

TAIL_DEGREES_OF_FREEDOM = 30.0
"""The allowance for noise with heavier tails than Gaussian: the reference Student t
never has more degrees of freedom than this (``1 / nu = 2 / m + 1 / 30``)."""

Average = Literal["mean", "median"]

# Variance of the median of n values over that of their mean (large n, Gaussian).
_MEDIAN_VARIANCE = math.pi / 2.0


@dataclass(frozen=True, slots=True)
class Difference:
    """How unusual ``b - a`` is, given the noise of the series.

    Attributes
    ----------
    difference
        ``b - a`` (None when a side is missing).
    sigma
        The noise of one value of the series (None: fewer than the minimum history).
    sigma_difference
        The standard deviation of ``b - a`` when nothing changed: ``sigma * sqrt(k_a /
        n_a + k_b / n_b)`` (``k`` is 1 for a mean, pi/2 for a median of ``n`` values).
    statistic
        ``difference / sigma_difference`` (None when not defined).
    degrees_of_freedom
        Of the Student t the statistic is referred to.
    p_value
        Two-sided: the chance of a difference at least this large when nothing changed.
    z
        The Gaussian-equivalent significance, signed like the difference: a normal
        deviate with the same two-sided p-value, so ``|z| >= 3`` happens about 0.27 %
        of the time on unchanged data. ``inf`` for any change after a constant history.
    history
        How many finite history values the noise came from.
    """

    difference: float | None
    sigma: float | None
    sigma_difference: float | None
    statistic: float | None
    degrees_of_freedom: float | None
    p_value: float | None
    z: float | None
    history: int


def difference_sigma(history: Iterable[Any] | npt.ArrayLike) -> tuple[float | None, int]:
    """The standard deviation of the difference of two successive values of a series.

    From its successive differences ``d`` (NaN and None skipped), the larger of two
    robust estimates:

    - the body: ``1.4826 * MAD(d)`` (for more than half equal differences, the mean
      absolute deviation times ``sqrt(pi / 2)``);
    - the tail: the second largest ``|d - median(d)|`` over its expected value for
      Gaussian noise, at most `TAIL_CAP` times the body. A change of level adds one
      large difference, which the second largest ignores; heavy-tailed noise shows
      larger extremes than its body predicts.

    Returns the estimate (None with fewer than `MIN_DIFFERENCE_HISTORY` values) and the
    number of finite values.
    """
    x, _, _ = finite_values(history)
    if x.size < MIN_DIFFERENCE_HISTORY:
        return None, int(x.size)
    return _sigma_of_differences(np.diff(x)), int(x.size)


def _sigma_of_differences(d: FloatArray) -> float:
    deviations = np.abs(d - np.median(d))
    body = MAD_TO_SIGMA * float(np.median(deviations))
    if body == 0:
        body = math.sqrt(math.pi / 2) * float(np.mean(deviations))
    m = deviations.size
    if m < 4:
        return body
    second = float(np.partition(deviations, m - 2)[m - 2])
    return max(body, min(second / _expected_second_largest(m), TAIL_CAP * body))


def _expected_second_largest(m: int) -> float:
    """Expected second largest of *m* absolute standard normal values (Blom's rule)."""
    p = 1.0 - (2 - 0.375) / (m + 0.25)
    return float(special.ndtri((1.0 + p) / 2.0))


def degrees_of_freedom(differences: int) -> float:
    """The Student t's degrees of freedom for a noise estimated from *differences*."""
    return 1.0 / (2.0 / differences + 1.0 / TAIL_DEGREES_OF_FREEDOM)


def difference_significance(
    history: Iterable[Any] | npt.ArrayLike,
    a: float | None,
    b: float | None,
    *,
    n_a: int = 1,
    n_b: int = 1,
    average: Average = "mean",
) -> Difference:
    """How unusual ``b - a`` is, given the *history* of the series (time order).

    *a* and *b* are single values (``n_a = n_b = 1``) or each the mean (or, with
    ``average="median"``, the median) of ``n_a`` and ``n_b`` values. The noise of one
    value is ``sigma = difference_sigma(history) / sqrt(2)``; the difference has the
    standard deviation ``sigma * sqrt(k / n_a + k / n_b)`` (``k = 1`` for means, pi/2
    for medians). The statistic is referred to a Student t with ``1 / nu = 2 / m +
    1 / 30`` degrees of freedom (``m`` successive differences): the uncertainty of the
    estimate, and an allowance for heavier tails than Gaussian. ``z`` is the normal
    deviate of the same two-sided p-value.

    A constant history (``sigma = 0``) makes any change infinitely significant and no
    change not significant at all.
    """
    if n_a < 1 or n_b < 1:
        raise ValueError(f"n_a and n_b must be 1 or more, not {n_a} and {n_b}")
    if average not in ("mean", "median"):
        raise ValueError(f"average must be 'mean' or 'median', not {average!r}")
    x, _, _ = finite_values(history)
    count = int(x.size)
    difference = None if a is None or b is None else float(b) - float(a)
    if difference is not None and not math.isfinite(difference):
        difference = None
    if count < MIN_DIFFERENCE_HISTORY:
        return Difference(difference, None, None, None, None, None, None, count)
    d = np.diff(x)
    sigma = _sigma_of_differences(d) / math.sqrt(2.0)
    k = 1.0 if average == "mean" else _MEDIAN_VARIANCE
    sigma_difference = sigma * math.sqrt(k / n_a + k / n_b)
    nu = degrees_of_freedom(d.size)
    if difference is None:
        return Difference(None, sigma, sigma_difference, None, nu, None, None, count)
    if sigma_difference == 0:
        if difference == 0:
            return Difference(0.0, sigma, 0.0, 0.0, nu, 1.0, 0.0, count)
        inf = math.copysign(math.inf, difference)
        return Difference(difference, sigma, 0.0, inf, nu, 0.0, inf, count)
    statistic = difference / sigma_difference
    log_tail = _log_student_sf(abs(statistic), nu)
    p_value = min(1.0, 2.0 * math.exp(log_tail))
    z = -float(special.ndtri_exp(log_tail))
    return Difference(
        difference,
        sigma,
        sigma_difference,
        statistic,
        nu,
        p_value,
        math.copysign(max(z, 0.0), statistic),
        count,
    )


def _log_student_sf(t: float, nu: float) -> float:
    """``log P(T > t)`` for Student's t, accurate far into the tail (``t >= 0``)."""
    if math.isinf(t):
        return -math.inf
    tail = float(special.stdtr(nu, -t))
    if tail > 1e-300:
        return math.log(tail)
    # Far out, the power-law tail: P(T > t) ~ K nu^((nu - 1) / 2) t^-nu, with K the
    # density's constant; larger statistics still rank higher.
    log_k = special.gammaln((nu + 1) / 2) - special.gammaln(nu / 2) - 0.5 * math.log(nu * math.pi)
    return float(log_k + (nu - 1) / 2 * math.log(nu) - nu * math.log(t))
