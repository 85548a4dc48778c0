"""`analyse_series` and `change_points`: from a raw sequence to labelled change points."""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from vigil.analysis._edivisive import (
    Settings,
    Split,
    detect_with_candidates,
)
from vigil.analysis._robust import (
    FloatArray,
    IntArray,
    as_direction,
    finite_values,
    noise_sigma,
    robust_sigma,
)
from vigil.analysis._significance import student_sf
from vigil.analysis._types import (
    INSUFFICIENT,
    OK,
    ChangePoint,
    Direction,
    Drift,
    Kind,
    Segment,
    SeriesAnalysis,
)

__all__ = ["DEFAULTS", "analyse_series", "change_points", "kind_of"]

DEFAULTS: Final = Settings(
    min_segment=5, alpha=0.001, min_effect=1.0, window=50, clip=3.0, max_change_points=None
)
"""Default detector settings (see `analyse_series`); tuned with ``bench/changepoints.py``."""

Values = Iterable[Any] | npt.ArrayLike


def kind_of(size: float, direction: Direction | None) -> Kind:
    """Label a change of level *size* given which way is better."""
    if direction is None or size == 0:
        return "change"
    worse = size > 0 if direction == "lower" else size < 0
    return "regression" if worse else "improvement"


def analyse_series(
    values: Values,
    direction: str | None = None,
    *,
    min_segment: int = DEFAULTS.min_segment,
    alpha: float = DEFAULTS.alpha,
    min_effect: float = DEFAULTS.min_effect,
    window: int = DEFAULTS.window,
    clip: float = DEFAULTS.clip,
    max_change_points: int | None = None,
) -> SeriesAnalysis:
    """Find the lasting changes of level in a noisy series.

    Parameters
    ----------
    values
        The series in time order: numbers, ``None`` or NaN (skipped; positions refer to
        the sequence as given).
    direction
        ``"lower"`` or ``"higher"`` (which way is better), a threshold operator
        (``"<="`` means lower is better), or ``None`` (changes are labelled ``"change"``).
    min_segment
        Fewest finite values a new level must last to count (a shorter excursion is an
        outlier, not a change); the series needs twice as many to be judged.
    alpha
        Largest p-value of a change point reported (corrected for the search over
        positions).
    min_effect
        Smallest change reported, in noise standard deviations.
    window
        Values each side of a change point used by its test.
    clip
        Values further than this many noise standard deviations from the running median
        are pulled back to it before detection.
    max_change_points
        Report at most this many (the most significant).

    Returns
    -------
    SeriesAnalysis
        ``status`` is ``"not enough data"`` (with ``reason``) for a series too short,
        all NaN or constant.

    Raises
    ------
    ValueError
        For an unknown direction or settings out of range.
    """
    settings = Settings(min_segment, alpha, min_effect, window, clip, max_change_points)
    return _analyse(values, direction, settings, with_segments=True)


def change_points(
    values: Values,
    direction: str | None = None,
    *,
    min_segment: int = DEFAULTS.min_segment,
    alpha: float = DEFAULTS.alpha,
    min_effect: float = DEFAULTS.min_effect,
    window: int = DEFAULTS.window,
    clip: float = DEFAULTS.clip,
    max_change_points: int | None = None,
) -> list[ChangePoint]:
    """The change points of a series, in order (empty when none or not enough data).

    Same arguments as `analyse_series`, which also says why a series could not be judged.
    """
    settings = Settings(min_segment, alpha, min_effect, window, clip, max_change_points)
    return list(_analyse(values, direction, settings, with_segments=False).change_points)


