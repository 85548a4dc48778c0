"""Statistics of metric series: change points and a gate. Pure: sequences in, dataclasses out.

No database, no HTTP, no global state: numpy and scipy only. The method and its maths are
in ``docs/analysis.md``.

Change points
-------------
``change_points(values, direction=None, **settings) -> list[ChangePoint]``
    The lasting changes of level in a series, in time order. *values* is any sequence of
    numbers, ``None`` or NaN (skipped; ``ChangePoint.index`` is the position, in the
    sequence given, of the first value of the new level). *direction* is ``"lower"`` or
    ``"higher"`` (which way is better; threshold operators ``"<"``, ``"<="``, ``">"``,
    ``">="`` are accepted too) or ``None``. Settings: ``min_segment=5`` (fewest values a
    level must last), ``alpha=0.001``, ``min_effect=1.0`` (sigmas), ``window=50``,
    ``clip=3.0``, ``max_change_points=None``.

``analyse_series(values, direction=None, **settings) -> SeriesAnalysis``
    The same, with the levels between change points (``segments``), the noise estimate,
    and a status: ``"ok"`` or ``"not enough data"`` with a ``reason`` (too short, all NaN,
    constant). `change_points` returns ``[]`` in those cases.

``suspect(values, direction=None, *, z=2.75, z_run=3.5) -> Suspicion | None``
    An early warning on the newest values, before ``min_segment`` of them can confirm a
    change: the newest value further than ``z`` noise sigmas from the current level (a
    4-sigma jump is suspected on its first run 9 times in 10), or a run of newest values
    all on one side with a z statistic of ``z_run`` or more.

Smooth trends are reported as ``SeriesAnalysis.drifts`` (``Drift``), not as a chain of
change points, and a sinusoidal season is removed before detection. The change points
found at a stricter ``alpha`` are a subset of those found at a laxer one, and a series
times any power of two gives identical verdicts.

``ChangePoint``: ``index``, ``previous_index``, ``before``, ``after`` (medians), ``size``
(``after - before``), ``relative_size``, ``effect_size`` (in noise sigmas), ``p_value``,
``significance`` and ``kind``: ``"regression"``, ``"improvement"`` or ``"change"``.

Gate
----
``gate(baseline_values, new_values, direction=None, **settings) -> GateResult``
    Whether one or a few new results (a branch, a pull request) differ from the baseline's
    recent stable history. ``GateResult.verdict`` is ``"regression"``, ``"improvement"``,
    ``"no change"``, ``"change"`` (no direction known) or ``"not enough data"``, with
    ``effect_size``, ``p_value``, ``difference``, ``relative_difference``, ``baseline`` and
    ``new`` (`Summary`), ``noise``, ``message``, ``reason`` and ``reason_code``
    (``"no_value"``, ``"too_few_baseline_points"``), and ``method``: ``"noise"`` (a test),
    or ``"exact"`` when the baseline is constant (a deterministic metric: any difference
    is a change). Several new values (re-runs) are judged by their median. Settings:
    ``alpha=0.01``, ``min_effect=1.0``, ``min_relative=0.0``, ``history=30``,
    ``min_baseline=5``.

Comparing two values
--------------------
``difference_significance(history, a, b, n_a=1, n_b=1, average="mean") -> Difference``
    How unusual ``b - a`` is given the series' *history*: the noise of a difference (both
    sides' noise, each side a single value or the mean or median of ``n`` values),
    estimated robustly from successive differences, and a Gaussian-equivalent ``z`` whose
    ``|z| >= 3`` is as rare on unchanged data as a 3-sigma Gaussian event. ``Difference``
    holds ``difference``, ``sigma`` (one value), ``sigma_difference``, ``statistic``,
    ``degrees_of_freedom``, ``p_value``, ``z`` and ``history``.
    ``difference_sigma(history)`` is the standard deviation of a difference of two
    successive values alone; fewer than ``MIN_DIFFERENCE_HISTORY`` (5) finite history
    values give no noise.

Helpers
-------
``as_direction(d)`` normalises a direction (``"lower"``, ``"higher"``, an operator, ``None``);
``kind_of(size, direction)`` labels a change; ``finite_values(values)`` gives the finite
values, their positions and the length; ``noise_sigma(x)`` is the noise standard deviation
from first differences (robust to steps and outliers) and ``robust_sigma(x)`` the MAD one;
``DEFAULTS`` holds the detector's default `Settings`.

Example
-------
>>> from vigil.analysis import change_points, gate
>>> series = [10.0, 10.2, 9.9, 10.1, 9.8, 10.0, 10.1, 9.9, 10.2, 10.0,
...           12.1, 11.9, 12.0, 12.2, 11.8, 12.0, 12.1, 11.9, 12.0, 12.1]
>>> [(cp.index, cp.kind) for cp in change_points(series, "lower")]
[(10, 'regression')]
>>> gate(series[:10], [10.05], "lower").verdict
'no change'
"""

from vigil.analysis._difference import (
    MIN_DIFFERENCE_HISTORY,
    Difference,
    difference_sigma,
    difference_significance,
)
from vigil.analysis._early import SUSPECT_Z, suspect
from vigil.analysis._edivisive import Settings
from vigil.analysis._gate import gate
from vigil.analysis._robust import as_direction, finite_values, noise_sigma, robust_sigma
from vigil.analysis._series import DEFAULTS, analyse_series, change_points, kind_of
from vigil.analysis._types import (
    INSUFFICIENT,
    OK,
    ChangePoint,
    Direction,
    Drift,
    GateResult,
    Kind,
    Segment,
    SeriesAnalysis,
    Status,
    Summary,
    Suspicion,
    Verdict,
)

NOT_ENOUGH_DATA = INSUFFICIENT
"""The status and verdict string ``"not enough data"``."""

__all__ = [
    "DEFAULTS",
    "MIN_DIFFERENCE_HISTORY",
    "NOT_ENOUGH_DATA",
    "OK",
    "SUSPECT_Z",
    "ChangePoint",
    "Difference",
    "Direction",
    "Drift",
    "GateResult",
    "Kind",
    "Segment",
    "SeriesAnalysis",
    "Settings",
    "Status",
    "Summary",
    "Suspicion",
    "Verdict",
    "analyse_series",
    "as_direction",
    "change_points",
    "difference_sigma",
    "difference_significance",
    "finite_values",
    "gate",
    "kind_of",
    "noise_sigma",
    "robust_sigma",
    "suspect",
]
