"""Six months of nightly CI, as lsst.verify jobs: the demo's history and its ground truth.

Two pipelines run every night:

- **validate_drp** (Jenkins, branch ``main``) on ``validation_data_hsc`` (HSC-G, HSC-R,
  HSC-I) and ``validation_data_cfht`` (r, i): one job per dataset and filter measuring
  PA1, PA2, PF1, AM1, AM2, AD1, AF1, TE1 and TE2 for the band, plus PA1 per patch and
  AM1 per tract of HSC tract 9813.
- **deblend**, a scarlet-like deblender (GitHub Actions) on a benchmark of five HSC
  blends: a nightly run on ``main`` and a run on every push to a pull request
  (``tickets/DM-…``), measuring per-blend residuals and flux errors and the runtime.

Values are noise around realistic levels, with changes injected at known nights and
commits (`injected_changes`), a few NaN values and nights without runs. Everything is
determined by ``(seed, start)``; the first N nights do not depend on ``days``.
"""

from __future__ import annotations

import copy
import hashlib
import math
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np

from vigil.demo import _scenario as sc
from vigil.demo._timeline import Run, build_timeline, rng_for
from vigil.demo.definitions import (
    DEBLEND_METRICS,
    VALIDATE_DRP_METRICS,
    DemoDefinitions,
    load_definitions,
)
from vigil.verify import Blob, Datum, Job, ThresholdSpecification

__all__ = [
    "DEFAULT_DAYS",
    "DEFAULT_SEED",
    "DEFAULT_START",
    "DemoHistory",
    "InjectedChange",
    "generate_history",
    "injected_changes",
    "series_data_ids",
]

DEFAULT_SEED = 2026
DEFAULT_START = date(2026, 5, 25)
"""A fixed first night, so that re-running the demo produces the same job identifiers."""
DEFAULT_DAYS = 180

_STREAM_VALUES = 11
_RULE_NIGHTS = frozenset(rule.night for rule in sc.RULES if rule.scope == "main")


@dataclass(frozen=True, slots=True)
class InjectedChange:
    """A change the demo injected into one series: the ground truth for detection.

    Attributes
    ----------
    metric, dataset, instrument, data_id
        The series (``data_id`` as in the measurements).
    kind
        ``regression``, ``improvement`` or ``outlier`` (one bad night, not a change).
    index
        Night of the first affected job (0 = the start date).
    end_index
        Last affected night when the change was undone (an outlier, a fixed branch);
        None when it persists.
    identifier, commit
        Client identifier and ``meta.git.commit`` of the first affected job.
    branch, pull_request
        ``main``, or the pull-request branch the change happened on.
    size
        Relative change of the level: ``0.20`` is 20 % higher, ``-0.18`` 18 % lower.
    baseline, unit
        The level before the change (noise-free), in the metric's unit.
    package
        The software package whose change caused it (empty for an outlier).
    """

    metric: str
    dataset: str
    instrument: str
    data_id: dict[str, Any]
    kind: str
    index: int
    end_index: int | None
    identifier: str
    commit: str
    branch: str
    pull_request: int | None
    size: float
    baseline: float
    unit: str
    package: str
    description: str

    @property
    def is_regression(self) -> bool:
        """Whether the metric got worse (all demo metrics are better when lower)."""
        return self.kind == "regression"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return asdict(self)


def series_data_ids(
    pipeline: str, dataset: str, metric: str, band: str | None
) -> list[dict[str, Any]]:
    """The dataIds a demo job measures *metric* at (one series each)."""
    if pipeline == "deblend":
        if metric == "deblend.runtime":
            return [{}]
        return [{}] + [{"blend": blend.blend_id} for blend in sc.BLENDS]
    ids: list[dict[str, Any]] = [{"band": band}]
    spec = next(d for d in sc.VALIDATION_DATASETS if d.name == dataset)
    if spec.tract is not None and metric == "validate_drp.PA1":
        ids += [{"tract": spec.tract, "patch": p, "band": band} for p in spec.patches]
    if spec.tract is not None and metric == "validate_drp.AM1":
        ids.append({"tract": spec.tract, "band": band})
    return ids


def _short(dataset: str) -> str:
    return next(d.short for d in sc.VALIDATION_DATASETS if d.name == dataset)