def _analyse(
    values: Values, direction: str | None, settings: Settings, *, with_segments: bool
) -> SeriesAnalysis:
    normalised = as_direction(direction)
    _check(settings)
    x, positions, n = finite_values(values)

    def insufficient(reason: str) -> SeriesAnalysis:
        return SeriesAnalysis(INSUFFICIENT, reason, (), (), n, int(x.size), None, normalised)

    need = 2 * settings.min_segment
    if x.size == 0:
        return insufficient("no finite values" if n else "the series is empty")
    if x.size < need:
        return insufficient(
            f"{x.size} finite value{'s' if x.size != 1 else ''}; at least {need} are needed "
            f"(two segments of min_segment={settings.min_segment})"
        )
    if float(np.ptp(x)) == 0.0:
        return insufficient(f"all {x.size} finite values are equal ({x[0]:g})")
    # Detection runs on the series centred on its median and divided by its noise, so a
    # series and the same series times any power of two give bit-identical verdicts, and
    # values near 1e+300 or 1e-300 neither overflow nor underflow in the sums of squares.
    centre = float(np.median(x))
    scale = noise_sigma(x)
    if not (math.isfinite(scale) and scale > 0):
        return insufficient(f"the spread of the values cannot be computed (noise {scale:g})")
    standard = (x - centre) / scale
    sigma = noise_sigma(standard)
    found, drifts = _steps_and_drifts(standard, sigma, settings)
    splits = [
        Split(s.index, s.before * scale + centre, s.after * scale + centre, s.p_value)
        for s in found
    ]
    noise = sigma * scale
    points = tuple(_change_point(positions, split, noise, normalised) for split in splits)
    segments = _segments(x, positions, n, [s.index for s in splits]) if with_segments else ()
    found_drifts = tuple(
        _drift(positions, n, drift, scale, centre, sigma, normalised) for drift in drifts
    )
    return SeriesAnalysis(
        OK, None, points, segments, n, int(x.size), noise, normalised, found_drifts
    )


_DRIFT_CHAIN = 2
"""Change points in a row, all the same way, that may be a drift rather than steps."""


@dataclass(frozen=True, slots=True)
class _Trend:
    """A drift over the finite values ``[start, stop)``, between two levels."""

    start: int
    stop: int
    first: float
    last: float


def _steps_and_drifts(
    x: FloatArray, sigma: float, settings: Settings
) -> tuple[list[Split], list[_Trend]]:
    """The change points of the standardised values *x*, with drifts told apart.

    A smooth trend looks like a staircase to a detector of steps. Where the change points
    found at the candidates' level run three or more in a row the same way, each of them
    is tested again as a jump on top of a local straight line (`_jump_over_slope`): one
    that is no jump once the slope is allowed for is a knot of a drift, not a change
    point. Consecutive knots make one drift. Both the runs and the tests come from the
    candidates' level, the same for every ``alpha``, so a stricter ``alpha`` still finds
    a subset of what a laxer one finds.
    """
    splits, lax, clipped = detect_with_candidates(x, sigma, settings)
    seasonal = _season(clipped, settings, lax)
    if seasonal is not None:
        x = x - seasonal
        sigma = noise_sigma(x) or sigma
        splits, lax, clipped = detect_with_candidates(x, sigma, settings)
    runs = _monotone_runs(lax)
    if not runs:
        return splits, []
    bounds = [0, *(s.index for s in lax), x.size]
    knots: set[int] = set()
    trends = []
    for i, j in runs:
        knot_run: list[int] = []
        edges = bounds[i : j + 3]  # the run's segments: from its first level to its last
        p_values = _jumps_over_slope(clipped, edges, settings.min_effect, settings.window)
        if p_values is None:
            continue
        for k, p in zip(range(i, j + 1), p_values, strict=True):
            # Each change point of the run is a chance for a false jump: Bonferroni.
            if p * (j - i + 1) >= settings.alpha:
                knots.add(lax[k].index)
                knot_run.append(k)
            elif knot_run:
                trends.append(_trend(lax, bounds, knot_run))
                knot_run = []
        if knot_run:
            trends.append(_trend(lax, bounds, knot_run))
    kept = [s for s in splits if s.index not in knots]
    return kept, [t for t in trends if abs(t.last - t.first) >= settings.min_effect]


_SEASON_MIN_STEPS = 4
"""Fewest change points at the candidates' level before a periodic component is tried."""


