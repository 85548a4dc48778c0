"""The gate of ``vigil check``: jobs (re-runs of one commit) against their baseline's
recent history.

The statistics are `vigil.analysis.gate`'s; this service gathers the values (the jobs',
the baseline's), says when a baseline is missing, and checks specifications with the one
pass/fail rule of `vigil.verify` (`ThresholdSpecification.check`, with unit conversion).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session

from vigil.analysis import GateResult, as_direction, gate
from vigil.verify import DocumentError, Job, ThresholdSpecification, VerifyError
from vigil.verify.units import convert

from ..config import Settings
from ..database import read_transaction
from ..domain import JobFacts, extract_job_facts, series_key
from ..domain.analysis_settings import AnalysisSettings
from ..domain.gate import (
    MAX_GATE_JOBS,
    NOT_JUDGED,
    GateReport,
    GateVerdict,
    SpecificationCheck,
    specification_status,
)
from ..domain.regressions import SeriesValue
from ..exceptions import InvalidJobError, InvalidRequestError, JobNotFoundError
from ..storage.jobs import JobStore
from ..storage.metrics import MetricStore, SpecificationStore
from ..storage.regressions import RegressionStore
from ..storage.series import SeriesStore
from ._specifications import threshold_specification
from .regressions import finite, line_values

__all__ = ["GateService"]

_MIN_BASELINE = 5
"""Fewest finite baseline values the noise test needs (fewer when the history is shorter)."""

_ORDER = {"regression": 0, "change": 0, NOT_JUDGED: 1, "improvement": 2, "no change": 3}


@dataclass(slots=True)
class _Measured:
    metric: str
    value: float | None
    unit: str
    data_id: dict[str, Any]


@dataclass(slots=True)
class _Run:
    """One job judged: stored (``job_id``) or a document."""

    label: str
    job_id: int | None
    facts: JobFacts
    time: datetime
    meta: dict[str, Any]
    measured: list[_Measured]
    directions: dict[str, str] = field(default_factory=dict)
    specs: list[ThresholdSpecification] = field(default_factory=list)


@dataclass(slots=True)
class _Series:
    key: str
    metric: str
    data_id: dict[str, Any]
    unit: str
    """The metric's unit, else (a metric the server does not know) the job's."""
    values: list[float | None] = field(default_factory=list)
    unit_errors: list[str] = field(default_factory=list)


@dataclass(slots=True)
class _Baseline:
    """Where the baseline ends and which line it is, or why it is missing."""

    branch: str
    main_line: bool
    until: tuple[datetime, int | None]
    """The job the baseline ends before: its time and id (None: a document, not stored,
    after every stored job of its time)."""
    description: str
    missing: tuple[str, str] | None = None


class GateService:
    """Runs the gate for stored jobs or job documents (re-runs of one commit)."""

    def __init__(
        self,
        session: Session,
        settings: Settings,
        analysis: AnalysisSettings | None = None,
        *,
        jobs: JobStore,
        series: SeriesStore,
        metrics: MetricStore,
        specs: SpecificationStore,
        regressions: RegressionStore,
    ) -> None:
        self._session = session
        self._settings = settings
        # Per-metric alpha, minimum effect and direction (VIGIL_ANALYSIS_SETTINGS_FILE).
        self._analysis = analysis if analysis is not None else AnalysisSettings()
        self._jobs = jobs
        self._series = series
        self._metrics = metrics
        self._specs = specs
        self._regressions = regressions

    def check(
        self,
        *,
        job_ids: Sequence[int] = (),
        documents: Sequence[Any] = (),
        baseline: str = "main",
        fork_commit: str | None = None,
    ) -> GateReport:
        """The verdict of every series of the jobs, judged together, against *baseline*.

        Parameters
        ----------
        job_ids, documents
            Stored jobs, and job documents (lsst.verify Job JSON) not stored: one job, or
            several re-runs of the same commit on the same dataset (at most
            `MAX_GATE_JOBS`), whose values of each series are judged together.
        baseline
            ``main`` (the default branch's recent history), ``fork-point`` (the default
            branch up to where the jobs' branch left it) or a branch name.
        fork_commit
            With ``fork-point``: the commit the branch left the default branch at (its
            latest main-line job is the fork point); default: the first job of the
            jobs' branch.

        Raises
        ------
        InvalidRequestError
            No job, too many, the same job twice, or jobs of different commits, datasets
            or instruments.
        InvalidJobError
            A job document that is not valid.
        JobNotFoundError
            A stored job that does not exist.
        """
        with read_transaction(self._session):
            return self._check(list(job_ids), list(documents), baseline, fork_commit)

    def _check(
        self, job_ids: list[int], documents: list[Any], baseline: str, fork_commit: str | None
    ) -> GateReport:
        runs = self._runs(job_ids, documents)
        first = min(runs, key=lambda r: (r.time, r.job_id or 2**62))
        facts = first.facts
        judged_ids = [r.job_id for r in runs if r.job_id is not None]
        line = self._baseline(baseline, facts, first, fork_commit)
        report = GateReport(
            job_ids=[r.job_id for r in runs],
            branch=facts.branch,
            commit_sha=facts.commit_sha,
            dataset=facts.dataset,
            instrument=facts.instrument,
            baseline=baseline,
            baseline_description=line.description,
        )
        if line.missing is None:
            report.baseline_job = self._regressions.latest_line_job(
                line.branch,
                main_line=line.main_line,
                dataset=facts.dataset,
                instrument=facts.instrument,
                before=line.until,
                exclude=judged_ids,
            )
            if report.baseline_job is None:
                line.missing = ("dataset_not_on_baseline", _never_ran(facts, line))
        if line.missing is not None:
            report.reason_code, report.reason = line.missing
        report.branch_stored = bool(judged_ids) or (
            facts.branch is not None
            and self._regressions.first_job_of_branch(facts.branch) is not None
        )
        metrics = self._metrics.get_many({m.metric for r in runs for m in r.measured})
        specs = self._specifications(runs)
        for series in self._gather(runs, metrics):
            metric = metrics.get(series.metric)
            stored_direction = metric.direction if metric is not None else None
            document_direction = next(
                (r.directions[series.metric] for r in runs if series.metric in r.directions), None
            )
            tuned_direction = self._analysis.for_metric(series.metric).direction
            report.verdicts.append(
                self._verdict(
                    series,
                    facts,
                    as_direction(tuned_direction or stored_direction or document_direction),
                    line,
                    judged_ids,
                    [
                        s
                        for s in specs.get(series.metric, ())
                        if s.query_metadata({**first.meta, **series.data_id})
                    ],
                )
            )
        report.verdicts.sort(
            key=lambda v: (_ORDER.get(v.verdict, 4), v.metric, str(sorted(v.data_id.items())))
        )
        return report

    # The jobs ---------------------------------------------------------------------------

    def _runs(self, job_ids: list[int], documents: list[Any]) -> list[_Run]:
        count = len(job_ids) + len(documents)
        if count == 0:
            raise InvalidRequestError(
                "Send the job to check: `job_id` or `job_ids` (stored jobs), or `job` or"
                " `jobs` (job documents).",
                field="job",
            )
        if count > MAX_GATE_JOBS:
            raise InvalidRequestError(
                f"{count} jobs sent; one check judges at most {MAX_GATE_JOBS} re-runs.",
                field="jobs",
            )
        twice = sorted({i for i in job_ids if job_ids.count(i) > 1})
        if twice:
            raise InvalidRequestError(
                f"Job {twice[0]} is given twice; give each re-run once.", field="job_ids"
            )
        runs = [self._stored(i) for i in job_ids]
        runs += [
            _document_run(d, f"job document {n + 1}" if len(documents) > 1 else "the job document")
            for n, d in enumerate(documents)
        ]
        _check_reruns(runs)
        return runs

    def _stored(self, job_id: int) -> _Run:
        summary = self._jobs.get_summary(job_id)
        if summary is None:
            raise JobNotFoundError(f"No job has the id {job_id}.")
        return _Run(
            label=f"job {job_id}",
            job_id=job_id,
            facts=summary.facts,
            time=summary.facts.run_at or summary.created_at,
            meta=self._jobs.get_meta(job_id),
            measured=[
                _Measured(m.metric_name, m.value, m.unit, m.data_id)
                for m in self._jobs.list_measurements(job_id=job_id)
            ],
        )

    def _gather(self, runs: list[_Run], metrics: dict[str, Any]) -> list[_Series]:
        """Each series' values over the runs, in the metric's unit, in order of appearance."""
        found: dict[str, _Series] = {}
        facts = runs[0].facts
        for run in runs:
            for m in run.measured:
                key = series_key(m.metric, facts.dataset, facts.instrument, m.data_id)
                metric = metrics.get(m.metric)
                unit = metric.unit if metric is not None else m.unit
                series = found.setdefault(key, _Series(key, m.metric, dict(m.data_id), unit))
                unit = series.unit
                value = m.value
                if value is not None and m.unit != unit:
                    try:
                        value = convert(value, m.unit, unit)
                    except (VerifyError, ValueError):
                        series.unit_errors.append(
                            f"{run.label}'s unit {m.unit!r} does not convert to the metric's"
                            f" unit {unit!r}"
                        )
                        value = None
                series.values.append(value)
        return list(found.values())

    def _specifications(self, runs: list[_Run]) -> dict[str, list[ThresholdSpecification]]:
        """The threshold specifications by metric: the stored ones, and those only the job
        documents define."""
        by_metric: dict[str, list[ThresholdSpecification]] = {}
        names: set[str] = set()
        for info in self._specs.list():
            spec = threshold_specification(info)
            if spec is not None:
                by_metric.setdefault(info.metric_name, []).append(spec)
                names.add(spec.name)
        for run in runs:
            for spec in run.specs:
                if spec.name not in names:
                    by_metric.setdefault(spec.metric_name, []).append(spec)
                    names.add(spec.name)
        return by_metric

    # The baseline -----------------------------------------------------------------------

    def _baseline(
        self, baseline: str, facts: JobFacts, first: _Run, fork_commit: str | None
    ) -> _Baseline:
        default = self._settings.default_branch
        here = (first.time, first.job_id)
        if baseline in ("main", default):
            return _Baseline(default, True, here, f"{default} before the job")
        if baseline != "fork-point":
            description = f"branch {baseline} before the job"
            line = _Baseline(baseline, False, here, description)
            if self._regressions.first_job_of_branch(baseline) is None:
                line.missing = (
                    "baseline_branch_missing",
                    f"no job ever ran on the baseline branch {baseline!r}: check its name"
                    f" (the jobs page lists branches), or use --baseline main",
                )
            return line
        if fork_commit:
            found = self._series.job_id_range_for_commit(fork_commit)
            if found is None:
                return _Baseline(
                    default,
                    True,
                    here,
                    f"{default} up to commit {fork_commit[:10]}",
                    (
                        "fork_commit_missing",
                        f"no job ran on a commit starting with {fork_commit!r}: give a"
                        f" commit of {default} that has results, or use --baseline main",
                    ),
                )
            fork = self._regressions.job_refs([found[1]])[found[1]]
            return _Baseline(
                default, True, (fork.time, fork.id), f"{default} up to commit {fork_commit[:10]}"
            )
        if facts.branch and facts.branch != default:
            first_of_branch = self._regressions.first_job_of_branch(facts.branch)
            if first_of_branch is not None:
                return _Baseline(
                    default,
                    True,
                    (first_of_branch.time, first_of_branch.id),
                    f"{default} up to the first job of {facts.branch} (job {first_of_branch.id})",
                )
        return _Baseline(default, True, here, f"{default} before the job")

    def _history(
        self, series_id: int, line: _Baseline, unit: str | None, judged: list[int]
    ) -> list[SeriesValue]:
        history = line_values(
            self._regressions, series_id, line.branch, unit, main_line=line.main_line
        )
        end, end_id = line.until
        return [
            h
            for h in history
            if (h.time < end or (h.time == end and (end_id is None or h.job_id < end_id)))
            and h.job_id not in judged
        ]

    # One series -------------------------------------------------------------------------

    def _verdict(
        self,
        series: _Series,
        facts: JobFacts,
        direction: str | None,
        line: _Baseline,
        judged: list[int],
        specs: list[ThresholdSpecification],
    ) -> GateVerdict:
        size = self._settings.gate_baseline_size
        unit = series.unit
        history: list[SeriesValue] = []
        stored = self._series.get_by_key(series.key) if line.missing is None else None
        if stored is not None:
            history = self._history(stored.id, line, unit, judged)
        tuned = self._analysis.for_metric(series.metric)
        options: dict[str, Any] = {}
        if tuned.alpha is not None:
            options["alpha"] = tuned.alpha
        if tuned.min_effect is not None:
            options["min_effect"] = tuned.min_effect
        if tuned.min_relative is not None:
            options["min_relative"] = tuned.min_relative / 100.0
        result = gate(
            [h.value for h in history[-size:]],
            series.values,
            direction,
            history=size,
            min_baseline=min(_MIN_BASELINE, size),
            **options,
        )
        verdict: str = result.verdict
        kind: str | None = "exact" if result.method == "exact" else "level"
        reason_code, reason = None, None
        if line.missing is not None:
            reason_code, reason = line.missing
        elif not history:
            reason_code = "series_not_on_baseline"
            reason = (
                f"never measured on {line.description} (a metric or dataId new on this dataset)"
            )
        elif not result.enough_data:
            reason_code, reason = _reason(result, series)
        if reason_code is not None:
            verdict, kind = NOT_JUDGED, None
        checks = _spec_checks(specs, result, unit, baseline_known=bool(history))
        message = f"not judged: {reason}" if reason is not None else result.message
        newly = [c.name for c in checks if c.status == "newly failing"]
        if newly and verdict != "regression":
            verdict, kind = "regression", "specification"
            message = f"regression: newly fails {', '.join(newly)} (the baseline passes); {message}"
        return GateVerdict(
            metric=series.metric,
            dataset=facts.dataset,
            instrument=facts.instrument,
            data_id=series.data_id,
            series_key=series.key,
            value=finite(result.new.median) if result.new.n else None,
            unit=unit,
            direction=direction,
            verdict=verdict,
            kind=kind,
            reason_code=reason_code,
            reason=reason,
            values=[finite(v) for v in series.values],
            baseline_count=result.baseline.n,
            baseline_median=finite(result.baseline.median),
            noise=finite(result.noise),
            difference=finite(result.difference),
            relative_difference=finite(result.relative_difference),
            effect_size=finite(result.effect_size),
            p_value=finite(result.p_value),
            message=message,
            specifications=checks,
        )


def _reason(result: GateResult, series: _Series) -> tuple[str, str]:
    if result.reason_code == "no_value":
        if series.unit_errors:
            return "unit_mismatch", "; ".join(series.unit_errors)
        n = len(series.values)
        what = "the job's value is" if n == 1 else f"the values of all {n} jobs are"
        return "no_value", f"{what} NaN (not a number)"
    if result.reason_code == "too_few_baseline_points":
        return "too_few_baseline_points", f"too few baseline points: {result.reason}"
    return result.reason_code or "not_judged", result.reason or "not enough data"


def _spec_checks(
    specs: list[ThresholdSpecification], result: GateResult, unit: str, *, baseline_known: bool
) -> list[SpecificationCheck]:
    """Each applicable specification on the new median and on the baseline's level."""
    if not specs or result.new.n == 0:
        return []
    checks = []
    for spec in specs:
        passed = spec.evaluate(result.new.median, unit).passed
        if passed is None:
            continue
        before = (
            spec.evaluate(result.baseline.median, unit).passed
            if baseline_known and result.baseline.n
            else None
        )
        checks.append(
            SpecificationCheck(
                name=spec.name,
                operator=spec.operator,
                threshold=spec.threshold_value,
                threshold_unit=spec.threshold_unit,
                status=specification_status(before, passed),
                baseline_passed=before,
                passed=passed,
            )
        )
    return checks


def _never_ran(facts: JobFacts, line: _Baseline) -> str:
    instrument = f" with instrument {facts.instrument!r}" if facts.instrument else ""
    return (
        f"the dataset {facts.dataset!r}{instrument} never ran on {line.description}:"
        " nothing to compare with; run it there first, or choose another --baseline"
    )


def _check_reruns(runs: list[_Run]) -> None:
    """Refuse jobs that are not re-runs of one commit on one dataset and instrument."""
    first = runs[0]
    for run in runs[1:]:
        for name, what in (
            ("commit_sha", "commit"),
            ("dataset", "dataset"),
            ("instrument", "instrument"),
        ):
            a, b = getattr(first.facts, name), getattr(run.facts, name)
            if a != b:
                raise InvalidRequestError(
                    f"The jobs are not re-runs of one commit on one dataset: {first.label}"
                    f" has {what} {a!r}, {run.label} has {b!r}. Check them one at a time.",
                    field="jobs",
                )


def _document_run(document: Any, label: str) -> _Run:
    job = _parse(document, label)
    facts = extract_job_facts(job.meta)
    directions = {n: m.direction for n, m in job.metrics.items() if m.direction}
    for spec in job.specs.values():
        if spec.direction and spec.metric_name not in directions:
            directions[spec.metric_name] = spec.direction
    return _Run(
        label=label,
        job_id=None,
        facts=facts,
        time=facts.run_at or datetime.now(UTC),
        meta=dict(job.meta),
        measured=[_Measured(m.metric, m.value, m.unit, dict(m.data_id)) for m in job.measurements],
        directions=directions,
        specs=list(job.specs.values()),
    )


def _parse(document: Any, label: str) -> Job:
    if not isinstance(document, dict):
        raise InvalidJobError(
            f"{label.capitalize()} must be a job document (a JSON object).", field="job"
        )
    try:
        job = Job.from_dict(document)
    except DocumentError as exc:
        raise InvalidJobError(
            f"Field {exc.field or 'job'} {exc.reason}.", field=exc.field
        ) from None
    except VerifyError as exc:
        raise InvalidJobError(str(exc)) from None
    if not job.measurements:
        raise InvalidJobError("The job has no measurements to check.", field="measurements")
    return job