def _level(run: Run, metric: str, data_id: dict[str, Any]) -> float:
    """The noise-free level of a series before any injected change."""
    if run.pipeline == "deblend":
        if metric == "deblend.runtime":
            return sc.DEBLEND_RUNTIME
        attribute = "residual_rms" if metric == "deblend.blend_residual_rms" else "flux_error"
        blend_id = data_id.get("blend")
        values = [getattr(b, attribute) for b in sc.BLENDS if blend_id in (None, b.blend_id)]
        return float(np.mean(values))
    level = sc.LEVELS[metric][_short(run.dataset)][str(run.band)]
    if "patch" in data_id:
        level *= sc.PATCH_FACTORS[int(data_id["patch"])]
    elif "tract" in data_id:
        level *= sc.TRACT_AM1_FACTOR
    return level


def _applies(rule: sc.Rule, run: Run, metric: str) -> bool:
    if rule.metric != metric or rule.dataset != run.dataset:
        return False
    if rule.bands is not None and run.band not in rule.bands:
        return False
    if rule.scope != "main":
        return run.pr_key == rule.scope and run.push in rule.pushes
    reached = run.night if run.on_main else run.fork_night
    if reached is None or reached < rule.night:
        return False
    return rule.end_night is None or run.night <= rule.end_night


def _factor(run: Run, metric: str) -> float:
    factor = 1.0
    for rule in sc.RULES:
        if _applies(rule, run, metric):
            factor *= rule.factor
    return factor


def _round(value: float) -> float:
    return float(f"{value:.6g}") if math.isfinite(value) else math.nan


def _uid(*parts: object) -> str:
    return hashlib.sha1("/".join(map(str, parts)).encode()).hexdigest()  # noqa: S324


