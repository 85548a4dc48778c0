"""E-Divisive means change-point detection with a deterministic windowed t-test.

See ``docs/analysis.md`` for the maths. Everything here works on the finite values of a
series (positions ``0..n-1``); the caller maps positions back to the original sequence.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from vigil.analysis._robust import FloatArray, IntArray
from vigil.analysis._significance import student_sf

__all__ = [
    "Detection",
    "Settings",
    "Split",
    "best_splits",
    "clip_outliers",
    "detect",
    "detect_with_candidates",
    "divergence",
    "running_median",
    "seeded_intervals",
]

_CANDIDATE_ALPHA = 0.05
"""The level at which candidates are kept, whatever ``alpha``: the candidates then do
not depend on ``alpha``, and the pruning removes the weakest change point until all pass
``alpha``, always in the same order, so a stricter ``alpha`` finds a subset of what a
laxer one finds."""

_PRIOR_DF = 7.0
"""Degrees of freedom of the series-wide noise (variance 1 once standardised) mixed into
each side's variance: a side of a few values no longer rests on its own few-value
variance alone."""

_SCREEN = 9.0
"""Intervals whose best statistic is under this many noise variances are not tested: no
window test on them could pass (a 3-sigma z-score)."""


@dataclass(frozen=True, slots=True)
class Settings:
    """Detector settings (described in `vigil.analysis.analyse_series`)."""

    min_segment: int
    alpha: float
    min_effect: float
    window: int
    clip: float
    max_change_points: int | None


@dataclass(frozen=True, slots=True)
class Split:
    """A change point before position ``index`` of the finite values.

    ``before`` and ``after`` are the medians of the test windows either side; ``p_value``
    is the windowed test's, corrected for the choice of the split.
    """

    index: int
    before: float
    after: float
    p_value: float


def running_median(x: FloatArray, half_width: int) -> FloatArray:
    """Median of each value's neighbourhood of ``2 * half_width + 1`` values.

    Near the ends the nearest complete window is used, so the level follows steps and is
    not pulled by an outlier at the very end.
    """
    width = 2 * half_width + 1
    if x.size <= width:
        return np.full(x.size, float(np.median(x)))
    medians = np.median(sliding_window_view(x, width), axis=1)
    return np.concatenate(
        [np.full(half_width, medians[0]), medians, np.full(half_width, medians[-1])]
    )


def clip_outliers(x: FloatArray, sigma: float, half_width: int, limit: float) -> FloatArray:
    """Winsorise *x* around its running median at ``limit * sigma``.

    A spike or a short burst becomes a value at most ``limit`` sigmas from the local level,
    too small to make a segment of its own; a lasting step moves the running median with
    it and is kept whole.
    """
    level = running_median(x, half_width)
    bound = limit * sigma
    return level + np.clip(x - level, -bound, bound)


def divergence(x: FloatArray, min_segment: int) -> FloatArray:
    """The E-Divisive means statistic of every split of *x*.

    ``q[k]`` is for the split before position ``k``: with ``m = k`` values on the left and
    ``n - k`` on the right, ``q = m (n - m) / n * (mean_left - mean_right) ** 2``; splits
    leaving fewer than *min_segment* values on a side get ``-inf``.
    """
    n = x.size
    q = np.full(n + 1, -np.inf)
    if n < 2 * min_segment:
        return q
    cumulative = np.concatenate([[0.0], np.cumsum(x - np.mean(x))])
    k = np.arange(min_segment, n - min_segment + 1)
    left = cumulative[k] / k
    right = (cumulative[n] - cumulative[k]) / (n - k)
    q[k] = k * (n - k) / n * (left - right) ** 2
    return q


def seeded_intervals(n: int, min_length: int) -> list[tuple[int, IntArray]]:
    """Deterministic intervals at every scale (seeded binary segmentation).

    Lengths ``n, n/2, n/4, ...`` down to *min_length*, each tiling ``[0, n)`` with half
    overlaps. Returns ``(length, starts)`` pairs.
    """
    scales = []
    length = n
    while length >= min_length:
        step = max(1, length // 2)
        starts = np.arange(0, n - length + 1, step)
        if starts[-1] != n - length:
            starts = np.append(starts, n - length)
        scales.append((length, starts))
        if length == min_length:
            break
        length = max(min_length, length // 2)
    return scales


def best_splits(
    cumulative: FloatArray, length: int, starts: IntArray, min_segment: int
) -> tuple[IntArray, FloatArray]:
    """The best split, and its statistic, in every interval of one length.

    *cumulative* is the cumulative sum of the series with a leading zero; all intervals
    are done in one array operation.
    """
    k = np.arange(min_segment, length - min_segment + 1)
    first = cumulative[starts][:, None]
    left = cumulative[starts[:, None] + k] - first
    right = (cumulative[starts + length] - cumulative[starts])[:, None] - left
    q = k * (length - k) / length * (left / k - right / (length - k)) ** 2
    best = np.argmax(q, axis=1)
    return starts + k[best], q[np.arange(starts.size), best]


class Detection(NamedTuple):
    """What one detection found: the change points at ``alpha``, those at the
    candidates' level (a superset of them for every ``alpha`` up to 0.05), and the
    winsorised values it tested (`clip_outliers`), for the checks made after it."""

    splits: list[Split]
    candidates: list[Split]
    clipped: FloatArray


def detect_with_candidates(x: FloatArray, sigma: float, settings: Settings) -> Detection:
    """`detect`, with the change points at the candidates' level and the clipped values
    (used to recognise drifts and seasons the same way at every level)."""
    detector = _Detector(x, sigma, settings)
    splits, candidates = detector.run_with_candidates()
    return Detection(splits, candidates, detector.clipped)


def detect(x: FloatArray, sigma: float, settings: Settings) -> list[Split]:
    """Change points of the finite values *x*.

    Parameters
    ----------
    x
        Finite values, at least ``2 * min_segment`` of them.
    sigma
        Their noise standard deviation (positive).
    settings
        The detector's settings.
    """
    return _Detector(x, sigma, settings).run()


class _Detector:
    """One series' detection: the clipped series, its prefix sums, and the steps."""

    def __init__(self, x: FloatArray, sigma: float, settings: Settings) -> None:
        self.x = x
        self.sigma = sigma
        self.settings = settings
        self.clipped = clip_outliers(x, sigma, max(2, settings.min_segment), settings.clip)
        # Standardised before summing, so that sums of squares keep their precision.
        z = (self.clipped - np.mean(self.clipped)) / sigma
        self.sums = np.concatenate([[0.0], np.cumsum(z)])
        self.squares = np.concatenate([[0.0], np.cumsum(z * z)])

    def run(self) -> list[Split]:
        return self.run_with_candidates()[0]

    def run_with_candidates(self) -> tuple[list[Split], list[Split]]:
        """The change points at ``alpha``, and those at the candidates' level (a
        superset, whatever ``alpha``: the same pruning path, stopped later)."""
        ms = self.settings.min_segment
        found = _refine(self.clipped, self.candidates(), ms)
        lax = self.prune(found, max(self.settings.alpha, _CANDIDATE_ALPHA))
        splits = self.prune([s.index for s in lax])
        limit = self.settings.max_change_points
        if limit is not None and len(splits) > limit:
            strongest = sorted(splits, key=lambda s: s.p_value)[:limit]
            splits = sorted(strongest, key=lambda s: s.index)
        return self.located(splits), self.located(lax)

    def candidates(self) -> list[int]:
        """Seeded binary segmentation: the best split of every interval, largest
        statistic first, kept when it passes its test and its interval holds no change
        point kept before."""
        ms = self.settings.min_segment
        best: list[IntArray] = []
        score: list[FloatArray] = []
        start: list[IntArray] = []
        stop: list[IntArray] = []
        for length, starts in seeded_intervals(self.x.size, 2 * ms):
            split, q = best_splits(self.sums, length, starts, ms)
            keep = q >= _SCREEN
            best.append(split[keep])
            score.append(q[keep])
            start.append(starts[keep])
            stop.append(starts[keep] + length)
        splits, scores = np.concatenate(best), np.concatenate(score)
        starts_, stops = np.concatenate(start), np.concatenate(stop)
        found: list[int] = []
        for i in np.argsort(-scores, kind="stable"):
            a, k, b = int(starts_[i]), int(splits[i]), int(stops[i])
            # An interval holding a change point already kept measures two changes.
            nearest = bisect.bisect_right(found, a)
            if nearest < len(found) and found[nearest] < b:
                continue
            if self.test(a, k, b, max(self.settings.alpha, _CANDIDATE_ALPHA)) is not None:
                bisect.insort(found, k)
        return found

    def test(self, start: int, split: int, stop: int, alpha: float) -> Split | None:
        """The split if it is significant at *alpha* and large enough, else ``None``."""
        return self.evaluate(start, split, stop, alpha)[0]

    def evaluate(
        self, start: int, split: int, stop: int, alpha: float | None = None
    ) -> tuple[Split | None, tuple[float, float]]:
        """Test *split* between *start* and *stop*: the split if it passes, and how weak
        it is (p-value, then smaller change first) to rank failing ones.

        Welch's test between up to ``window`` clipped values either side of *split*. The
        two-sided p-value is multiplied by ``(stop - start) / min(left, right)``, the
        number of windows of the smaller side's size in ``[start, stop)``: the split was
        chosen as the best of about that many independent places.
        """
        window = self.settings.window
        lo, hi = max(start, split - window), min(stop, split + window)
        n1, n2 = split - lo, hi - split
        mean1, var1 = self._moments(lo, split)
        mean2, var2 = self._moments(split, hi)
        change = abs(mean2 - mean1)
        if change < self.settings.min_effect or self._median_change(lo, split, hi) < (
            self.settings.min_effect
        ):
            # The medians must move too: a burst inside one window shifts its mean
            # without being a change of level (and the reported size is of medians).
            return None, (1.0, -change)
        t, df = _moderated_welch(n1, mean1, var1, n2, mean2, var2, _PRIOR_DF)
        p = min(1.0, 2.0 * student_sf(abs(t), df) * max(1.0, (stop - start) / min(n1, n2)))
        if not p < (self.settings.alpha if alpha is None else alpha):
            return None, (p, -change)
        # The levels are filled in for the change points kept (`located`).
        return Split(split, math.nan, math.nan, p), (p, -change)

    def _median_change(self, lo: int, split: int, hi: int) -> float:
        """``|median after - median before|`` of the clipped values, in noise sigmas."""
        before = float(np.median(self.clipped[lo:split]))
        after = float(np.median(self.clipped[split:hi]))
        return abs(after - before) / self.sigma

    def _moments(self, lo: int, hi: int) -> tuple[float, float]:
        """Mean and variance of the standardised clipped values in ``[lo, hi)``."""
        n = hi - lo
        total = float(self.sums[hi] - self.sums[lo])
        mean = total / n
        var = (float(self.squares[hi] - self.squares[lo]) - total * mean) / (n - 1)
        return mean, var

    def located(self, splits: list[Split]) -> list[Split]:
        """*splits* with their levels: the medians of the values in the windows either
        side, between the neighbouring change points."""
        bounds = [0, *(s.index for s in splits), self.x.size]
        window = self.settings.window
        located = []
        for i, split in enumerate(splits):
            lo = max(bounds[i], split.index - window)
            hi = min(bounds[i + 2], split.index + window)
            before = float(np.median(self.x[lo : split.index]))
            after = float(np.median(self.x[split.index : hi]))
            located.append(Split(split.index, before, after, split.p_value))
        return located

    def prune(self, splits: list[int], alpha: float | None = None) -> list[Split]:
        """Re-test every change point between its neighbours; drop the weakest failing one
        and repeat until all pass (a change found early may be explained by others).

        The order of removal does not depend on *alpha* (default ``settings.alpha``), only
        where it stops: pruning at a stricter level continues the same path."""
        splits = list(splits)

        def retest(i: int) -> tuple[Split | None, tuple[float, float]]:
            start = splits[i - 1] if i else 0
            stop = splits[i + 1] if i + 1 < len(splits) else self.x.size
            return self.evaluate(start, splits[i], stop, alpha)

        tested = [retest(i) for i in range(len(splits))]
        while True:
            failing = [i for i, (split, _) in enumerate(tested) if split is None]
            if not failing:
                return [split for split, _ in tested if split is not None]
            weakest = max(failing, key=lambda i: tested[i][1])
            del splits[weakest], tested[weakest]
            # Only the neighbours of a removed change point see different segments.
            for i in (weakest - 1, weakest):
                if 0 <= i < len(splits):
                    tested[i] = retest(i)


