"""Regressions, their triage, subscriptions and notifications: dataclasses and pure rules."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Final, Protocol, cast

import re2

from .jobs import Package
from .series import SeriesInfo

__all__ = [
    "CHANNELS",
    "GROUPINGS",
    "KINDS",
    "NOTIFY_ON",
    "STATUSES",
    "Delivery",
    "DeliveryStatus",
    "JobRef",
    "MetricPattern",
    "OutboxMessage",
    "PackageDiff",
    "QueueItem",
    "Regression",
    "RegressionDetail",
    "RegressionEvent",
    "RegressionFilter",
    "RegressionGroup",
    "RegressionMarker",
    "RegressionStatus",
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


class RegressionStatus(StrEnum):
    """Triage states a person moves a record through."""

    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    FALSE_POSITIVE = "false_positive"
    FIXED = "fixed"


STATUSES: Final = tuple(RegressionStatus)
"""Triage states a person moves a record through: every `RegressionStatus`."""

CHANNELS: Final = ("email", "webhook", "slack")

NOTIFY_ON: Final = ("confirmed", "suspected")
"""When a subscription is told of a change: once later data confirm it, or already when
it is suspected (then not again at its confirmation)."""

GROUPINGS: Final = ("commit", "job")
"""How the regression list can be grouped: by the first bad job's commit, or by that job."""
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
    specifications
        The specifications the change makes fail (a level change), or that fail with no
        change of level to explain it (``spec_failure``: one record per series).
    specification
        The first of ``specifications`` (None when there is none).
    last_good, first_bad
        The last job at the old level (or passing) and the first at the new (failing).
    fixed_by
        The first job back at the earlier level, when a later change undid this one.
    before, after, size, relative_size, effect_size, p_value
        Levels on both sides, ``after - before``, that over ``|before|``, the change in
        noise units, and the p-value of the change (change points only).
    dissolved
        Later data no longer show this change point.
    suspected
        An early warning: the newest values already look like this change, but too few
        of them to confirm it yet; later values confirm it (then False) or dissolve it.
    """

    id: int
    series: SeriesInfo
    kind: str
    status: str
    first_bad: JobRef
    last_good: JobRef | None
    specifications: list[str] = field(default_factory=list)
    before: float | None = None
    after: float | None = None
    size: float | None = None
    relative_size: float | None = None
    effect_size: float | None = None
    p_value: float | None = None
    unit: str = ""
    dissolved: bool = False
    suspected: bool = False
    trigger_job_id: int | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    fixed_by: JobRef | None = None

    @property
    def specification(self) -> str | None:
        """The first failing specification, or None."""
        return self.specifications[0] if self.specifications else None

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
    job: int | None = None
    """Records whose first bad job, or the job that fixed them, is this one."""


@dataclass(slots=True)
class RegressionGroup:
    """Records of the list that share a commit or a first bad job.

    ``key`` is the commit SHA or the job id (as text; ``""`` for records whose first bad
    job names no commit); ``job`` is the earliest first bad job of the group.
    """

    grouping: str
    key: str
    job: JobRef
    regressions: list[Regression]

    @property
    def series(self) -> int:
        """How many series the group's records are on."""
        return len({r.series.series_key for r in self.regressions})

    @property
    def counts(self) -> dict[str, int]:
        """Series per kind of record."""
        found: dict[str, set[str]] = {}
        for r in self.regressions:
            found.setdefault(r.kind, set()).add(r.series.series_key)
        return {kind: len(keys) for kind, keys in sorted(found.items())}

    @property
    def label(self) -> str:
        """``commit 0c1d956: 15 series regressed, 1 fails a specification``."""
        words = {
            "regression": "regressed",
            "improvement": "improved",
            "change": "changed",
            "spec_failure": "fail{s} a specification",
        }
        parts = []
        for kind, count in self.counts.items():
            verb = words.get(kind, kind).replace("{s}", "s" if count == 1 else "")
            parts.append(f"{count} series {verb}")
        if self.grouping == "commit":
            head = f"commit {self.key[:7]}" if self.key else "no commit recorded"
        else:
            head = f"job {self.key}"
        return f"{head}: {', '.join(parts)}"


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
    notify_on: str = "confirmed"


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
    #: One of `NOTIFY_ON`.
    notify_on: str = "confirmed"
    created_at: datetime | None = None
    #: The signing key of a webhook subscription: set only in the answer to creating
    #: the subscription or rotating its key, never read back otherwise.
    secret: str | None = field(default=None, repr=False)
    secret_created_at: datetime | None = None
    #: Its latest delivery (None: nothing sent yet, or not a webhook or Slack one).
    last_delivery: Delivery | None = None
    _compiled: MetricPattern | None = field(default=None, repr=False, compare=False)

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
    specifications: list[str] = field(default_factory=list)
    fixed_by_job_id: int | None = None
    before: float | None = None
    size: float | None = None
    suspected: bool = False


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
    #: The network detail of the last failure (administrators only).
    error_detail: str | None = None
    #: The webhook or Slack subscription the message is for (signed with its secret).
    subscription_id: int | None = None
    dedupe_key: str = ""


class DeliveryStatus(StrEnum):
    """How far a message to a subscription got."""

    PENDING = "pending"
    """Not tried yet."""
    RETRYING = "retrying"
    FAILED = "failed"
    """Given up."""
    DELIVERED = "delivered"


@dataclass(slots=True)
class Delivery:
    """How the latest message to a subscription fared.

    ``error`` is the reason of the last failure without network detail (``connection
    failed``, ``HTTP 500``, ``refused: private address``); ``error_detail`` says more and
    is only filled for administrators.
    """

    message_id: int
    status: DeliveryStatus
    attempts: int
    created_at: datetime
    delivered_at: datetime | None = None
    next_attempt_at: datetime | None = None
    error: str | None = None
    error_detail: str | None = None


_MAX_PATTERN = 1024


class MetricPattern(Protocol):
    """A compiled metric pattern: what `compile_metric_pattern` returns (an RE2 regex)."""

    def fullmatch(self, text: str, /) -> object | None:
        """The match of the whole of *text*, or None."""


def compile_metric_pattern(text: str) -> MetricPattern:
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
    # RE2, not re: a user's expression (or a glob of many *) then matches in linear time.
    if text.startswith("re:"):
        try:
            return cast(MetricPattern, re2.compile(text[3:], _RE2_OPTIONS))
        except re2.error as exc:
            raise ValueError(
                f"the regular expression {text[3:]!r} is invalid: {_re2_reason(exc)} (RE2"
                " syntax: no backreferences or lookarounds)"
            ) from None
    try:
        return cast(MetricPattern, re2.compile(_glob_to_regex(text), _RE2_OPTIONS))
    except re2.error as exc:
        raise ValueError(f"the glob {text!r} is invalid: {_re2_reason(exc)}") from None


_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.log_errors = False


def _re2_reason(exc: Exception) -> str:
    reason = exc.args[0] if exc.args else ""
    return reason.decode("utf-8", "replace") if isinstance(reason, bytes) else str(reason)


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
