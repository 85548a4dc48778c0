"""`gate`: do a few new results differ from the baseline's recent history?"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np
import numpy.typing as npt

from vigil.analysis._robust import FloatArray, as_direction, finite_values, robust_sigma, summarise
from vigil.analysis._series import change_points
from vigil.analysis._significance import student_sf
from vigil.analysis._types import INSUFFICIENT, Direction, GateResult, Summary, Verdict

__all__ = ["gate"]


def gate(
    baseline_values: Iterable[Any] | npt.ArrayLike,
    new_values: Iterable[Any] | npt.ArrayLike,
    direction: str | None = None,
    *,
    alpha: float = 0.01,
    min_effect: float = 1.0,
    min_relative: float = 0.0,
    history: int = 30,
    min_baseline: int = 5,
) -> GateResult:
    """Compare one or a few new results with the baseline's recent, stable history.

    Parameters
    ----------
    baseline_values
        The baseline series in time order (e.g. the main branch), NaN/``None`` skipped.
    new_values
        The new results (e.g. a pull request's runs); one is enough.
    direction
        ``"lower"`` or ``"higher"`` (which way is better), a threshold operator, or
        ``None``: then a significant difference is a ``"change"``.
    alpha
        Largest p-value of a regression or an improvement (one-sided in its direction;
        two-sided without a direction).
    min_effect
        Smallest difference that counts, in baseline noise standard deviations.
    min_relative
        Smallest difference that counts, as a fraction of ``|baseline median|``.
    history
        Most recent finite baseline values considered. When the baseline changed level
        within them, only the values since the change are used.
    min_baseline
        Fewest baseline values needed for a verdict.

    Returns
    -------
    GateResult
        ``verdict`` is ``"not enough data"`` (with ``reason`` and ``reason_code``) when
        there are no finite new values (``"no_value"``) or fewer than *min_baseline*
        finite baseline values (``"too_few_baseline_points"``). A constant baseline (a
        deterministic metric: every value used is the same) is judged exactly
        (``method == "exact"``): new values whose median differs from it are a
        regression, an improvement or a change by *direction*, however small the
        difference (*min_relative* still applies); ``p_value`` is then 0 (1 when equal)
        and ``effect_size`` ``None``.
    """
    normalised = as_direction(direction)
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be between 0 and 1, not {alpha!r}")
    if min_effect < 0 or min_relative < 0:
        raise ValueError("min_effect and min_relative must be 0 or more")
    if history < 2 or min_baseline < 2 or min_baseline > history:
        raise ValueError(
            f"history ({history!r}) and min_baseline ({min_baseline!r}) must be 2 or more, "
            "with min_baseline <= history"
        )
    values, positions, length = finite_values(baseline_values)
    new, _, _ = finite_values(new_values)
    start = _stable_start(values, history, min_baseline)
    base = values[start:]
    base_summary, new_summary = summarise(base), summarise(new)
    base_start = int(positions[start]) if base.size else None

    def insufficient(reason: str, code: str) -> GateResult:
        return GateResult(
            INSUFFICIENT,
            None,
            None,
            None,
            None,
            base_summary,
            new_summary,
            base_start,
            f"not enough data: {reason}",
            reason,
            reason_code=code,
        )

    if new.size == 0:
        return insufficient("no finite new value", "no_value")
    if base.size < min_baseline:
        missing = length - values.size
        nan = f" ({missing} more {'are' if missing != 1 else 'is'} NaN)" if missing else ""
        return insufficient(
            f"{base.size} finite baseline value{'s' if base.size != 1 else ''}{nan}; "
            f"at least {min_baseline} are needed",
            "too_few_baseline_points",
        )
    difference = new_summary.median - base_summary.median
    relative = difference / abs(base_summary.median) if base_summary.median else None
    if np.all(base == base[0]):
        return _exact(base_summary, new_summary, base_start, normalised, min_relative)
    sigma = _spread(base)
    effect = difference / sigma
    # Variance of a median relative to a mean: 1 up to two values, pi/2 for more.
    scale = math.sqrt(_median_factor(new.size) / new.size + _median_factor(base.size) / base.size)
    t = effect / scale
    df = float(base.size - 1)
    verdict, p = _verdict(t, df, effect, relative, normalised, alpha, min_effect, min_relative)
    message = _message(verdict, new_summary, base_summary, sigma, effect, p)
    return GateResult(
        verdict,
        effect,
        p,
        difference,
        relative,
        base_summary,
        new_summary,
        base_start,
        message,
        noise=sigma,
        method="noise",
    )


def _exact(
    base: Summary,
    new: Summary,
    base_start: int | None,
    direction: Direction | None,
    min_relative: float,
) -> GateResult:
    """The verdict against a constant baseline: a deterministic metric, judged exactly.

    Its noise is zero, so any difference of the new median is a change (a count of 5
    every night that becomes 6); no test is needed and none could be made.
    """
    level = base.median
    difference = new.median - level
    relative = difference / abs(level) if level else None
    counts = f"{new.n} new value{'s' if new.n != 1 else ''} against {base.n} baseline values"
    if difference == 0 or (
        min_relative > 0 and relative is not None and abs(relative) < min_relative
    ):
        verdict: Verdict = "no change"
        p = 1.0
    else:
        verdict = _kind_of(difference, direction)
        p = 0.0
    if new.n > 1 and new.minimum != new.maximum:
        counts += f"; the new values range from {new.minimum:.6g} to {new.maximum:.6g}"
    what = f"median {new.median:.6g} against the constant baseline {level:.6g} ({difference:+.6g}"
    return GateResult(
        verdict,
        0.0 if difference == 0 else None,
        p,
        difference,
        relative,
        base,
        new,
        base_start,
        f"{verdict}: {what}; exact: every baseline value is the same; {counts})",
        noise=0.0,
        method="exact",
    )


def _kind_of(difference: float, direction: Direction | None) -> Verdict:
    if direction is None:
        return "change"
    worse = difference > 0 if direction == "lower" else difference < 0
    return "regression" if worse else "improvement"


def _spread(base: FloatArray) -> float:
    """Noise standard deviation of the baseline, with its tails.

    The larger of the MAD estimate and the standard deviation of the values clipped at
    five MAD sigmas: with heavy tails, single new values far out are common and the MAD
    alone would call them changes; a gross outlier in the baseline still counts little.
    """
    sigma = robust_sigma(base)
    if sigma == 0 or base.size < 3:
        return sigma
    centre = float(np.median(base))
    # In units of the MAD sigma: squares of values near 1e+200 overflow and those of
    # values near 1e-200 underflow; dividing first keeps every scale exact.
    clipped = np.clip((base - centre) / sigma, -_TAIL_CLIP, _TAIL_CLIP)
    return sigma * max(1.0, float(np.std(clipped, ddof=1)))


_TAIL_CLIP = 5.0


def _median_factor(n: int) -> float:
    return 1.0 if n <= 2 else math.pi / 2


def _stable_start(values: FloatArray, history: int, min_baseline: int) -> int:
    """First position of the recent history to compare with: the last *history* values,
    from the last change of level among them when enough values follow it."""
    start = max(0, values.size - history)
    recent = values[start:]
    for point in reversed(change_points(recent)):
        if recent.size - point.index >= min_baseline:
            return start + point.index
    return start


def _verdict(
    t: float,
    df: float,
    effect: float,
    relative: float | None,
    direction: Direction | None,
    alpha: float,
    min_effect: float,
    min_relative: float,
) -> tuple[Verdict, float]:
    large = abs(effect) >= min_effect and (
        min_relative == 0 or (relative is not None and abs(relative) >= min_relative)
    )
    if direction is None:
        p = min(1.0, 2.0 * student_sf(abs(t), df))
        return ("change" if large and p < alpha else "no change"), p
    # Positive ``worse`` means the new values moved the bad way.
    worse = t if direction == "lower" else -t
    p_worse, p_better = student_sf(worse, df), student_sf(-worse, df)
    if large and p_worse < alpha:
        return "regression", p_worse
    if large and p_better < alpha:
        return "improvement", p_better
    return "no change", min(p_worse, p_better)


def _message(
    verdict: Verdict, new: Summary, base: Summary, sigma: float, effect: float, p: float
) -> str:
    counts = f"{new.n} new value{'s' if new.n != 1 else ''} against {base.n} baseline values"
    return (
        f"{verdict}: median {new.median:.6g} against {base.median:.6g} ± {sigma:.3g} "
        f"({effect:+.2f} sigma, p = {p:.2g}; {counts})"
    )
