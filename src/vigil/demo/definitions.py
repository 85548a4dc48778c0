"""The metric and specification definitions the demo measures against.

The validate_drp metrics and their specifications come from a ``verify_metrics``
package read at run time (by default the copy in ``../shared/conformance`` beside the
repository); when there is none, as in a plain install, a small built-in set of the same
metrics with their main thresholds is used instead. The deblender metrics are the demo's
own.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vigil.verify import Metric, MetricSet, SpecificationSet, ThresholdSpecification

__all__ = [
    "DEBLEND_METRICS",
    "VALIDATE_DRP_METRICS",
    "DemoDefinitions",
    "default_metrics_path",
    "load_definitions",
]

VALIDATE_DRP_METRICS = (
    "validate_drp.PA1",
    "validate_drp.PA2_design_gri",
    "validate_drp.PF1_design_gri",
    "validate_drp.AM1",
    "validate_drp.AM2",
    "validate_drp.AD1_design",
    "validate_drp.AF1_design",
    "validate_drp.TE1",
    "validate_drp.TE2",
)
"""The validate_drp metrics every demo job measures."""

DEBLEND_METRICS = (
    "deblend.blend_residual_rms",
    "deblend.flux_error_frac",
    "deblend.runtime",
)
"""The deblender benchmark's metrics (defined by the demo itself)."""

_LPM17 = {"doc": "LPM-17", "url": "http://ls.st/lpm-17"}

# The built-in fallback: the same definitions as verify_metrics (lsst/verify_metrics
# @05f563e) for the metrics the demo measures.
_BUILTIN_METRICS: dict[str, dict[str, Any]] = {
    "validate_drp.PA1": {
        "description": "The maximum rms of the unresolved source magnitude distribution "
        "around the mean value.",
        "unit": "mmag",
        "tags": ["photometry"],
        "reference": {**_LPM17, "page": 21},
    },
    "validate_drp.PA2_design_gri": {
        "description": "At most PF1_design_gri % of magnitudes may deviate by more than "
        "this magnitude from the mean.",
        "unit": "mmag",
        "tags": ["photometry"],
        "reference": {**_LPM17, "page": 21},
    },
    "validate_drp.PF1_design_gri": {
        "description": "The maximum fraction of magnitudes deviating by more than "
        "PA2_design_gri from mean.",
        "unit": "%",
        "tags": ["photometry"],
        "reference": {**_LPM17, "page": 21},
    },
    "validate_drp.AM1": {
        "description": "The maximum rms of the astrometric distance distribution for stellar "
        "pairs with separations of D=5 arcmin (repeatability).",
        "unit": "marcsec",
        "tags": ["astrometry"],
        "reference": {**_LPM17, "page": 23},
    },
    "validate_drp.AM2": {
        "description": "The maximum rms of the astrometric distance distribution for stellar "
        "pairs with separations of D=20 arcmin (repeatability).",
        "unit": "marcsec",
        "tags": ["astrometry"],
        "reference": {**_LPM17, "page": 23},
    },
    "validate_drp.AD1_design": {
        "description": "No more than AF1 of the astrometric distances will deviate by more "
        "than this from the median (see AM1, AF1).",
        "unit": "milliarcsecond",
        "tags": ["astrometry"],
        "reference": {**_LPM17, "page": 23},
    },
    "validate_drp.AF1_design": {
        "description": "The maximum fraction of astrometric distances which deviate by more "
        "than AD1 milliarcsec (see AM1).",
        "unit": "%",
        "tags": ["astrometry"],
        "reference": {**_LPM17, "page": 23},
    },
    "validate_drp.TE1": {
        "description": "The averaged E1, E2, and Ex residual PSF ellipticity correlations "
        "must have median absolute value less than this for separations < 1 arcmin.",
        "unit": "",
        "tags": ["image_quality"],
        "reference": {**_LPM17, "page": 38},
    },
    "validate_drp.TE2": {
        "description": "The averaged E1, E2, and Ex residual PSF ellipticity correlations "
        "must have median absolute value less than this for separations > 5 arcmin.",
        "unit": "",
        "tags": ["image_quality"],
        "reference": {**_LPM17, "page": 38},
    },
}

# (specification name, threshold value, unit, level tag)
_BUILTIN_SPECS: tuple[tuple[str, float, str, str], ...] = (
    ("validate_drp.PA1.design_gri", 5.0, "mmag", "design"),
    ("validate_drp.PA1.minimum_gri", 8.0, "mmag", "minimum"),
    ("validate_drp.PA2_design_gri.srd", 15.0, "mmag", "design"),
    ("validate_drp.PF1_design_gri.srd", 10.0, "%", "design"),
    ("validate_drp.AM1.design", 10.0, "marcsec", "design"),
    ("validate_drp.AM1.minimum", 20.0, "marcsec", "minimum"),
    ("validate_drp.AM2.design", 10.0, "marcsec", "design"),
    ("validate_drp.AM2.minimum", 20.0, "marcsec", "minimum"),
    ("validate_drp.AD1_design.srd", 20.0, "milliarcsecond", "design"),
    ("validate_drp.AF1_design.srd", 10.0, "percent", "design"),
    ("validate_drp.TE1.design", 2e-05, "", "design"),
    ("validate_drp.TE1.minimum", 3e-05, "", "minimum"),
    ("validate_drp.TE2.design", 5e-05, "", "design"),
    ("validate_drp.TE2.minimum", 3e-05, "", "minimum"),
)

