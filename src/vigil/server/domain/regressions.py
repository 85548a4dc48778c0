"""Regressions, their triage, subscriptions and notifications: dataclasses and pure rules."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

from .jobs import Package
from .series import SeriesInfo

__all__ = [
    "CHANNELS",
    "KINDS",
    "STATUSES",
    "GateVerdict",
    "JobRef",
    "OutboxMessage",
    "PackageDiff",
    "QueueItem",
    "Regression",
    "RegressionDetail",
    "RegressionEvent",
    "RegressionFilter",
    "RegressionMarker",
    "SeriesFacts",
    "SeriesValue",
    "StoredChange",
    "Subscription",
    "SubscriptionDraft",
    "SuspectCommit",
    "compile_metric_pattern",
    "package_diff",
]

KINDS: Final = ("regression", "improvement", "change", "spec_failure")
"""What a record is: a change point (labelled by the metric's direction) or a failed spec."""

STATUSES: Final = ("open", "acknowledged", "false_positive", "fixed")
"""Triage states a person moves a record through."""

CHANNELS: Final = ("email", "webhook", "slack")
"""Where a subscription delivers: an address, a plain JSON webhook, a Slack webhook."""


@dataclass(slots=True)
class JobRef:
    """The facts of a job that a regression shows about it."""

    id: int
    time: datetime
    branch: str | None = None
    commit_sha: str | None = None
    author: str | None = None
    author_email: str | None = None
    ci_url: str | None = None
    dataset: str | None = None


@dataclass(slots=True)
class Regression:
    """A change point or a failing specification on the default branch of a series.

    Attributes
    ----------
    kind
        One of `KINDS`.
    status
        One of `STATUSES`.
    specification
        The failing specification (``spec_failure`` only).
    last_good, first_bad
        The last job at the old level (or passing) and the first at the new (failing).
    before, after, size, relative_size, effect_size, p_value
        Levels on both sides, ``after - before``, that over ``|before|``, the change in
        noise units, and the p-value of the change (change points only).
    dissolved
        Later data no longer show this change point.
    """

    id: int
    series: SeriesInfo
    kind: str
    status: str
    first_bad: JobRef
    last_good: JobRef | None
    specification: str | None = None
    before: float | None = None
    after: float | None = None
    size: float | None = None
    relative_size: float | None = None
    effect_size: float | None = None
    p_value: float | None = None
    unit: str = ""
    dissolved: bool = False
    trigger_job_id: int | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None

    @property
    def significance(self) -> float | None:
        """``1 - p_value``, or None."""
        return None if self.p_value is None else 1.0 - self.p_value


@dataclass(slots=True)
class RegressionEvent:
    """One entry of a regression's history."""

    id: int
    created_at: datetime
    user_name: str | None
    action: str
    from_status: str | None = None
    to_status: str | None = None
    note: str | None = None


@dataclass(slots=True)
class SuspectCommit:
    """A commit that ran for the first time between the last good and the first bad job."""

    sha: str
    author: str | None
    author_email: str | None
    job_ids: list[int] = field(default_factory=list)


@dataclass(slots=True)
class PackageDiff:
    """A software package that differs between the last good and the first bad job."""

    name: str
    before: Package | None
    after: Package | None

    @property
    def change(self) -> str:
        """``added``, ``removed`` or ``changed``."""
        if self.before is None:
            return "added"
        if self.after is None:
            return "removed"
        return "changed"


@dataclass(slots=True)
class RegressionDetail:
    """A regression with its suspects and history."""

    regression: Regression
    jobs: list[JobRef]
    commits: list[SuspectCommit]
    packages: list[PackageDiff]
    events: list[RegressionEvent]


@dataclass(slots=True)
class RegressionFilter:
    """Filters of the regression list; None means any."""

    status: str | None = None
    kind: str | None = None
    metric: str | None = None
    dataset: str | None = None
    series_key: str | None = None
    include_dissolved: bool = False


@dataclass(slots=True)
class RegressionMarker:
    """What a metric plot needs to mark a regression: where, what, and a link."""

    id: int
    kind: str
    status: str
    time: datetime
    job_id: int
    size: float | None
    relative_size: float | None
    specification: str | None = None


@dataclass(slots=True)
class SeriesFacts:
    """What subscriptions filter a regression's series on."""

    metric: str
    package: str | None
    tags: frozenset[str]
    dataset: str | None
    requirement: bool = False


@dataclass(slots=True)
class SubscriptionDraft:
    """A subscription as a user asks for it (validated by the service)."""

    channel: str
    target: str | None = None
    metric_pattern: str | None = None
    package: str | None = None
    tag: str | None = None
    dataset: str | None = None


@dataclass(slots=True)
class Subscription:
    """A user's wish to hear about the regressions of some series, on one channel."""

    id: int
    user_name: str
    channel: str
    target: str
    metric_pattern: str | None = None
    package: str | None = None
    tag: str | None = None
    dataset: str | None = None
    created_at: datetime | None = None
    _compiled: re.Pattern[str] | None = field(default=None, repr=False, compare=False)

    def matches(self, facts: SeriesFacts) -> bool:
        """Whether a regression of a series with *facts* concerns this subscription."""
        if self.package is not None and facts.package != self.package:
            return False
        if self.tag is not None and self.tag not in facts.tags:
            return False
        if self.dataset is not None and facts.dataset != self.dataset:
            return False
        if self.metric_pattern:
            if self._compiled is None:
                self._compiled = compile_metric_pattern(self.metric_pattern)
            return self._compiled.fullmatch(facts.metric) is not None
        return True


@dataclass(slots=True)
class GateVerdict:
    """The gate's answer for one series of a job against its baseline."""

    metric: str
    dataset: str | None
    instrument: str | None
    data_id: dict[str, Any]
    series_key: str
    value: float | None
    unit: str
    direction: str | None
    verdict: str
    baseline_count: int
    baseline_median: float | None
    difference: float | None
    relative_difference: float | None
    effect_size: float | None
    p_value: float | None
    message: str


@dataclass(slots=True)
class SeriesValue:
    """One default-branch value of a series, as the analysis reads it."""

    job_id: int
    time: datetime
    value: float | None
    unit: str


@dataclass(slots=True)
class StoredChange:
    """The columns of a stored record that reconciling it with new analysis needs."""

    id: int
    kind: str
    status: str
    specification: str | None
    first_bad_job_id: int
    last_good_job_id: int | None
    dissolved: bool


@dataclass(slots=True)
class QueueItem:
    """A series claimed from the analysis queue, and the job that asked for it."""

    series_id: int
    job_id: int | None
    version: int


@dataclass(slots=True)
class OutboxMessage:
    """A notification waiting in the outbox (or delivered)."""

    id: int
    event_key: str
    channel: str
    target: str
    payload: dict[str, Any]
    attempts: int
    created_at: datetime
    next_attempt_at: datetime | None = None
    delivered_at: datetime | None = None
    failed_at: datetime | None = None
    last_error: str | None = None


_MAX_PATTERN = 1024


def compile_metric_pattern(text: str) -> re.Pattern[str]:
    """Compile a metric name pattern: a glob (``validate_drp.PA*``) or ``re:<regex>``.

    Globs know ``*`` (any characters), ``?`` (one character) and ``[...]`` sets
    (``[!...]`` negated); they match the whole name.

    Raises
    ------
    ValueError
        The pattern is malformed; the message says where and why.
    """
    if not text or not text.strip():
        raise ValueError("the metric pattern is empty; leave it out to match every metric")
    if len(text) > _MAX_PATTERN:
        raise ValueError(f"the metric pattern is {len(text)} characters; at most 1024 are allowed")
    if text.startswith("re:"):
        try:
            return re.compile(text[3:])
        except re.error as exc:
            raise ValueError(f"the regular expression {text[3:]!r} is invalid: {exc}") from None
    try:
        return re.compile(_glob_to_regex(text))
    except re.error as exc:
        raise ValueError(f"the glob {text!r} is invalid: {exc}") from None


def _glob_to_regex(text: str) -> str:
    parts: list[str] = []
    i = 0
    while i < len(text):
        char = text[i]
        if char == "*":
            parts.append(".*")
        elif char == "?":
            parts.append(".")
        elif char == "[":
            start = i + 1
            negate = text[start : start + 1] == "!"
            if negate:
                start += 1
            # A ']' right after '[' (or '[!') is a member of the set, as in fnmatch.
            end = text.find("]", start + 1 if text[start : start + 1] == "]" else start)
            if end == -1:
                raise ValueError(
                    f"the glob {text!r} has a '[' at position {i} that is never closed by ']'"
                )
            body = text[start:end]
            if not body:
                raise ValueError(f"the glob {text!r} has an empty set '[]' at position {i}")
            escaped = body.replace("\\", "\\\\").replace("^", "\\^").replace("[", "\\[")
            parts.append(f"[{'^' if negate else ''}{escaped}]")
            i = end
        elif char == "]":
            raise ValueError(f"the glob {text!r} has a ']' at position {i} without a '['")
        else:
            parts.append(re.escape(char))
        i += 1
    return "".join(parts)


def package_diff(before: list[Package], after: list[Package]) -> list[PackageDiff]:
    """The packages added, removed or changed (version, SHA or URL), by name."""
    old = {p.name: p for p in before}
    new = {p.name: p for p in after}
    diffs = []
    for name in sorted(old.keys() | new.keys()):
        a, b = old.get(name), new.get(name)
        if a is not None and b is not None:
            if (a.version, a.git_sha, a.git_url) == (b.version, b.git_sha, b.git_url):
                continue
        diffs.append(PackageDiff(name, a, b))
    return diffs
