"""`analyse_series` and `change_points`: from a raw sequence to labelled change points."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from vigil.analysis._edivisive import Settings, Split, detect
from vigil.analysis._robust import (
    FloatArray,
    IntArray,
    as_direction,
    finite_values,
    noise_sigma,
    robust_sigma,
)
from vigil.analysis._types import (
    INSUFFICIENT,
    OK,
    ChangePoint,
    Direction,
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
    sigma = noise_sigma(x)
    splits = detect(x, sigma, settings)
    points = tuple(_change_point(positions, split, sigma, normalised) for split in splits)
    segments = _segments(x, positions, n, [s.index for s in splits]) if with_segments else ()
    return SeriesAnalysis(OK, None, points, segments, n, int(x.size), sigma, normalised)


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
