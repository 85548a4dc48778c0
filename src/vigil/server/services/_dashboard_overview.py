"""The overview's failing specifications: what the main line fails now, and how badly.

Besides each failing specification, the failures are summarised per metric by
requirement level (`REQUIREMENT_TAGS`, loosest first): the loosest level that some
value fails (the most serious news) and the strictest looser level that every value
passes, so that "fails design, passes minimum" stands for a wall of per-camera,
per-band and per-release variants.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..domain import JobSummary, SpecificationInfo
from ..storage import JobFilter, JobStore
from ..storage.dashboard import DashboardStore, MeasurementValue
from ._dashboard_cache import FailingSpec, Overview
from ._overview_keys import REQUIREMENT_TAGS, KeyMetric, key_metrics, richest_series
from ._specifications import evaluate, fails_further, tag_rank

__all__ = ["MetricFailures", "OverviewView", "judge_main_line", "main_line_jobs", "read_overview"]


@dataclass(slots=True)
class MetricFailures:
    """A metric's failing specifications, summarised by requirement level.

    ``failing_level`` is the loosest level (``minimum``, ``design``, ``stretch``) with a
    failing specification, None when only untagged ones fail; ``passing_level`` the
    strictest level looser than it (any level when only untagged ones fail) whose every
    verdict passes, with ``passing_spec``
    the one of its specifications that judged the most values.
    """

    metric: str
    failing: list[FailingSpec]
    """Every failing specification of the metric, the loosest first."""
    failing_level: str | None
    passing_level: str | None = None
    passing_spec: SpecificationInfo | None = None

    @property
    def headline(self) -> FailingSpec:
        """The failing specification that stands for the metric: at the failing level,
        the one most values fail (else the first failing one)."""
        at_level = [f for f in self.failing if _level(f.spec) == self.failing_level]
        return max(at_level or self.failing, key=lambda f: f.failing)

    @property
    def others(self) -> int:
        """Failing specifications tagged with no requirement level."""
        return sum(_level(f.spec) is None for f in self.failing)


@dataclass(slots=True)
class OverviewView(Overview):
    """The overview: counts, latest jobs and failures (`Overview`), with the key
    metrics' recent main-line history and the failures summarised per metric."""

    metric_failures: list[MetricFailures] = field(default_factory=list)
    key_metrics: list[KeyMetric] = field(default_factory=list)
    key_metric_total: int = 0
    """Key metrics before the limit of the page."""


def main_line_jobs(jobs: JobStore, main_branch: str, limit: int) -> list[JobSummary]:
    """The newest *limit* main-line jobs, newest first: those of *main_branch* and, as in
    the regression analysis, those naming no branch (SQuaSH's jobs)."""
    named = jobs.list_summaries(JobFilter(branch=main_branch), limit=limit)
    unnamed = [j for j in jobs.list_summaries(JobFilter(), limit=limit) if j.facts.branch is None]
    merged = {j.id: j for j in [*named, *unnamed]}
    return [merged[i] for i in sorted(merged, reverse=True)[:limit]]


def read_overview(
    store: DashboardStore,
    jobs: JobStore,
    main_branch: str,
    *,
    latest: int,
    recent: int,
    failing_limit: int,
) -> OverviewView:
    """The overview, read in the caller's transaction.

    Failures are judged on the newest job of each kind (dataset, instrument, filter,
    environment, CI job) among the *recent* newest main-line jobs; key metrics come from
    all of those jobs; *latest* jobs of any branch are listed; at most *failing_limit*
    failing specifications are kept (every one counts in the per-metric summary).
    """
    counts = store.counts()
    latest_jobs = jobs.list_summaries(JobFilter(), limit=latest)
    main_line = main_line_jobs(jobs, main_branch, recent)
    newest: dict[tuple[str | None, ...], JobSummary] = {}
    for job in main_line:
        f = job.facts
        newest.setdefault((f.dataset, f.instrument, f.filter_name, f.environment, f.ci_name), job)
    judged = {j.id: j for j in newest.values()}
    recent_values = store.job_values([j.id for j in main_line])
    richest = richest_series(main_line, recent_values)
    metas = store.metas({*judged, *(found[-1].job_id for found in richest.values())})
    specs = store.specifications_of({v.metric_name for v in recent_values})
    values = [v for v in recent_values if v.job_id in judged]
    ordered, per_metric = judge_main_line(values, specs, metas, judged)
    keys, key_total = key_metrics(main_line, richest, specs, metas)
    return OverviewView(
        counts=counts,
        latest_jobs=latest_jobs,
        failing=ordered[:failing_limit],
        failing_truncated=len(ordered) > failing_limit,
        main_branch=main_branch,
        checked_jobs=len(judged),
        metric_failures=per_metric,
        key_metrics=keys,
        key_metric_total=key_total,
    )


