"""Generated verification jobs shared by Vigil and the MLflow peer of ``bench/ingest.py``.

Jobs alternate between two datasets (HSC and CFHT validation data), as a CI running
``validate_drp`` and ``pipe_analysis`` nightly on both would produce. Each job has
``MEASUREMENTS_PER_JOB`` measurements: the ten ``validate_drp`` metrics of the dataset's
band (dataId ``{"band": ...}``) and forty ``pipe_analysis`` metrics on distinct
tract/patch/band dataIds. About one value in a hundred is NaN, written as the bare
``NaN`` token lsst.verify writes. So the series ``validate_drp.PA1`` on HSC, band i, has
one point in every other job: 10,000 points in 20,000 jobs (1,000,000 measurements).

The jobs are written as JSON lines (one lsst.verify Job document per line) to a file
that both the Vigil client and the MLflow peer script read; this module needs only the
standard library.
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

__all__ = [
    "MEASUREMENTS_PER_JOB",
    "SERIES",
    "generate_jobs",
    "mlflow_key",
    "series_points_path",
    "write_jobs",
]

MEASUREMENTS_PER_JOB = 50
_PIPE_ANALYSIS_PER_JOB = 40
_NAN_RATE = 0.01
_START = datetime(2024, 1, 1, tzinfo=UTC)

_DATASETS = (
    # dataset, instrument, band of the validate_drp metrics, tracts, bands
    ("validation_data_hsc", "HSC", "i", (9615, 9697, 9813), ("g", "r", "i", "z", "y")),
    ("validation_data_cfht", "MegaPrime", "r", (0,), ("g", "r", "i")),
)

# name, unit, typical value, scatter
_VALIDATE_DRP = (
    ("validate_drp.PA1", "mmag", 12.0, 1.5),
    ("validate_drp.PA2", "mmag", 25.0, 3.0),
    ("validate_drp.PF1", "%", 8.0, 2.0),
    ("validate_drp.AM1", "marcsec", 7.8, 0.8),
    ("validate_drp.AM2", "marcsec", 9.5, 1.0),
    ("validate_drp.AM3", "marcsec", 14.0, 2.0),
    ("validate_drp.AD1", "marcsec", 20.4, 2.0),
    ("validate_drp.AF1", "%", 11.0, 3.0),
    ("validate_drp.TE1", "", 1.2e-5, 3e-6),
    ("validate_drp.TE2", "", 8.0e-6, 2e-6),
)
_PIPE_ANALYSIS = (
    ("pipe_analysis.psfCModelMagDiff_stellar_median", "mmag", 1.5, 0.8),
    ("pipe_analysis.psfCModelMagDiff_stellar_sigmaMad", "mmag", 9.0, 1.2),
    ("pipe_analysis.photomRefDiff_stellar_median", "mmag", -3.0, 2.0),
    ("pipe_analysis.astromRefDiff_ra_stellar_median", "marcsec", 2.0, 4.0),
    ("pipe_analysis.astromRefDiff_dec_stellar_median", "marcsec", -1.0, 4.0),
    ("pipe_analysis.shapeSizeFractionalDiff_sigmaMad", "", 0.012, 0.003),
    ("pipe_analysis.e1Diff_stellar_median", "", 0.0004, 0.0002),
    ("pipe_analysis.nStars", "ct", 4200.0, 600.0),
)
_UNITS = {name: unit for name, unit, _, _ in _VALIDATE_DRP + _PIPE_ANALYSIS}
_PACKAGES = ("afw", "meas_base", "pipe_tasks", "validate_drp", "pipe_analysis", "obs_subaru")

SERIES = {
    "metric": "validate_drp.PA1",
    "dataset": "validation_data_hsc",
    "instrument": "HSC",
    "data_id": {"band": "i"},
}
"""The series queried by the bench: one point in every other job."""


def series_points_path(client: Any) -> str:
    """The path of `SERIES`'s points on the server *client* (an ``httpx.Client``) reaches."""
    found = client.get(
        "/api/series",
        params={
            "metric": SERIES["metric"],
            "dataset": SERIES["dataset"],
            "instrument": SERIES["instrument"],
            "data_id": json.dumps(SERIES["data_id"]),
        },
    )
    found.raise_for_status()
    (series,) = found.json()["items"]
    return f"/api/series/{series['series_key']}/points"


