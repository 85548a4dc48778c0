"""How unlikely a group's median is: the ranking of out-of-range groups.

A group's aggregate can lie outside the acceptable range for two reasons: the group is
truly off (a bad patch, a bad CCD), or it holds so few sources that one odd source (a
misclassified galaxy among two stars) moves its median. Ranking groups by how far out of
range they lie puts the second kind first in small repositories. Instead, each group is
scored by the probability that its median lies that far out if the group's values were
drawn at random from all the metric's values:

- let *q* be the fraction of all the metric's values at or beyond the group's median
  (above it when the median is above the range, below it otherwise);
- a median of *n* values lies at or beyond *m* only if at least ``k = ceil(n / 2)`` of
  them do; with values drawn independently from the metric's own distribution, that
  number is binomial, so the probability is ``P = P(Binomial(n, q) >= k)``.

One source at 460 mmag in a metric whose values pass 460 once in a thousand scores
``P = 0.001``; three sources at 70 mmag when values pass 70 three times in a thousand
score ``P = 3 * 0.003^2 ~ 3e-5`` and rank first. The test is distribution-free (the
empirical distribution of the metric's own values, outliers included) and needs one
count per candidate (`vigil.explorer.Repository.tail_counts`). Groups are ranked by
``log P`` (most negative first), then by their distance out of range.
"""

from __future__ import annotations

import math

from scipy.stats import binom

__all__ = ["median_tail_log_probability"]


def median_tail_log_probability(count: int, beyond: int, total: int) -> float:
    """``log P(Binomial(count, beyond / total) >= ceil(count / 2))``.

    Parameters
    ----------
    count
        Values in the group (its median's sample size).
    beyond
        Values of the whole metric at or beyond the group's median.
    total
        Values of the whole metric.

    Returns
    -------
    float
        The natural logarithm of the probability (0 for an empty group or no values;
        ``-inf`` when it underflows).
    """
    if count <= 0 or total <= 0:
        return 0.0
    q = min(max(beyond / total, 0.0), 1.0)
    needed = math.ceil(count / 2)
    return float(binom.logsf(needed - 1, count, q))
