"""`suspect`: an early warning on the newest values of a series, before a change can be
confirmed.

A change point needs ``min_segment`` values of the new level before `analyse_series`
can confirm it. The newest one to ``min_segment - 1`` values can already be far from the
current level: each run of ``k`` newest values is tested with a one-sided z statistic
against the level and noise of the values before it. See ``docs/analysis.md``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np
import numpy.typing as npt

from vigil.analysis._edivisive import Settings
from vigil.analysis._robust import as_direction, finite_values, robust_sigma
from vigil.analysis._series import DEFAULTS, _analyse, kind_of
from vigil.analysis._types import Suspicion

__all__ = ["SUSPECT_Z", "SUSPECT_Z_RUN", "suspect"]

SUSPECT_Z = 2.75
"""Default threshold of `suspect` for the newest value alone, in noise sigmas: a jump of
4 sigmas is suspected on its first run 9 times in 10 (``4 - 1.28``); a flat Gaussian
series raises a false suspicion on about 0.3 % of runs per direction watched."""

SUSPECT_Z_RUN = 3.5
"""Default threshold of `suspect` for a run of 2 or more newest values, in standard
errors: a 3-sigma step is suspected within 3 runs more than 9 times in 10 (``3 sqrt(3)``
is 5.2), and the runs add little to the false suspicions of the newest value alone."""


def suspect(
    values: Iterable[Any] | npt.ArrayLike,
    direction: str | None = None,
    *,
    z: float = SUSPECT_Z,
    z_run: float = SUSPECT_Z_RUN,
    min_segment: int = DEFAULTS.min_segment,
    window: int = DEFAULTS.window,
) -> Suspicion | None:
    """Whether the newest values of a series already look like a change.

    Parameters
    ----------
    values
        The series in time order, newest last (``None`` and NaN are skipped).
    direction
        Which way is better; with a direction only a move the bad way is suspected,
        without one either way is.
    z, z_run
        Thresholds of the statistic ``(mean of the k newest - level) / (noise / sqrt(k))``
        for the newest value alone (``k = 1``) and for runs (``k = 2 .. min_segment - 1``).
    min_segment
        As in `analyse_series`: from this many new values on, a change is judged there.
    window
        Values of the current level used to estimate it (since its last change point).

    Returns
    -------
    Suspicion or None
        The strongest run of newest values past the threshold, or ``None`` when there is
        none or the values before them cannot be judged (fewer than ``2 * min_segment``,
        constant, ...).

    Raises
    ------
    ValueError, TypeError
        As `analyse_series` for bad values or settings, or a threshold that is not
        positive.
    """
    if not (z > 0 and z_run > 0):
        raise ValueError(f"z and z_run must be positive, not {z!r} and {z_run!r}")
    normalised = as_direction(direction)
    x, positions, _ = finite_values(values)
    best: Suspicion | None = None
    for k in range(1, min_segment):
        if x.size < 2 * min_segment + k:
            break
        before, newest = x[:-k], x[-k:]
        level, noise = _current_level(before, normalised, min_segment, window)
        if noise is None:
            continue
        shift = float(np.mean(newest)) - level
        # The newest k values must all sit on the side of the move: one outlier among
        # them is not a level.
        if not (np.all(newest > level) or np.all(newest < level)):
            continue
        statistic = shift / (noise / math.sqrt(k))
        kind = kind_of(shift, normalised)
        if normalised is not None and kind != "regression":
            continue
        if abs(statistic) >= (z if k == 1 else z_run) and (
            best is None or abs(statistic) > abs(best.z)
        ):
            best = Suspicion(
                index=int(positions[-k]),
                count=k,
                level=level,
                value=float(np.median(newest)),
                size=shift,
                effect_size=shift / noise,
                z=statistic,
                kind=kind,
            )
    return best


def _current_level(
    x: npt.NDArray[np.float64], direction: Any, min_segment: int, window: int
) -> tuple[float, float | None]:
    """Median of the current level (since its last change point, at most *window* values)
    and the series' noise; noise ``None`` when the values cannot be judged."""
    settings = Settings(
        min_segment, DEFAULTS.alpha, DEFAULTS.min_effect, window, DEFAULTS.clip, None
    )
    analysis = _analyse(x, direction, settings, with_segments=False)
    if not analysis.ok or analysis.noise is None or not analysis.noise > 0:
        # A constant history has no noise: any move off it is exact, not statistical,
        # and is left to the gate's exact comparison.
        return float(np.median(x)) if x.size else math.nan, None
    start = analysis.change_points[-1].index if analysis.change_points else 0
    recent = x[max(start, x.size - window) :]
    level = float(np.median(recent))
    if recent.size < 2 * min_segment:
        return level, analysis.noise
    # The standard deviation of the level's values winsorised at 3 robust sigmas: nearly
    # as efficient as the plain one on Gaussian noise (the MAD is only 37 % efficient, and
    # an underestimated noise raises false suspicions), and bounded against outliers.
    robust = robust_sigma(recent)
    if not robust > 0:
        return level, analysis.noise
    clipped = np.clip(recent, level - 3 * robust, level + 3 * robust)
    return level, float(np.std(clipped, ddof=1)) or analysis.noise