_DEBLEND_METRICS: dict[str, dict[str, Any]] = {
    "deblend.blend_residual_rms": {
        "description": "RMS of the data minus model residual of a blend, in units of the "
        "blend's peak surface brightness.",
        "unit": "",
        "tags": ["deblending"],
        "direction": "lower",
    },
    "deblend.flux_error_frac": {
        "description": "Median absolute fractional error of the deblended source fluxes "
        "against the known fluxes of the injected blend.",
        "unit": "%",
        "tags": ["deblending", "photometry"],
        "direction": "lower",
    },
    "deblend.runtime": {
        "description": "Wall-clock time to deblend every blend of the benchmark.",
        "unit": "s",
        "tags": ["deblending", "performance"],
        "direction": "lower",
    },
}

_DEBLEND_SPECS: tuple[tuple[str, float, str, str], ...] = (
    ("deblend.blend_residual_rms.design", 0.05, "", "design"),
    ("deblend.flux_error_frac.design", 5.0, "%", "design"),
    ("deblend.flux_error_frac.minimum", 8.0, "%", "minimum"),
    ("deblend.runtime.budget", 60.0, "s", "design"),
)


@dataclass(slots=True)
class DemoDefinitions:
    """Metrics and specifications of the demo, and where they were read from.

    ``source`` is the ``verify_metrics`` folder they came from, or ``"built-in"``.
    """

    metrics: MetricSet
    specs: SpecificationSet
    source: str

    def metrics_of(self, names: tuple[str, ...]) -> list[Metric]:
        """The definitions of *names*, in that order."""
        return [self.metrics[name] for name in names]


def default_metrics_path() -> Path:
    """``../shared/conformance/lsst-verify/verify_metrics`` relative to the repository.

    The repository is the folder holding ``src/vigil``; in an installed package the path
    points nowhere and the built-in definitions are used.
    """
    repository = Path(__file__).resolve().parents[3]
    return repository.parent / "shared" / "conformance" / "lsst-verify" / "verify_metrics"


def _threshold_specs(rows: tuple[tuple[str, float, str, str], ...]) -> list[ThresholdSpecification]:
    specs = []
    for name, value, unit, level in rows:
        package, metric = name.split(".")[:2]
        metric_tag = metric.split("_")[0] if package == "validate_drp" else package
        specs.append(
            ThresholdSpecification(
                name=name,
                threshold_value=value,
                threshold_unit=unit,
                operator="<=",
                tags=frozenset({metric_tag, level}),
            )
        )
    return specs


def _metrics(documents: dict[str, dict[str, Any]]) -> list[Metric]:
    return [Metric.from_dict(doc, name=name) for name, doc in documents.items()]


def load_definitions(path: str | Path | None = None) -> DemoDefinitions:
    """The demo's metrics and specifications.

    Parameters
    ----------
    path
        A ``verify_metrics`` package. None: `default_metrics_path` when it exists, else
        the built-in definitions.

    Raises
    ------
    FileNotFoundError
        *path* was given and does not exist.
    vigil.verify.VerifyError
        A file of *path* is malformed.
    """
    if path is None:
        candidate = default_metrics_path()
        chosen: Path | None = candidate if candidate.is_dir() else None
    else:
        chosen = Path(path)
        if not chosen.is_dir():
            raise FileNotFoundError(f"{chosen}: no verify_metrics folder here")
    if chosen is not None:
        all_metrics = MetricSet.load(chosen)
        all_specs = SpecificationSet.load(chosen)
        metrics = MetricSet(all_metrics[name] for name in VALIDATE_DRP_METRICS)
        specs = SpecificationSet(
            spec for name in VALIDATE_DRP_METRICS for spec in all_specs.for_metric(name)
        )
        source = str(chosen)
    else:
        metrics = MetricSet(_metrics(_BUILTIN_METRICS))
        specs = SpecificationSet(_threshold_specs(_BUILTIN_SPECS))
        source = "built-in"
    for metric in _metrics(_DEBLEND_METRICS):
        metrics.insert(metric)
    for spec in _threshold_specs(_DEBLEND_SPECS):
        specs.insert(spec)
    return DemoDefinitions(metrics=metrics, specs=specs, source=source)