def _refine(clipped: FloatArray, splits: list[int], min_segment: int) -> list[int]:
    """Move every change point to the best split between its two neighbours.

    Each was chosen in an interval that could hold part of another change, which pulls
    it towards that one; between its final neighbours the statistic peaks at the change
    itself.
    """
    splits = list(splits)
    for _ in range(3):
        before = list(splits)
        for i in range(len(splits)):
            # In place, left to right: the order and min_segment spacing are kept.
            start = splits[i - 1] if i else 0
            stop = splits[i + 1] if i + 1 < len(splits) else clipped.size
            q = divergence(clipped[start:stop], min_segment)
            if np.isfinite(q).any():
                splits[i] = start + int(np.argmax(q))
        if splits == before:
            break
    return splits


def _moderated_welch(
    n1: int, mean1: float, var1: float, n2: int, mean2: float, var2: float, prior_df: float
) -> tuple[float, float]:
    """Welch's t for ``mean2 - mean1`` with each side's variance moderated towards 1.

    Each side's variance becomes ``(prior_df + (n - 1) * var) / (prior_df + n - 1)``
    with ``prior_df + n - 1`` degrees of freedom (the series-wide noise acts as
    ``prior_df`` values of prior knowledge, as in moderated t-statistics).
    """
    d1, d2 = n1 - 1 + prior_df, n2 - 1 + prior_df
    v1 = (prior_df + (n1 - 1) * max(var1, 0.0)) / d1 / n1
    v2 = (prior_df + (n2 - 1) * max(var2, 0.0)) / d2 / n2
    se2 = v1 + v2
    df = se2 * se2 / (v1 * v1 / d1 + v2 * v2 / d2)
    return (mean2 - mean1) / math.sqrt(se2), df