class DemoHistory:
    """The demo's CI history: its runs, their jobs and the changes injected into them.

    Parameters
    ----------
    seed
        Decides commits, noise, NaN values and skipped nights (not the injected changes).
    start
        The first night.
    days
        How many nights.
    definitions
        Metric and specification definitions; default `load_definitions` with
        *metrics_path*.
    metrics_path
        A ``verify_metrics`` package (see `load_definitions`).
    """

    def __init__(
        self,
        seed: int = DEFAULT_SEED,
        start: date = DEFAULT_START,
        days: int = DEFAULT_DAYS,
        *,
        definitions: DemoDefinitions | None = None,
        metrics_path: str | Path | None = None,
    ) -> None:
        if seed < 0:
            raise ValueError(f"the seed must be zero or positive, not {seed}")
        if days < 1:
            raise ValueError(f"the history needs at least one night, not {days}")
        self.seed = seed
        self.start = start
        self.days = days
        self._definitions = definitions
        self._metrics_path = metrics_path
        self.runs: list[Run] = build_timeline(seed, start, days)
        self._specs: dict[tuple[str, str, str | None], list[ThresholdSpecification]] = {}

    def __len__(self) -> int:
        return len(self.runs)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return self.jobs()

    @property
    def definitions(self) -> DemoDefinitions:
        """The metric and specification definitions (read on first use)."""
        if self._definitions is None:
            self._definitions = load_definitions(self._metrics_path)
        return self._definitions

    def jobs(self) -> Iterator[dict[str, Any]]:
        """Every job in the lsst.verify Job JSON shape, in order of run time."""
        for run in self.runs:
            yield self.build_job(run).to_dict()

    def injected_changes(self) -> list[InjectedChange]:
        """The changes injected into this history, one per affected series."""
        return _injected_changes(self.runs)

    # Building -------------------------------------------------------------------------

    def _metric_names(self, run: Run) -> tuple[str, ...]:
        return VALIDATE_DRP_METRICS if run.pipeline == "validate_drp" else DEBLEND_METRICS

    def _meta(self, run: Run) -> dict[str, Any]:
        meta: dict[str, Any] = {"instrument": run.instrument}
        if run.filter_name is not None:
            meta["filter_name"] = run.filter_name
        if run.dataset_repo_url is not None:
            meta["dataset_repo_url"] = run.dataset_repo_url
        meta["dataset_name"] = run.dataset
        meta.update(copy.deepcopy(run.extra_meta))
        meta["env"] = dict(run.env)
        meta["git"] = {
            "branch": run.branch,
            "commit": run.commit,
            "author": run.author,
            "author_email": run.author_email,
            "committed_at": run.committed_at.isoformat(),
            "pull_request": run.pull_request,
            "repository_url": run.repository_url,
        }
        meta["packages"] = copy.deepcopy(run.packages)
        return meta

    def _applicable_specs(self, run: Run, meta: dict[str, Any]) -> list[ThresholdSpecification]:
        key = (run.pipeline, run.dataset, run.filter_name)
        if key not in self._specs:
            specs = self.definitions.specs
            self._specs[key] = [
                spec
                for name in self._metric_names(run)
                for spec in specs.applicable(meta, metric=name)
            ]
        return self._specs[key]

    def build_job(self, run: Run) -> Job:
        """The job of one run, built with the SDK."""
        meta = self._meta(run)
        names = self._metric_names(run)
        job = Job(
            metrics=self.definitions.metrics_of(names),
            specs=self._applicable_specs(run, meta),
            meta=meta,
            identifier=run.identifier,
        )
        rng = rng_for(self.seed, _STREAM_VALUES, run.identifier)
        if run.pipeline == "validate_drp":
            self._measure_validate_drp(job, run, rng)
        else:
            self._measure_deblend(job, run, rng)
        return job

    def _measure_validate_drp(self, job: Job, run: Run, rng: np.random.Generator) -> None:
        failed_astrometry = run.night == sc.ASTROMETRY_FAILURE_NIGHT and run.dataset == sc.HSC.name
        for metric in VALIDATE_DRP_METRICS:
            factor = _factor(run, metric)
            for data_id in series_data_ids(run.pipeline, run.dataset, metric, run.band):
                aggregate = len(data_id) == 1
                noise = sc.NOISE[metric] if aggregate else sc.PATCH_NOISE
                z = float(np.clip(rng.standard_normal(), -4.0, 4.0))
                draw = rng.random()
                value = _level(run, metric, data_id) * factor * (1.0 + noise * z)
                nan_probability = sc.NAN_PROBABILITY.get(metric, 0.0) if aggregate else 0.0
                if (failed_astrometry and metric in sc.ASTROMETRY_FAILURE_METRICS) or (
                    draw < nan_probability and run.night not in _RULE_NIGHTS
                ):
                    value = math.nan
                measurement_id = _uid(run.identifier, metric, sorted(data_id.items()))
                notes, blobs = self._extras(run, metric, data_id, value, rng)
                job.measure(
                    metric,
                    _round(value),
                    data_id=data_id,
                    notes=notes,
                    blobs=blobs,
                    identifier=measurement_id[:32],
                )

    def _extras(
        self,
        run: Run,
        metric: str,
        data_id: dict[str, Any],
        value: float,
        rng: np.random.Generator,
    ) -> tuple[dict[str, Any], list[Blob]]:
        """Notes and drill-down blobs of the aggregate PA1 and AM1 measurements."""
        if len(data_id) != 1 or metric not in ("validate_drp.PA1", "validate_drp.AM1"):
            return {}, []
        blob = Blob(
            name=metric,
            identifier=_uid(run.identifier, metric, "blob")[:32],
        )
        shape = rng.lognormal(0.0, 0.2, size=24)
        if metric == "validate_drp.PA1":
            mags = np.sort(rng.uniform(17.0, 21.5, size=24))
            rms = value * (0.6 + 0.9 * ((mags - 17.0) / 4.5) ** 2) * shape
            blob["magMean"] = Datum(np.round(mags, 4).tolist(), "mag", "Mean magnitude")
            blob["magRms"] = Datum(np.round(rms, 4).tolist(), "mmag", "RMS of the magnitude")
            notes = {"nStars": int(rng.integers(900, 1600))}
        else:
            blob["D"] = Datum(5.0, "arcmin", "Distance", "Radial distance of annulus")
            blob["annulus"] = Datum([4.0, 6.0], "arcmin", "annulus radii")
            blob["rmsDistMas"] = Datum(
                np.round(value * shape, 4).tolist(), "marcsec", "RMS of the distance"
            )
            notes = {"nPairs": int(rng.integers(4000, 9000))}
        return notes, [blob]

    def _measure_deblend(self, job: Job, run: Run, rng: np.random.Generator) -> None:
        per_blend: dict[str, list[float]] = {}
        protected = run.night in _RULE_NIGHTS
        for metric in ("deblend.blend_residual_rms", "deblend.flux_error_frac"):
            factor = _factor(run, metric)
            values = []
            for blend in sc.BLENDS:
                z = float(np.clip(rng.standard_normal(), -4.0, 4.0))
                draw = rng.random()
                value = _level(run, metric, {"blend": blend.blend_id}) * factor
                value *= 1.0 + sc.NOISE[metric] * z
                nan_probability = sc.BLEND_NAN_PROBABILITY if not protected else 0.0
                if metric == "deblend.flux_error_frac" and draw < nan_probability:
                    value = math.nan
                values.append(_round(value))
            per_blend[metric] = values
        for metric, values in per_blend.items():
            finite = [v for v in values if math.isfinite(v)]
            job.measure(
                metric,
                _round(float(np.mean(finite))) if finite else math.nan,
                identifier=_uid(run.identifier, metric)[:32],
                notes={"blends": len(finite)},
            )
            for blend, value in zip(sc.BLENDS, values, strict=True):
                job.measure(
                    metric,
                    value,
                    data_id={"blend": blend.blend_id},
                    notes={"sources": blend.sources},
                    identifier=_uid(run.identifier, metric, blend.blend_id)[:32],
                )
        z = float(np.clip(rng.standard_normal(), -4.0, 4.0))
        runtime = sc.DEBLEND_RUNTIME * _factor(run, "deblend.runtime") * (1.0 + 0.05 * z)
        job.measure(
            "deblend.runtime",
            _round(runtime),
            identifier=_uid(run.identifier, "deblend.runtime")[:32],
        )


