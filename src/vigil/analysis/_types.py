"""The dataclasses `vigil.analysis` returns, and its vocabulary."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final, Literal

__all__ = [
    "INSUFFICIENT",
    "OK",
    "ChangePoint",
    "Direction",
    "Drift",
    "GateResult",
    "Kind",
    "Segment",
    "SeriesAnalysis",
    "Status",
    "Summary",
    "Suspicion",
    "Verdict",
]

Direction = Literal["lower", "higher"]
"""Which way is better for a metric: ``"lower"`` (a latency) or ``"higher"`` (a completeness)."""

Kind = Literal["regression", "improvement", "change"]
"""What a change means: ``"change"`` when the metric has no known direction."""

Verdict = Literal["regression", "improvement", "change", "no change", "not enough data"]
"""A gate's answer; ``"change"`` only when the direction is unknown."""

Status = Literal["ok", "not enough data"]
"""Whether a series could be judged at all."""

OK: Final = "ok"
INSUFFICIENT: Final = "not enough data"


@dataclass(frozen=True, slots=True)
class ChangePoint:
    """A lasting change of level in a series.

    Attributes
    ----------
    index
        Position, in the sequence given, of the first value of the new segment.
    previous_index
        Position of the last finite value before it (the last value of the old level).
    before, after
        Medians of the old and the new level, in the metric's unit: over up to ``window``
        values either side, not beyond the neighbouring change points.
    size
        ``after - before``.
    relative_size
        ``size / |before|``; ``None`` when ``before`` is zero.
    effect_size
        ``size`` in units of the series' noise (robust standard deviation), signed.
    p_value
        Two-sided p-value of the windowed test that the two sides have the same mean,
        corrected for the search over positions (see ``docs/analysis.md``).
    kind
        ``"regression"``, ``"improvement"`` or ``"change"`` (no direction known).
    """

    index: int
    previous_index: int
    before: float
    after: float
    size: float
    relative_size: float | None
    effect_size: float
    p_value: float
    kind: Kind

    @property
    def significance(self) -> float:
        """``1 - p_value``."""
        return 1.0 - self.p_value


@dataclass(frozen=True, slots=True)
class Segment:
    """A stretch of a series at one level, between two change points.

    ``start`` and ``stop`` are positions in the sequence given (``stop`` excluded); the
    statistics use its finite values only.
    """

    start: int
    stop: int
    n: int
    median: float
    mean: float
    sigma: float


@dataclass(frozen=True, slots=True)
class Drift:
    """A slow, lasting drift of a series: a trend, not a step.

    Attributes
    ----------
    start, stop
        Positions, in the sequence given, of the first value of the drift and of the value
        after its last (``stop`` is the series' length when it lasts to the end).
    before, after
        The fitted trend's level at the first and the last value of the drift.
    size
        ``after - before``.
    effect_size
        ``size`` in units of the series' noise, signed.
    kind
        ``"regression"``, ``"improvement"`` or ``"change"`` (no direction known).
    """

    start: int
    stop: int
    before: float
    after: float
    size: float
    effect_size: float
    kind: Kind


@dataclass(frozen=True, slots=True)
class SeriesAnalysis:
    """Everything `analyse_series` found in one series.

    Attributes
    ----------
    status
        ``"ok"``, or ``"not enough data"`` when the series cannot be judged (too short,
        all NaN, constant); ``change_points`` is then empty and ``reason`` says why.
    reason
        A sentence for a user when ``status`` is not ``"ok"``, else ``None``.
    change_points
        The change points found, in order of ``index``.
    segments
        The levels between them (one more than change points; empty when not ok).
    n, n_valid
        Number of values given and of finite values among them.
    noise
        The robust noise standard deviation used for effect sizes, or ``None``.
    direction
        The direction the labels were made with.
    drifts
        Slow drifts (smooth trends) found instead of a chain of change points; a step
        inside a drift is still a change point.
    """

    status: Status
    reason: str | None
    change_points: tuple[ChangePoint, ...]
    segments: tuple[Segment, ...]
    n: int
    n_valid: int
    noise: float | None
    direction: Direction | None
    drifts: tuple[Drift, ...] = ()

    @property
    def ok(self) -> bool:
        """Whether the series could be judged."""
        return self.status == OK

    @property
    def regressions(self) -> tuple[ChangePoint, ...]:
        """The change points that are regressions."""
        return tuple(cp for cp in self.change_points if cp.kind == "regression")


@dataclass(frozen=True, slots=True)
class Summary:
    """Robust description of a set of values (finite values only)."""

    n: int
    median: float
    mean: float
    sigma: float
    minimum: float
    maximum: float

    @classmethod
    def empty(cls) -> Summary:
        """The summary of no values."""
        nan = math.nan
        return cls(0, nan, nan, nan, nan, nan)


@dataclass(frozen=True, slots=True)
class Suspicion:
    """An early warning: the newest values of a series already look like a change.

    Attributes
    ----------
    index
        Position, in the sequence given, of the first of the suspect newest values.
    count
        How many newest values make the suspicion (fewer than ``min_segment``: with more,
        `analyse_series` confirms or dismisses the change).
    level
        The current level they are compared with (median since its last change point).
    value
        Median of the suspect values.
    size
        Mean of the suspect values minus ``level``.
    effect_size
        ``size`` in noise sigmas.
    z
        ``size / (noise / sqrt(count))``, the statistic tested.
    kind
        ``"regression"``, ``"improvement"`` or ``"change"`` (no direction known).
    """

    index: int
    count: int
    level: float
    value: float
    size: float
    effect_size: float
    z: float
    kind: Kind


@dataclass(frozen=True, slots=True)
class GateResult:
    """The verdict of `gate` on new results against a baseline.

    Attributes
    ----------
    verdict
        ``"regression"``, ``"improvement"``, ``"no change"``, ``"change"`` (significant but
        no direction known) or ``"not enough data"``.
    effect_size
        ``(new median - baseline median) / baseline noise``, signed; ``None`` when not
        computable (no data, or a constant baseline the new values differ from).
    p_value
        p-value of the test behind the verdict (one-sided towards the change when the
        direction is known, two-sided otherwise); ``None`` when not computable.
    difference, relative_difference
        ``new median - baseline median`` and that over ``|baseline median|``.
    baseline, new
        Summaries of the baseline values used (its recent stable history) and of the new.
    baseline_start
        Position, in the baseline sequence given, of the first value used.
    message
        One sentence for a user.
    reason
        Why the data were not enough, else ``None``.
    noise
        The baseline noise standard deviation the effect size is in, else ``None``.
    method
        How the verdict was reached: ``"noise"`` (a test against the baseline's noise),
        ``"exact"`` (a constant baseline: any difference is a change) or ``None`` (not
        enough data).
    reason_code
        A stable name of *reason*: ``"no_value"`` (no finite new value) or
        ``"too_few_baseline_points"``; ``None`` when a verdict was made.
    """

    verdict: Verdict
    effect_size: float | None
    p_value: float | None
    difference: float | None
    relative_difference: float | None
    baseline: Summary
    new: Summary
    baseline_start: int | None
    message: str
    reason: str | None = None
    noise: float | None = None
    method: Literal["noise", "exact"] | None = None
    reason_code: str | None = None

    @property
    def is_regression(self) -> bool:
        """Whether the verdict is a regression."""
        return self.verdict == "regression"

    @property
    def enough_data(self) -> bool:
        """Whether a verdict could be made."""
        return self.verdict != INSUFFICIENT
