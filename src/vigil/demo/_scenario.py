"""The demo's scenario: datasets, metric levels, injected changes, pull requests, people.

Pure data, no randomness: the seed decides commits, noise and skipped nights; this
module decides what happens when, so that the ground truth is the same for every seed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# Datasets ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Dataset:
    """A validation dataset and the bands a nightly job runs on."""

    name: str
    short: str
    instrument: str
    repo_url: str
    # (filter_name as the specifications' metadata_query spells it, band for the dataId)
    filters: tuple[tuple[str, str], ...]
    extra_meta: dict[str, Any] = field(default_factory=dict)
    # Extra per-tract / per-patch series (HSC only: CFHT data are not on the HSC skymap).
    tract: int | None = None
    patches: tuple[int, ...] = ()


HSC = Dataset(
    name="validation_data_hsc",
    short="hsc",
    instrument="HSC",
    repo_url="https://github.com/lsst/validation_data_hsc.git",
    filters=(("HSC-G", "g"), ("HSC-R", "r"), ("HSC-I", "i")),
    tract=9813,
    patches=(40, 41, 49, 50),
)
CFHT = Dataset(
    name="validation_data_cfht",
    short="cfht",
    instrument="CFHT",
    repo_url="https://github.com/lsst/validation_data_cfht.git",
    filters=(("r", "r"), ("i", "i")),
    # The CFHT specifications of verify_metrics select these visits and CCDs.
    extra_meta={"visits": [849375, 850587], "ccds": [12, 13, 14, 21, 22, 23]},
)
VALIDATION_DATASETS = (HSC, CFHT)

DEBLEND_DATASET = "deblend_benchmark_hsc"
DEBLEND_INSTRUMENT = "HSC"
DEBLEND_REPO = "https://github.com/lsst/scarlet_lite"
VALIDATE_DRP_REPO = "https://github.com/lsst/validate_drp"


@dataclass(frozen=True, slots=True)
class Blend:
    """A blend of the deblender benchmark: its id, sources and typical quality."""

    blend_id: str
    sources: int
    residual_rms: float
    flux_error: float  # percent


BLENDS = (
    Blend("cosmos-004", 2, 0.021, 2.9),
    Blend("cosmos-017", 3, 0.034, 4.4),
    Blend("cosmos-023", 4, 0.042, 5.6),
    Blend("cosmos-058", 3, 0.028, 3.7),
    Blend("cosmos-091", 5, 0.047, 6.3),
)
DEBLEND_RUNTIME = 38.0  # seconds for the whole benchmark

# Levels ---------------------------------------------------------------------------------

# Typical value of each validate_drp metric per (dataset, band), in the metric's unit,
# chosen near what validate_drp reported on these datasets (PA1 ~ 7-12 mmag).
LEVELS: dict[str, dict[str, dict[str, float]]] = {
    "validate_drp.PA1": {
        "hsc": {"g": 9.6, "r": 8.3, "i": 7.4},
        "cfht": {"r": 11.4, "i": 10.8},
    },
    "validate_drp.PA2_design_gri": {
        "hsc": {"g": 16.9, "r": 14.6, "i": 12.9},
        "cfht": {"r": 19.8, "i": 18.7},
    },
    "validate_drp.PF1_design_gri": {
        "hsc": {"g": 12.4, "r": 8.9, "i": 6.1},
        "cfht": {"r": 15.8, "i": 13.2},
    },
    "validate_drp.AM1": {
        "hsc": {"g": 8.9, "r": 8.4, "i": 8.1},
        "cfht": {"r": 10.9, "i": 10.6},
    },
    "validate_drp.AM2": {
        "hsc": {"g": 9.3, "r": 8.8, "i": 8.6},
        "cfht": {"r": 11.8, "i": 11.3},
    },
    "validate_drp.AD1_design": {
        "hsc": {"g": 18.4, "r": 17.5, "i": 17.1},
        "cfht": {"r": 21.9, "i": 21.2},
    },
    "validate_drp.AF1_design": {
        "hsc": {"g": 7.2, "r": 6.8, "i": 6.5},
        "cfht": {"r": 11.6, "i": 11.0},
    },
    "validate_drp.TE1": {
        "hsc": {"g": 1.7e-5, "r": 1.6e-5, "i": 1.5e-5},
        "cfht": {"r": 2.8e-5, "i": 2.7e-5},
    },
    "validate_drp.TE2": {
        "hsc": {"g": 3.3e-6, "r": 3.1e-6, "i": 2.9e-6},
        "cfht": {"r": 4.5e-6, "i": 4.3e-6},
    },
}

# The metrics' units (as in verify_metrics and the demo's own definitions).
UNITS: dict[str, str] = {
    "validate_drp.PA1": "mmag",
    "validate_drp.PA2_design_gri": "mmag",
    "validate_drp.PF1_design_gri": "%",
    "validate_drp.AM1": "marcsec",
    "validate_drp.AM2": "marcsec",
    "validate_drp.AD1_design": "milliarcsecond",
    "validate_drp.AF1_design": "%",
    "validate_drp.TE1": "",
    "validate_drp.TE2": "",
    "deblend.blend_residual_rms": "",
    "deblend.flux_error_frac": "%",
    "deblend.runtime": "s",
}

# Relative night-to-night scatter (one standard deviation).
NOISE: dict[str, float] = {
    "validate_drp.PA1": 0.025,
    "validate_drp.PA2_design_gri": 0.03,
    "validate_drp.PF1_design_gri": 0.06,
    "validate_drp.AM1": 0.035,
    "validate_drp.AM2": 0.04,
    "validate_drp.AD1_design": 0.04,
    "validate_drp.AF1_design": 0.08,
    "validate_drp.TE1": 0.08,
    "validate_drp.TE2": 0.10,
    "deblend.blend_residual_rms": 0.03,
    "deblend.flux_error_frac": 0.04,
    "deblend.runtime": 0.05,
}
PATCH_NOISE = 0.05  # per-patch PA1 has fewer stars: more scatter
PATCH_FACTORS = {40: 0.97, 41: 1.04, 49: 1.0, 50: 1.09}
TRACT_AM1_FACTOR = 0.98

# Nights ---------------------------------------------------------------------------------

OUTAGE_NIGHTS = frozenset({33, 34})  # Jenkins maintenance: no validate_drp run at all
ASTROMETRY_FAILURE_NIGHT = 64  # HSC astrometric fit failed: AM1/AM2/AD1/AF1 are NaN
ASTROMETRY_FAILURE_METRICS = (
    "validate_drp.AM1",
    "validate_drp.AM2",
    "validate_drp.AD1_design",
    "validate_drp.AF1_design",
)
SKIP_PROBABILITY = 0.02  # a dataset's nightly job missing (node down, data not staged)
NAN_PROBABILITY = {"validate_drp.TE2": 0.012, "validate_drp.PF1_design_gri": 0.008}
BLEND_NAN_PROBABILITY = 0.01  # a blend's flux error when the deblender did not converge

# Injected changes -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Rule:
    """A change of a metric's level: the ground truth the demo injects.

    ``scope`` is ``"main"`` (from *night* on the main line, and on branches forked
    after it) or the key of a pull request (its pushes numbered from 0 in *pushes*).
    ``bands`` limits it to some bands; ``end_night`` makes it end (an outlier).
    """

    key: str
    metric: str
    dataset: str
    factor: float
    kind: str
    package: str
    description: str
    scope: str = "main"
    night: int = 0
    end_night: int | None = None
    bands: tuple[str, ...] | None = None
    pushes: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class PullRequest:
    """A pull request of the deblender: when it opens, is pushed to and merged."""

    key: str
    title: str
    pushes: tuple[int, ...]  # nights with a CI run on the branch
    merged: int | None  # night its merge reaches main (None: closed unmerged)


PULL_REQUESTS = (
    PullRequest("sparse-psf", "Use a sparse matrix for the PSF convolution", (18, 19, 22), 23),
    PullRequest("monotonicity", "Add a monotonicity option for extended sources", (41, 45), 46),
    PullRequest("numpy2", "Update the proximal operators for numpy 2", (70, 71, 72, 76), 77),
    PullRequest("centroid", "Re-centre sources at every iteration", (112, 115, 118), 120),
    PullRequest("init-refactor", "Refactor the initialisation of source models", (133,), None),
    PullRequest("residual", "Fit the background with a spline", (150, 152, 155), 157),
    PullRequest("docs", "Document the convergence criteria", (168, 171), 172),
)

RULES = (
    Rule(
        key="gaia-refcat",
        metric="validate_drp.AM1",
        dataset="validation_data_hsc",
        night=52,
        factor=0.82,
        kind="improvement",
        package="meas_astrom",
        description="meas_astrom: astrometric calibration against Gaia DR3 instead of PS1",
    ),
    Rule(
        key="pa1-snr-cut",
        metric="validate_drp.PA1",
        dataset="validation_data_hsc",
        night=97,
        factor=1.20,
        kind="regression",
        package="validate_drp",
        description="validate_drp: the PA1 star sample now goes down to S/N 50 (was 100)",
    ),
    Rule(
        key="centroid-runtime",
        metric="deblend.runtime",
        dataset=DEBLEND_DATASET,
        night=120,
        factor=1.35,
        kind="regression",
        package="scarlet_lite",
        description="scarlet_lite: sources re-centred at every iteration (merged PR)",
    ),
    Rule(
        key="jointcal-order",
        metric="validate_drp.AM1",
        dataset="validation_data_cfht",
        night=131,
        factor=1.15,
        kind="regression",
        package="jointcal",
        description="jointcal: astrometric model order lowered from 5 to 3",
    ),
    Rule(
        key="pa2-outlier",
        metric="validate_drp.PA2_design_gri",
        dataset="validation_data_hsc",
        night=140,
        end_night=140,
        bands=("g",),
        factor=1.16,
        kind="outlier",
        package="",
        description="one bad night (a flaky node), not a change of level",
    ),
    Rule(
        key="centroid-runtime-branch",
        metric="deblend.runtime",
        dataset=DEBLEND_DATASET,
        scope="centroid",
        pushes=(0, 1, 2),
        factor=1.35,
        kind="regression",
        package="scarlet_lite",
        description="scarlet_lite: sources re-centred at every iteration (on the branch)",
    ),
    Rule(
        key="spline-residuals",
        metric="deblend.blend_residual_rms",
        dataset=DEBLEND_DATASET,
        scope="residual",
        pushes=(0, 1),
        factor=1.25,
        kind="regression",
        package="scarlet_lite",
        description="scarlet_lite: spline background absorbs source flux; fixed in push 3",
    ),
)

# Software -------------------------------------------------------------------------------

STACK_PACKAGES = (
    "afw",
    "astro_metadata_translator",
    "ctrl_mpexec",
    "daf_butler",
    "drp_tasks",
    "faro",
    "geom",
    "ip_isr",
    "jointcal",
    "meas_algorithms",
    "meas_astrom",
    "meas_base",
    "meas_deblender",
    "meas_extensions_psfex",
    "obs_cfht",
    "obs_subaru",
    "pipe_base",
    "pipe_tasks",
    "skymap",
    "utils",
    "verify",
)
"""LSST packages of the stack validate_drp runs with (plus validate_drp itself)."""

# name -> [(first night, version)]
THIRD_PARTY: dict[str, tuple[tuple[int, str], ...]] = {
    "python": ((0, "3.12.5"),),
    "numpy": ((0, "1.26.4"), (88, "2.0.2")),
    "astropy": ((0, "6.1.3"), (61, "6.1.7"), (149, "7.0.1")),
    "scipy": ((0, "1.14.1"),),
    "eigen": ((0, "3.4.0.lsst1"),),
}
DEBLEND_THIRD_PARTY = ("python", "numpy", "scipy", "astropy")
PROXMIN_VERSION = "0.6.12"

PACKAGE_CHANGE_PROBABILITY = 0.05  # per package and weekday night
COMMIT_PROBABILITY = {"weekday": 0.6, "weekend": 0.15}
DEBLEND_COMMIT_PROBABILITY = 0.12

AUTHORS = (
    ("Ada Okafor", "ada.okafor@example.org"),
    ("Bruno Lindqvist", "bruno.lindqvist@example.org"),
    ("Chen Wei", "chen.wei@example.org"),
    ("Dana Whitfield", "dana.whitfield@example.org"),
    ("Emeka Hale", "emeka.hale@example.org"),
    ("Farah Nasser", "farah.nasser@example.org"),
    ("Greta Sand", "greta.sand@example.org"),
    ("Hiro Tanabe", "hiro.tanabe@example.org"),
)

JENKINS_URL = "https://ci.lsst.codes/job/scipipe/job/validate_drp"
JENKINS_FIRST_BUILD = 1400
ACTIONS_FIRST_RUN = 9_100_000_000