def _season(y: FloatArray, settings: Settings, lax: list[Split]) -> FloatArray | None:
    """The periodic component of the clipped values *y*, when one sinusoid explains them
    better than the staircase of change points found at the candidates' level; else
    ``None``.

    The period is the strongest of the periodogram between ``2 * min_segment`` values and
    half the series (two whole periods at least). The two models are compared by the
    Bayesian information criterion on the clipped values: the sinusoid costs 4 parameters
    (level, two amplitudes, frequency), the staircase 2 per change point and 1 per level.
    A season is a property of the series, not of ``alpha``: it is decided from the
    candidates' change points.
    """
    n = y.size
    if len(lax) < _SEASON_MIN_STEPS or n < 4 * settings.min_segment:
        return None
    centred = y - np.mean(y)
    power = np.abs(np.fft.rfft(centred)) ** 2
    lowest = 2  # two whole periods
    highest = n // (2 * settings.min_segment)
    if highest < lowest:
        return None
    peak = lowest + int(np.argmax(power[lowest : highest + 1]))
    t = np.arange(n, dtype=np.float64)
    # The periodogram's grid is 1/n: refine the frequency between its neighbours,
    # coarse then fine.
    best = (math.inf, float(peak))
    for half_width in (1.0, 0.25):
        centre = best[1]
        grid = np.linspace(centre - half_width, centre + half_width, 9)
        for k in grid[(grid >= lowest) & (grid <= highest)]:
            best = min(best, (_sinusoid_fit(y, t, float(k) / n)[0], float(k)))
    season_rss, periodic = _sinusoid_fit(y, t, best[1] / n)
    steps_rss = _staircase_rss(y, [0, *(s.index for s in lax), n])
    if season_rss <= 0 or steps_rss <= 0:
        return None
    log_n = math.log(n)
    season_bic = n * math.log(season_rss / n) + 4 * log_n
    steps_bic = n * math.log(steps_rss / n) + (2 * len(lax) + 1) * log_n
    return periodic if season_bic < steps_bic else None


def _staircase_rss(y: FloatArray, edges: list[int]) -> float:
    """Residual sum of squares of ``y[edges[0]:edges[-1]]`` about the mean of each
    segment ``[edges[s], edges[s+1])``: how well a staircase with those steps fits."""
    return sum(float(np.sum((y[a:b] - np.mean(y[a:b])) ** 2)) for a, b in itertools.pairwise(edges))


def _sinusoid_fit(y: FloatArray, t: FloatArray, frequency: float) -> tuple[float, FloatArray]:
    """Least squares of ``y = a + b cos(2 pi f t) + c sin(2 pi f t)``: the residual sum
    of squares and the periodic part ``b cos + c sin``."""
    angle = (2.0 * math.pi * frequency) * t
    design = np.vstack([np.ones_like(t), np.cos(angle), np.sin(angle)])
    gram = design @ design.T
    moments = design @ y
    try:
        coef = np.linalg.solve(gram, moments)
    except np.linalg.LinAlgError:
        return math.inf, np.zeros_like(y)
    rss = float(y @ y - moments @ coef)
    return max(rss, 0.0), coef[1:] @ design[1:]


def _trend(lax: list[Split], bounds: list[int], run: list[int]) -> _Trend:
    return _Trend(bounds[run[0]], bounds[run[-1] + 2], lax[run[0]].before, lax[run[-1]].after)


def _monotone_runs(lax: list[Split]) -> list[tuple[int, int]]:
    """``(first, last)`` of each run of at least `_DRIFT_CHAIN` change points in a row
    whose steps all go the same way."""
    runs = []
    i = 0
    while i < len(lax):
        sign = np.sign(lax[i].after - lax[i].before)
        j = i
        while j + 1 < len(lax) and np.sign(lax[j + 1].after - lax[j + 1].before) == sign:
            j += 1
        if j - i + 1 >= _DRIFT_CHAIN and sign != 0:
            runs.append((i, j))
        i = j + 1
    return runs


def _jumps_over_slope(
    y: FloatArray, edges: list[int], min_effect: float, window: int
) -> list[float] | None:
    """p-values of the jumps at ``edges[1:-1]`` on top of a smooth trend, or ``None``
    when the run is a staircase, not a trend.

    Over ``y[edges[0]:edges[-1]]`` two models are compared by the Bayesian information
    criterion: a quadratic trend (3 parameters) and the staircase of the run's levels
    (one level per segment and two parameters per change point: its size and its place,
    which was searched for). A staircase keeps its change points. Under a trend, each
    jump is the difference of the means of what the trend leaves over the same number
    of values either side (as far as the run's ends, at most *window*): a curve bends the
    same way on both sides and leaves no jump. Its t statistic is two-sided, with the
    noise of the trend fit, and doubled for the choice of the place. A jump smaller than
    *min_effect* noise sigmas has p-value 1.
    """
    lo, hi = edges[0], edges[-1]
    m, cuts = hi - lo, len(edges) - 2
    if m < 8:
        return None
    part = y[lo:hi]
    t = np.linspace(-1.0, 1.0, m)
    design = np.vstack([np.ones(m), t, t * t]).T
    coef, *_ = np.linalg.lstsq(design, part, rcond=None)
    residual = part - design @ coef
    trend_rss = float(residual @ residual)
    steps_rss = _staircase_rss(y, edges)
    if not (trend_rss > 0 and steps_rss > 0):
        return None
    log_m = math.log(m)
    trend_bic = m * math.log(trend_rss / m) + 3 * log_m
    steps_bic = m * math.log(steps_rss / m) + (3 * cuts + 1) * log_m
    if steps_bic < trend_bic:
        return None
    p_values = []
    for s in range(1, cuts + 1):
        split = edges[s] - lo
        half = min(split, m - split, window)
        p_values.append(_jump_over_curve(part[split - half : split + half], min_effect))
    return p_values


