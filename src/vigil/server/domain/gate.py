"""The gate of ``vigil check``: verdicts per series and for a whole check, and their rules."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

from .regressions import JobRef

__all__ = [
    "BLOCKING",
    "GATE_VERDICTS",
    "MAX_GATE_JOBS",
    "NOT_JUDGED",
    "OVERALL_VERDICTS",
    "GateReport",
    "GateVerdict",
    "SpecificationCheck",
    "overall_verdict",
    "specification_status",
]

NOT_JUDGED: Final = "not judged"
"""The verdict of a series the gate could not judge; ``reason`` says why."""

GATE_VERDICTS: Final = ("regression", "improvement", "change", "no change", NOT_JUDGED)
"""A series' verdict; ``change`` is a significant or exact change of a metric without a
known direction."""

BLOCKING: Final = ("regression", "change")
"""Verdicts that fail the gate: a change without a known direction cannot be called
harmless, so it blocks like a regression until the metric is given a direction."""

OVERALL_VERDICTS: Final = ("regression", "not judged", "no regression")
"""The verdict of a whole check (exit codes 1, 2 and 0 of ``vigil check``)."""

MAX_GATE_JOBS: Final = 20
"""Most jobs (re-runs of one commit) one check judges together."""


@dataclass(slots=True)
class SpecificationCheck:
    """One specification against the baseline's level and the new value.

    ``status``: ``newly failing`` (the baseline passes, the new value fails: blocks),
    ``still failing`` (both fail: reported, not blocking), ``fixed`` (the baseline
    fails, the new value passes), ``passing`` (both pass) or ``failing`` (the new value
    fails and the baseline could not be evaluated).
    """

    name: str
    operator: str
    threshold: float
    threshold_unit: str
    status: str
    baseline_passed: bool | None
    passed: bool


@dataclass(slots=True)
class GateVerdict:
    """The gate's answer for one series of the jobs judged against their baseline."""

    metric: str
    dataset: str | None
    instrument: str | None
    data_id: dict[str, Any]
    series_key: str
    value: float | None
    unit: str
    direction: str | None
    verdict: str
    kind: str | None
    reason_code: str | None
    reason: str | None
    values: list[float | None]
    baseline_count: int
    baseline_median: float | None
    noise: float | None
    difference: float | None
    relative_difference: float | None
    effect_size: float | None
    p_value: float | None
    message: str
    specifications: list[SpecificationCheck] = field(default_factory=list)

    @property
    def blocking(self) -> bool:
        """Whether this verdict fails the gate."""
        return self.verdict in BLOCKING

    @property
    def newly_failing(self) -> list[SpecificationCheck]:
        """The specifications the baseline passes and the new value fails."""
        return [s for s in self.specifications if s.status == "newly failing"]


@dataclass(slots=True)
class GateReport:
    """The gate's verdicts on every series of one or more jobs (re-runs of one commit)."""

    job_ids: list[int | None]
    branch: str | None
    commit_sha: str | None
    dataset: str | None
    instrument: str | None
    baseline: str
    baseline_description: str
    baseline_job: JobRef | None = None
    branch_stored: bool = False
    """Whether the jobs' branch has stored jobs (its compare page can be shown)."""
    reason_code: str | None = None
    reason: str | None = None
    verdicts: list[GateVerdict] = field(default_factory=list)

    @property
    def job_id(self) -> int | None:
        """The first job judged, if it is stored."""
        return self.job_ids[0] if self.job_ids else None

    @property
    def regressions(self) -> list[GateVerdict]:
        """The verdicts that are regressions."""
        return [v for v in self.verdicts if v.verdict == "regression"]

    @property
    def blocking(self) -> list[GateVerdict]:
        """The verdicts that fail the gate (regressions and changes without direction)."""
        return [v for v in self.verdicts if v.blocking]

    @property
    def verdict(self) -> str:
        """``regression``, ``not judged`` or ``no regression`` (see `overall_verdict`)."""
        return overall_verdict(
            [v.verdict for v in self.verdicts], baseline_missing=self.reason_code is not None
        )


def overall_verdict(verdicts: list[str], *, baseline_missing: bool = False) -> str:
    """The verdict of a whole check from its series' verdicts.

    ``regression`` when any series blocks; otherwise ``not judged`` when the baseline is
    missing (no such branch, the dataset never ran on it) or no series was judged;
    otherwise ``no regression`` (series not judged among judged ones, such as a metric
    new in this change, are listed but do not fail the check).
    """
    if any(v in BLOCKING for v in verdicts):
        return "regression"
    if baseline_missing or all(v == NOT_JUDGED for v in verdicts):
        return NOT_JUDGED
    return "no regression"


def specification_status(baseline_passed: bool | None, passed: bool) -> str:
    """What a specification's results on the baseline and on the new value mean."""
    if baseline_passed is None:
        return "passing" if passed else "failing"
    if baseline_passed:
        return "passing" if passed else "newly failing"
    return "fixed" if passed else "still failing"
