"""Input cleaning and robust estimators shared by the detector and the gate."""

from __future__ import annotations

import decimal
import math
import numbers
from collections.abc import Iterable
from typing import Any, cast

import numpy as np
import numpy.typing as npt

from vigil.analysis._types import Direction, Summary

__all__ = [
    "MAD_TO_SIGMA",
    "as_direction",
    "finite_values",
    "noise_sigma",
    "robust_sigma",
    "summarise",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]

MAD_TO_SIGMA = 1.482602218505602
"""``1 / Phi^-1(3/4)``: the MAD of a Gaussian times this is its standard deviation."""

_DIRECTION_ALIASES: dict[str, Direction] = {
    "lower": "lower",
    "lower_is_better": "lower",
    "lower is better": "lower",
    "<": "lower",
    "<=": "lower",
    "higher": "higher",
    "higher_is_better": "higher",
    "higher is better": "higher",
    ">": "higher",
    ">=": "higher",
}


def as_direction(direction: Any) -> Direction | None:
    """Normalise a direction: ``"lower"``/``"higher"``, a threshold operator, or ``None``.

    Raises
    ------
    ValueError
        For anything else, with the accepted values.
    """
    if direction is None:
        return None
    key = str(direction).strip().lower()
    if key in ("", "none", "unknown"):
        return None
    try:
        return _DIRECTION_ALIASES[key]
    except KeyError:
        raise ValueError(
            f"direction must be 'lower' or 'higher' (which way is better), a threshold "
            f"operator ('<', '<=', '>', '>=') or None, not {direction!r}"
        ) from None


def finite_values(values: Iterable[Any] | npt.ArrayLike) -> tuple[FloatArray, IntArray, int]:
    """The finite values of a sequence, their positions in it, and its length.

    ``None``, NaN and infinities are skipped (a value that was not measured).

    Raises
    ------
    TypeError
        A value is not a number: a string (even ``"1.5"``), a boolean, or another object.
    ValueError
        An integer too large for a 64-bit float (beyond about 1.8e308).
    """
    if isinstance(values, np.ndarray) and values.dtype.kind in "fiu":
        raw = values.astype(np.float64, copy=False).ravel()
        if values.dtype.kind in "iu" and raw.size and not np.isfinite(raw).all():
            raise ValueError("an integer value is beyond the range of a 64-bit float")
    else:
        if isinstance(values, np.ndarray):
            values = values.ravel().tolist()
        raw = np.array(
            [_as_float(v, i) for i, v in enumerate(cast(Iterable[Any], values))],
            dtype=np.float64,
        )
    positions = np.flatnonzero(np.isfinite(raw))
    return raw[positions], positions, int(raw.size)


def _as_float(value: Any, position: int) -> float:
    """One value of a series as a float; refuses what only looks like a number."""
    if value is None or type(value).__name__ == "NAType":  # pandas' missing value
        return math.nan
    if isinstance(value, bool | np.bool_):
        raise TypeError(f"value {position} is a boolean ({value!r}), not a number")
    if isinstance(value, float | np.floating):
        return float(value)
    if isinstance(value, int | np.integer):
        try:
            return float(value)
        except OverflowError:
            raise ValueError(
                f"value {position} is an integer beyond the range of a 64-bit float"
                f" ({len(str(abs(int(value))))} digits)"
            ) from None
    if isinstance(value, numbers.Real | decimal.Decimal):
        return float(value)
    raise TypeError(
        f"value {position} is {type(value).__name__} {_shown(value)}, not a number"
        " (convert numeric strings with float() first)"
    )


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def robust_sigma(x: FloatArray) -> float:
    """Standard deviation from the median absolute deviation, falling back to the mean
    absolute deviation (times sqrt(pi/2)) when more than half the values are equal."""
    if x.size < 2:
        return 0.0
    deviations = np.abs(x - np.median(x))
    sigma = MAD_TO_SIGMA * float(np.median(deviations))
    if sigma > 0:
        return sigma
    return math.sqrt(math.pi / 2) * float(np.mean(deviations))


def noise_sigma(x: FloatArray) -> float:
    """Noise standard deviation of a series that may hold steps: from its first differences.

    A step adds one large difference among many, which the median ignores; the difference
    of two independent values has ``sqrt(2)`` times their standard deviation.
    """
    if x.size < 3:
        return robust_sigma(x)
    return robust_sigma(np.diff(x)) / math.sqrt(2.0)


def summarise(x: FloatArray) -> Summary:
    """Robust summary of finite values."""
    if x.size == 0:
        return Summary.empty()
    return Summary(
        n=int(x.size),
        median=float(np.median(x)),
        mean=float(np.mean(x)),
        sigma=robust_sigma(x),
        minimum=float(np.min(x)),
        maximum=float(np.max(x)),
    )
