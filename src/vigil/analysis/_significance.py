"""Significance tests: Student's t distribution and Welch's two-sample statistic."""

from __future__ import annotations

import math

import numpy as np
from scipy import special

from vigil.analysis._robust import FloatArray

__all__ = ["student_sf", "welch", "welch_moments"]


def student_sf(t: float, df: float) -> float:
    """Survival function of Student's t: ``P(T > t)`` with *df* degrees of freedom."""
    if math.isnan(t) or df <= 0:
        return math.nan
    if math.isinf(t):
        return 0.0 if t > 0 else 1.0
    return float(special.stdtr(df, -t))


def welch_moments(
    n1: int, mean1: float, var1: float, n2: int, mean2: float, var2: float
) -> tuple[float, float]:
    """Welch's t statistic for ``mean2 - mean1`` and its degrees of freedom.

    *var1* and *var2* are the sample variances (``ddof=1``); each side needs two values or
    more. Zero variances on both sides give an infinite statistic when the means differ and
    zero when they do not.
    """
    v1, v2 = max(var1, 0.0) / n1, max(var2, 0.0) / n2
    diff = mean2 - mean1
    se2 = v1 + v2
    if se2 <= 0:
        return (math.copysign(math.inf, diff) if diff else 0.0), float(n1 + n2 - 2)
    df = se2 * se2 / (v1 * v1 / (n1 - 1) + v2 * v2 / (n2 - 1))
    return diff / math.sqrt(se2), df


def welch(left: FloatArray, right: FloatArray) -> tuple[float, float]:
    """`welch_moments` of two samples."""
    return welch_moments(
        left.size,
        float(np.mean(left)),
        float(np.var(left, ddof=1)),
        right.size,
        float(np.mean(right)),
        float(np.var(right, ddof=1)),
    )