def _level(spec: SpecificationInfo) -> str | None:
    return next((tag for tag in REQUIREMENT_TAGS if tag in spec.tags), None)


def judge_main_line(
    values: Sequence[MeasurementValue],
    specs: Mapping[str, Sequence[SpecificationInfo]],
    metas: Mapping[int, Mapping[str, Any]],
    jobs: Mapping[int, JobSummary],
) -> tuple[list[FailingSpec], list[MetricFailures]]:
    """The specifications that *values* fail, each with how many values it judged and
    failed and its worst value, by metric and then the loosest (most serious) first;
    and the same failures summarised per metric.

    Parameters
    ----------
    values
        The measurements of the newest main-line job of each kind.
    specs
        The specifications of each metric, by metric name.
    metas
        The ``meta`` of each job, by job id.
    jobs
        The jobs of *values*, by id (the dataset of the worst value comes from them).
    """
    failing: dict[str, FailingSpec] = {}
    evaluated: dict[str, int] = {}
    # (metric, level) -> [verdicts, failures]
    levels: dict[tuple[str, str], list[int]] = {}
    for value in values:
        meta = metas.get(value.job_id, {})
        for verdict in evaluate(value, specs.get(value.metric_name, ()), meta):
            name = verdict.spec.name
            judged = verdict.status in ("pass", "fail")
            evaluated[name] = evaluated.get(name, 0) + judged
            level = _level(verdict.spec)
            if level is not None and judged:
                counts = levels.setdefault((value.metric_name, level), [0, 0])
                counts[0] += 1
                counts[1] += verdict.status == "fail"
            if verdict.status != "fail" or value.value is None:
                continue
            entry = failing.get(name)
            worse = entry is None or fails_further(verdict.spec, value.value, entry.worst_value)
            if entry is None:
                entry = failing[name] = FailingSpec(
                    verdict.spec, 0, 0, value.value, value.unit, value.job_id, None
                )
            entry.failing += 1
            if worse:
                entry.worst_value, entry.unit = value.value, value.unit
                entry.worst_job_id = value.job_id
                entry.dataset = jobs[value.job_id].facts.dataset
    for name, entry in failing.items():
        entry.evaluated = evaluated[name]
    ordered = sorted(
        failing.values(), key=lambda f: (f.spec.metric_name, tag_rank(f.spec), f.spec.name)
    )
    return ordered, _per_metric(ordered, levels, specs, evaluated)


def _per_metric(
    ordered: Sequence[FailingSpec],
    levels: Mapping[tuple[str, str], Sequence[int]],
    specs: Mapping[str, Sequence[SpecificationInfo]],
    evaluated: Mapping[str, int],
) -> list[MetricFailures]:
    by_metric: dict[str, list[FailingSpec]] = {}
    for f in ordered:
        by_metric.setdefault(f.spec.metric_name, []).append(f)
    out = []
    for metric, found in by_metric.items():
        failed = [t for t in REQUIREMENT_TAGS if levels.get((metric, t), (0, 0))[1]]
        summary = MetricFailures(metric, found, failed[0] if failed else None)
        # Only levels looser than the one failed (each, when only untagged ones fail).
        looser = (
            REQUIREMENT_TAGS[: REQUIREMENT_TAGS.index(failed[0])] if failed else REQUIREMENT_TAGS
        )
        for level in reversed(looser):
            judged, failures = levels.get((metric, level), (0, 0))
            if judged and not failures:
                at_level = [s for s in specs.get(metric, ()) if _level(s) == level]
                summary.passing_level = level
                summary.passing_spec = max(
                    sorted(at_level, key=lambda s: s.name),
                    key=lambda s: evaluated.get(s.name, 0),
                )
                break
        out.append(summary)
    # The most serious first: a failed minimum before a failed design, then by name.
    rank = {level: i for i, level in enumerate(REQUIREMENT_TAGS)}
    return sorted(out, key=lambda m: (rank.get(m.failing_level or "", len(rank)), m.metric))
