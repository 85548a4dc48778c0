"""Per-metric analysis settings: what a team tunes for one metric, and which rule applies.

The rules come from the YAML file of ``VIGIL_ANALYSIS_SETTINGS_FILE`` (read by
`vigil.server.services.analysis_settings.load_analysis_settings`); a metric takes the
settings of the most specific pattern that matches its name (see `specificity`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Final

__all__ = [
    "SETTING_KEYS",
    "AnalysisRule",
    "AnalysisSettings",
    "MetricAnalysisSettings",
    "specificity",
]

SETTING_KEYS: Final = (
    "alpha",
    "min_effect",
    "min_relative",
    "min_absolute",
    "min_points",
    "direction",
    "alert",
)
"""The settings a pattern may give."""

_WILDCARDS = "*?["


@dataclass(frozen=True, slots=True)
class MetricAnalysisSettings:
    """The analysis settings of one metric; ``None`` is the default of the analysis.

    Attributes
    ----------
    alpha
        Largest p-value of a change (detection and gate).
    min_effect
        Smallest change that counts, in noise sigmas.
    min_relative
        Smallest change that counts, in percent of the level before it.
    min_absolute
        Smallest change that counts, in the metric's unit.
    min_points
        Values of a new level needed to confirm a change point (``min_segment``).
    direction
        ``lower`` or ``higher`` is better, overriding the metric's.
    alert
        ``False``: records are kept but nobody is notified.
    pattern, line
        The rule they come from (``None``: no rule matched) and its line in the file.
    """

    alpha: float | None = None
    min_effect: float | None = None
    min_relative: float | None = None
    min_absolute: float | None = None
    min_points: int | None = None
    direction: str | None = None
    alert: bool = True
    pattern: str | None = None
    line: int | None = None

    def large_enough(self, size: float, before: float | None) -> bool:
        """Whether a change of *size* from the level *before* passes the relative and
        absolute minimums (each one given)."""
        if self.min_absolute is not None and abs(size) < self.min_absolute:
            return False
        if self.min_relative is not None:
            if not before:
                return False
            if abs(size) / abs(before) * 100.0 < self.min_relative:
                return False
        return True

    def given(self) -> dict[str, object]:
        """The settings the rule gives (those not left to the defaults)."""
        found: dict[str, object] = {}
        for key in SETTING_KEYS:
            value = getattr(self, key)
            if key == "alert":
                if value is False:
                    found[key] = False
            elif value is not None:
                found[key] = value
        return found


@dataclass(frozen=True, slots=True)
class AnalysisRule:
    """One entry of the settings file: a metric name pattern and its settings."""

    pattern: str
    settings: MetricAnalysisSettings
    order: int = 0

    def matches(self, metric: str) -> bool:
        """Whether *metric* is named by this rule's pattern (exact name or glob)."""
        if not any(c in self.pattern for c in _WILDCARDS):
            return metric == self.pattern
        return fnmatchcase(metric, self.pattern)


def specificity(pattern: str) -> tuple[int, int]:
    """How specific a pattern is: an exact name beats every glob; among globs, the one
    with more literal characters (those not ``*``, ``?`` or inside ``[...]``) wins.

    Two patterns equally specific that both match: the one written first in the file.
    """
    if not any(c in pattern for c in _WILDCARDS):
        return (1, len(pattern))
    literal, inside = 0, False
    for c in pattern:
        if inside:
            inside = c != "]"
        elif c == "[":
            inside = True
        elif c not in "*?":
            literal += 1
    return (0, literal)


@dataclass(frozen=True, slots=True)
class AnalysisSettings:
    """Every rule of the settings file (none: defaults everywhere) and where it came from."""

    rules: tuple[AnalysisRule, ...] = ()
    source: str | None = None
    _cache: dict[str, MetricAnalysisSettings] = field(
        default_factory=dict, repr=False, compare=False
    )

    def for_metric(self, metric: str) -> MetricAnalysisSettings:
        """The settings of *metric*: those of its most specific matching rule."""
        found = self._cache.get(metric)
        if found is None:
            best = max(
                (r for r in self.rules if r.matches(metric)),
                key=lambda r: (specificity(r.pattern), -r.order),
                default=None,
            )
            found = best.settings if best is not None else MetricAnalysisSettings()
            self._cache[metric] = found
        return found