def _injected_changes(runs: list[Run]) -> list[InjectedChange]:
    changes = []
    for rule in sc.RULES:
        affected = [
            r
            for r in runs
            if r.dataset == rule.dataset
            and _applies(rule, r, rule.metric)
            and (rule.scope != "main" or r.on_main)
        ]
        firsts: dict[str | None, Run] = {}
        for run in affected:
            firsts.setdefault(run.band, run)
        end_index = rule.end_night
        if rule.scope != "main":
            later = [r for r in runs if r.pr_key == rule.scope and r.push not in rule.pushes]
            if later:
                end_index = max(r.night for r in affected) if affected else None
        for band, run in firsts.items():
            for data_id in series_data_ids(run.pipeline, run.dataset, rule.metric, band):
                expected = _level(run, rule.metric, data_id) * _factor(run, rule.metric)
                changes.append(
                    InjectedChange(
                        metric=rule.metric,
                        dataset=rule.dataset,
                        instrument=run.instrument,
                        data_id=data_id,
                        kind=rule.kind,
                        index=run.night,
                        end_index=end_index,
                        identifier=run.identifier,
                        commit=run.commit,
                        branch=run.branch,
                        pull_request=run.pull_request,
                        size=round(rule.factor - 1.0, 6),
                        baseline=_round(expected / rule.factor),
                        unit=sc.UNITS[rule.metric],
                        package=rule.package,
                        description=rule.description,
                    )
                )
    changes.sort(key=lambda c: (c.index, c.branch != "main", c.metric, c.dataset, str(c.data_id)))
    return changes


def generate_history(
    seed: int = DEFAULT_SEED,
    start: date = DEFAULT_START,
    days: int = DEFAULT_DAYS,
    *,
    metrics_path: str | Path | None = None,
    definitions: DemoDefinitions | None = None,
) -> Iterator[dict[str, Any]]:
    """Yield the demo's jobs (lsst.verify Job JSON shape, with ``identifier``) in time order.

    See `DemoHistory` for the parameters.
    """
    history = DemoHistory(seed, start, days, definitions=definitions, metrics_path=metrics_path)
    return history.jobs()


def injected_changes(
    seed: int = DEFAULT_SEED, start: date = DEFAULT_START, days: int = DEFAULT_DAYS
) -> list[InjectedChange]:
    """The ground truth of `generate_history` with the same arguments."""
    return _injected_changes(build_timeline(seed, start, days))
