"""The gate of ``vigil check``: a job's results against its baseline's recent history."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session

from vigil.analysis import as_direction, gate
from vigil.verify import DocumentError, Job, VerifyError
from vigil.verify.units import convert

from ..config import Settings
from ..domain import JobFacts, extract_job_facts, series_key
from ..domain.regressions import GateVerdict, SeriesValue
from ..exceptions import InvalidJobError, InvalidRequestError, JobNotFoundError, NotFoundError
from ..storage.jobs import JobStore
from ..storage.metrics import MetricStore
from ..storage.regressions import RegressionStore
from ..storage.series import SeriesStore
from .regressions import finite, line_values

__all__ = ["GateReport", "GateService"]


@dataclass(slots=True)
class GateReport:
    """The gate's verdicts on every series of a job."""

    job_id: int | None
    branch: str | None
    commit_sha: str | None
    baseline: str
    baseline_description: str
    verdicts: list[GateVerdict] = field(default_factory=list)

    @property
    def regressions(self) -> list[GateVerdict]:
        """The verdicts that are regressions."""
        return [v for v in self.verdicts if v.verdict == "regression"]


@dataclass(slots=True)
class _Measured:
    metric: str
    value: float | None
    unit: str
    data_id: dict[str, Any]


class GateService:
    """Runs the gate for a stored job or a job document."""

    def __init__(self, session: Session, settings: Settings) -> None:
        self._session = session
        self._settings = settings
        self._jobs = JobStore(session)
        self._series = SeriesStore(session)
        self._metrics = MetricStore(session)
        self._regressions = RegressionStore(session)

    def check(
        self,
        *,
        job_id: int | None = None,
        document: Any = None,
        baseline: str = "main",
        fork_commit: str | None = None,
    ) -> GateReport:
        """The verdict of every series of the job against *baseline*.

        Parameters
        ----------
        job_id, document
            A stored job, or a job document (lsst.verify Job JSON) not stored.
        baseline
            ``main`` (the default branch's recent history), ``fork-point`` (the default
            branch up to where the job's branch left it) or a branch name.
        fork_commit
            With ``fork-point``: the commit the branch left the default branch at (its
            latest main-line job is the fork point); default: the first job of the
            job's branch.
        """
        try:
            return self._check(job_id, document, baseline, fork_commit)
        finally:
            self._session.rollback()

    def _check(
        self, job_id: int | None, document: Any, baseline: str, fork_commit: str | None
    ) -> GateReport:
        if (job_id is None) == (document is None):
            raise InvalidRequestError("Send either `job_id` or a `job` document.", field="job")
        directions: dict[str, str] = {}
        if job_id is not None:
            summary = self._jobs.get_summary(job_id)
            if summary is None:
                raise JobNotFoundError(f"No job has the id {job_id}.")
            facts = summary.facts
            measured = [
                _Measured(m.metric_name, m.value, m.unit, m.data_id)
                for m in self._jobs.list_measurements(job_id=job_id)
            ]
            time = facts.run_at or summary.created_at
        else:
            job = _parse(document)
            facts = extract_job_facts(job.meta)
            measured = [
                _Measured(m.metric, m.value, m.unit, dict(m.data_id)) for m in job.measurements
            ]
            directions = {n: m.direction for n, m in job.metrics.items() if m.direction}
            for spec in job.specs.values():
                if spec.direction and spec.metric_name not in directions:
                    directions[spec.metric_name] = spec.direction
            time = facts.run_at or datetime.now(UTC)
        until, description = self._baseline_end(baseline, facts, job_id, time, fork_commit)
        report = GateReport(
            job_id=job_id,
            branch=facts.branch,
            commit_sha=facts.commit_sha,
            baseline=baseline,
            baseline_description=description,
        )
        metrics = self._metrics.get_many({m.metric for m in measured})
        for m in measured:
            metric = metrics.get(m.metric)
            unit = metric.unit if metric is not None else m.unit
            direction = as_direction(
                (metric.direction if metric is not None else None) or directions.get(m.metric)
            )
            report.verdicts.append(
                self._verdict(m, facts, unit, direction, baseline, until, job_id)
            )
        report.verdicts.sort(key=lambda v: (v.verdict != "regression", v.metric, str(v.data_id)))
        return report

    def _baseline_end(
        self,
        baseline: str,
        facts: JobFacts,
        job_id: int | None,
        time: datetime,
        fork_commit: str | None,
    ) -> tuple[tuple[datetime, int] | None, str]:
        default = self._settings.default_branch
        if baseline in ("main", default):
            return (time, job_id or 2**62), f"{default} before the job"
        if baseline != "fork-point":
            return (time, job_id or 2**62), f"branch {baseline} before the job"
        if fork_commit:
            found = self._series.job_id_range_for_commit(fork_commit)
            if found is None:
                raise NotFoundError(
                    f"No job ran on a commit starting with {fork_commit!r}; give a commit"
                    f" of {default} that has results, or use --baseline main."
                )
            fork = self._regressions.job_refs([found[1]])[found[1]]
            return (fork.time, fork.id), f"{default} up to commit {fork_commit[:10]}"
        if facts.branch and facts.branch != default:
            first = self._regressions.first_job_of_branch(facts.branch)
            if first is not None:
                return (first.time, first.id), (
                    f"{default} up to the first job of {facts.branch} (job {first.id})"
                )
        return (time, job_id or 2**62), f"{default} before the job"

    def _verdict(
        self,
        m: _Measured,
        facts: JobFacts,
        unit: str,
        direction: str | None,
        baseline: str,
        until: tuple[datetime, int] | None,
        job_id: int | None,
    ) -> GateVerdict:
        key = series_key(m.metric, facts.dataset, facts.instrument, m.data_id)
        value = m.value
        if value is not None and m.unit != unit:
            try:
                value = convert(value, m.unit, unit)
            except (VerifyError, ValueError):
                value = None
        series = self._series.get_by_key(key)
        history: list[SeriesValue] = []
        if series is not None:
            main = baseline in ("main", "fork-point", self._settings.default_branch)
            branch = self._settings.default_branch if main else baseline
            history = line_values(self._regressions, series.id, branch, unit, main_line=main)
        if until is not None:
            history = [h for h in history if (h.time, h.job_id) < until and h.job_id != job_id]
        size = self._settings.gate_baseline_size
        values = [h.value for h in history[-size:]]
        result = gate(values, [value], direction, history=size)
        return GateVerdict(
            metric=m.metric,
            dataset=facts.dataset,
            instrument=facts.instrument,
            data_id=m.data_id,
            series_key=key,
            value=value,
            unit=unit,
            direction=direction,
            verdict=result.verdict,
            baseline_count=result.baseline.n,
            baseline_median=finite(result.baseline.median),
            difference=finite(result.difference),
            relative_difference=finite(result.relative_difference),
            effect_size=finite(result.effect_size),
            p_value=finite(result.p_value),
            message=result.message,
        )


def _parse(document: Any) -> Job:
    if not isinstance(document, dict):
        raise InvalidJobError("`job` must be a job document (a JSON object).", field="job")
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