def _jump_over_curve(y: FloatArray, min_effect: float) -> float:
    """p-value of a jump in the middle of *y* on top of a local quadratic curve.

    Least squares of ``y = a + b t + c t**2 + d [t >= 0]`` with ``t`` centred on the
    middle; the t statistic of ``d`` with ``len(y) - 4`` degrees of freedom, two-sided,
    doubled for the choice of the place. A jump under *min_effect* has p-value 1.
    """
    m = y.size
    if m < 8:
        return 0.0
    t = np.arange(m, dtype=np.float64) - m // 2 + 0.5
    t /= m
    design = np.vstack([np.ones(m), t, t * t, (t > 0).astype(np.float64)]).T
    coef, *_ = np.linalg.lstsq(design, y, rcond=None)
    jump = float(coef[3])
    if abs(jump) < min_effect:
        return 1.0
    residual = y - design @ coef
    df = m - 4
    variance = float(residual @ residual) / df
    try:
        inverse = np.linalg.inv(design.T @ design)
    except np.linalg.LinAlgError:
        return 0.0
    se2 = variance * float(inverse[3, 3])
    if not se2 > 0:
        return 0.0
    return min(1.0, 2.0 * student_sf(abs(jump) / math.sqrt(se2), df) * 2.0)


def _drift(
    positions: IntArray,
    n: int,
    trend: _Trend,
    scale: float,
    centre: float,
    sigma: float,
    direction: Direction | None,
) -> Drift:
    before = trend.first * scale + centre
    after = trend.last * scale + centre
    size = after - before
    return Drift(
        start=0 if trend.start == 0 else int(positions[trend.start]),
        stop=n if trend.stop >= positions.size else int(positions[trend.stop]),
        before=before,
        after=after,
        size=size,
        effect_size=(trend.last - trend.first) / sigma,
        kind=kind_of(size, direction),
    )


def _check(settings: Settings) -> None:
    ms, window = settings.min_segment, settings.window
    if int(ms) != ms or ms < 2:
        raise ValueError(f"min_segment must be an integer of 2 or more, not {ms!r}")
    if not 0 < settings.alpha < 1:
        raise ValueError(f"alpha must be between 0 and 1, not {settings.alpha!r}")
    if not settings.min_effect >= 0:
        raise ValueError(f"min_effect must be 0 or more, not {settings.min_effect!r}")
    if int(window) != window or window < 2:
        raise ValueError(f"window must be an integer of 2 or more, not {window!r}")
    if not settings.clip > 0:
        raise ValueError(f"clip must be positive, not {settings.clip!r}")
    limit = settings.max_change_points
    if limit is not None and (int(limit) != limit or limit < 0):
        raise ValueError(f"max_change_points must be 0 or more, or None, not {limit!r}")


def _change_point(
    positions: IntArray, split: Split, sigma: float, direction: Direction | None
) -> ChangePoint:
    size = split.after - split.before
    return ChangePoint(
        index=int(positions[split.index]),
        previous_index=int(positions[split.index - 1]),
        before=split.before,
        after=split.after,
        size=size,
        relative_size=size / abs(split.before) if split.before else None,
        effect_size=size / sigma,
        p_value=split.p_value,
        kind=kind_of(size, direction),
    )


def _segments(x: FloatArray, positions: IntArray, n: int, splits: list[int]) -> tuple[Segment, ...]:
    bounds = [0, *splits, x.size]
    segments = []
    for i in range(len(bounds) - 1):
        part = x[bounds[i] : bounds[i + 1]]
        segments.append(
            Segment(
                start=0 if i == 0 else int(positions[bounds[i]]),
                stop=n if i == len(bounds) - 2 else int(positions[bounds[i + 1]]),
                n=int(part.size),
                median=float(np.median(part)),
                mean=float(np.mean(part)),
                sigma=robust_sigma(part),
            )
        )
    return tuple(segments)
