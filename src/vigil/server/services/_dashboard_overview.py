"""The overview's failing specifications: what the main line fails now, and how badly."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..domain import JobSummary, SpecificationInfo
from ..storage.dashboard import MeasurementValue
from ._dashboard_cache import FailingSpec
from ._specifications import evaluate, fails_further, tag_rank

__all__ = ["failing_specifications"]


def failing_specifications(
    values: Sequence[MeasurementValue],
    specs: Mapping[str, Sequence[SpecificationInfo]],
    metas: Mapping[int, Mapping[str, Any]],
    jobs: Mapping[int, JobSummary],
) -> list[FailingSpec]:
    """The specifications that *values* fail, each with how many values it judged and
    failed and its worst value, by metric and then the loosest (most serious) first.

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
    for value in values:
        meta = metas.get(value.job_id, {})
        for verdict in evaluate(value, specs.get(value.metric_name, ()), meta):
            name = verdict.spec.name
            evaluated[name] = evaluated.get(name, 0) + (verdict.status in ("pass", "fail"))
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
    return sorted(
        failing.values(), key=lambda f: (f.spec.metric_name, tag_rank(f.spec), f.spec.name)
    )