def mlflow_key(metric: str, data_id: dict[str, Any]) -> str:
    """The MLflow metric key of a measurement: its metric and dataId in one name.

    MLflow has no dataId, so ``tract:9813/patch:40/band:i`` becomes part of the key.
    """
    return "/".join([metric, *(f"{k}:{v}" for k, v in data_id.items())])


def _value(rng: random.Random, typical: float, scatter: float) -> float:
    if rng.random() < _NAN_RATE:
        return math.nan
    return rng.gauss(typical, scatter)


def _hex(rng: random.Random, bits: int = 128) -> str:
    return f"{rng.getrandbits(bits):0{bits // 4}x}"


def _job(index: int, rng: random.Random, commit: str, branch: str) -> dict[str, Any]:
    dataset, instrument, band, tracts, bands = _DATASETS[index % len(_DATASETS)]
    date = _START + timedelta(minutes=15 * index)
    measurements = [
        {
            "metric": name,
            "identifier": _hex(rng),
            "value": _value(rng, typical, scatter),
            "unit": unit,
            "data_id": {"band": band},
            "blob_refs": [],
        }
        for name, unit, typical, scatter in _VALIDATE_DRP
    ]
    combos = set()
    while len(combos) < _PIPE_ANALYSIS_PER_JOB:
        combos.add(
            (
                rng.randrange(len(_PIPE_ANALYSIS)),
                rng.choice(tracts),
                rng.randrange(81),
                rng.choice(bands),
            )
        )
    for which, tract, patch, patch_band in sorted(combos):
        name, unit, typical, scatter = _PIPE_ANALYSIS[which]
        measurements.append(
            {
                "metric": name,
                "identifier": _hex(rng),
                "value": _value(rng, typical, scatter),
                "unit": unit,
                "data_id": {"tract": tract, "patch": patch, "band": patch_band},
                "blob_refs": [],
            }
        )
    used = dict.fromkeys(m["metric"] for m in measurements)
    metrics = [
        {
            "name": name,
            "description": f"{name.split('.', 1)[1]} computed by {name.split('.', 1)[0]}.",
            "unit": _UNITS[name],
            "tags": [name.split(".", 1)[0]],
            "reference": {},
        }
        for name in used
    ]
    meta = {
        "env": {
            "env_name": "jenkins",
            "ci_id": str(1000 + index),
            "ci_name": "validate_drp",
            "ci_url": f"https://ci.example.org/job/validate_drp/{1000 + index}/",
            "ci_dataset": dataset,
            "git_branch": branch,
            "git_commit": commit,
            "date": date.isoformat(),
        },
        "instrument": instrument,
        "packages": {
            name: {
                "name": name,
                "git_url": f"https://github.com/lsst/{name}.git",
                "git_sha": commit if name == "pipe_tasks" else _hex(rng, 160),
                "git_branch": branch,
                "eups_version": "w.2024.01",
            }
            for name in _PACKAGES
        },
    }
    return {
        "identifier": f"bench-job-{index:07d}",
        "measurements": measurements,
        "metrics": metrics,
        "specs": [],
        "blobs": [],
        "meta": meta,
    }


def generate_jobs(count: int, seed: int = 1) -> Iterator[dict[str, Any]]:
    """*count* jobs, the same for the same *seed*; a new commit every four jobs."""
    rng = random.Random(seed)
    commit, branch = _hex(rng, 160), "main"
    for index in range(count):
        if index % 4 == 0:
            commit = _hex(rng, 160)
            branch = "main" if rng.random() < 0.9 else f"tickets/DM-{rng.randrange(30000, 48000)}"
        yield _job(index, rng, commit, branch)


def write_jobs(path: Path, count: int, seed: int = 1) -> Path:
    """Write *count* jobs as JSON lines (bare NaN tokens) unless *path* already has them."""
    if path.exists():
        return path
    partial = path.with_suffix(".partial")
    with partial.open("w") as stream:
        for job in generate_jobs(count, seed):
            stream.write(json.dumps(job, separators=(",", ":")))
            stream.write("\n")
    partial.replace(path)
    return path
