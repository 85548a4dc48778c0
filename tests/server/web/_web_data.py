"""A small handcrafted history for the dashboard page tests, ingested with `JobService`.

Main line (``main``, jenkins, dataset ``data_a``, HSC, filter r), one job a night:

- ``demo.rms`` (mmag, lower is better) = `MAIN_RMS`; specifications ``design`` <= 5 mmag
  (fails on nights 3 and 4), ``minimum`` <= 0.008 mag (= 8 mmag: a unit conversion,
  never fails), ``cfht_only`` <= 1 mmag for ``instrument: CFHT`` (never applies);
- ``demo.patch_rms`` per ``{"tract": 9813, "patch": p, "band": "r"}`` for p in 0..5,
  value ``3 + p`` (patches 3, 4, 5 fail its ``design`` <= 5.5) and ``4.0 + night/10``
  for ``{"band": "r"}``;
- ``demo.allnan``: NaN every night; ``demo.once``: only on night 0; ``demo.never``:
  defined, never measured.

Package ``afw`` moves from 1.0 to 2.0 on night 3 and ``meas`` appears on night 5. The
last main job carries a blob on ``demo.rms`` (``mag``, ``rms`` arrays) and two
artifacts (a PNG and a text file). Branch ``tickets/DM-1`` (PR 7, github-actions) has
two jobs on nights 4 and 5 with ``demo.rms`` = 7.0, 7.5.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

from vigil.demo import encode_png
from vigil.server.factory import Factory
from vigil.verify import Datum, Job, Metric, ThresholdSpecification

START = datetime(2026, 3, 1, 2, 0, tzinfo=UTC)
HTML = {"Accept": "text/html"}
MAIN_RMS = [4.0, 4.5, 4.8, 5.5, 6.0, 4.2]
BRANCH = "tickets/DM-1"
BRANCH_RMS = [7.0, 7.5]

METRICS = [
    Metric(
        "demo.rms",
        unit="mmag",
        description="Photometric repeatability",
        tags=frozenset({"photometry"}),
    ),
    Metric("demo.patch_rms", unit="mmag", description="Repeatability per patch"),
    Metric("demo.allnan", unit="mas", description="Never a number"),
    Metric("demo.once", unit="s", description="Measured once"),
    Metric("demo.never", unit="", description="Defined, never measured"),
]
SPECS = [
    ThresholdSpecification(
        "demo.rms.design", threshold_value=5.0, threshold_unit="mmag", tags=frozenset({"design"})
    ),
    ThresholdSpecification(
        "demo.rms.minimum", threshold_value=0.008, threshold_unit="mag", tags=frozenset({"minimum"})
    ),
    ThresholdSpecification(
        "demo.rms.cfht_only",
        threshold_value=1.0,
        threshold_unit="mmag",
        metadata_query={"instrument": "CFHT"},
        tags=frozenset({"design"}),
    ),
    ThresholdSpecification(
        "demo.patch_rms.design",
        threshold_value=5.5,
        threshold_unit="mmag",
        tags=frozenset({"design"}),
    ),
]


@dataclass
class History:
    """Ids of the stored jobs."""

    main: list[int] = field(default_factory=list)
    branch: list[int] = field(default_factory=list)


def png(seed: int) -> bytes:
    pixels = np.full((8, 8, 3), 255, dtype=np.uint8)
    pixels[2:5, 2:5] = (seed * 60) % 256
    return encode_png(pixels)


def make_job(
    night: int,
    *,
    branch: str = "main",
    rms: float,
    environment: str = "jenkins",
    pull_request: int | None = None,
    extras: bool = True,
    blobs: bool = False,
) -> Job:
    packages: dict[str, Any] = {
        "afw": {
            "name": "afw",
            "eups_version": "1.0" if night < 3 else "2.0",
            "git_url": "https://github.com/lsst/afw.git",
            "git_sha": f"{(1 if night < 3 else 2):040x}",
        },
        "numpy": {"name": "numpy", "eups_version": "1.26"},
    }
    if night >= 5:
        packages["meas"] = {"name": "meas", "eups_version": "0.1"}
    job = Job(
        metrics=METRICS,
        specs=SPECS,
        meta={
            "instrument": "HSC",
            "filter_name": "r",
            "dataset": "data_a",
            "env": {
                "env_name": environment,
                "ci_id": f"{100 + night}",
                "ci_name": "nightly",
                "ci_url": f"https://ci.example.org/job/nightly/{100 + night}",
                "date": (START + timedelta(days=night)).isoformat(),
            },
            "git": {
                "branch": branch,
                "commit": f"{night + (1000 if branch != 'main' else 0):040x}",
                "repository_url": "https://github.com/example/pipe",
                **({"pull_request": pull_request} if pull_request else {}),
            },
            "packages": packages,
        },
        identifier=f"web-{branch}-{night}",
    )
    job.measure(
        "demo.rms",
        rms,
        data_id={"band": "r"},
        blobs={
            "mag": Datum([17.0, 18.0, 19.0, 20.0], unit="mag", label="Magnitude"),
            "rms": Datum([3.0, 4.0, 5.5, 8.0], unit="mmag", label="RMS"),
        }
        if blobs
        else None,
    )
    if extras:
        job.measure("demo.patch_rms", 4.0 + night / 10, data_id={"band": "r"})
        for patch in range(6):
            job.measure(
                "demo.patch_rms",
                3.0 + patch,
                data_id={"tract": 9813, "patch": patch, "band": "r"},
            )
        job.measure("demo.allnan", float("nan"))
        if night == 0:
            job.measure("demo.once", 12.5)
    return job


def store_history(factory: Factory) -> History:
    """Ingest the history through the job service, as ``POST /api/jobs`` does."""
    jobs = factory.create_job_service()
    history = History()
    last = len(MAIN_RMS) - 1
    for night, rms in enumerate(MAIN_RMS):
        job = make_job(night, rms=rms, blobs=night == last)
        history.main.append(jobs.ingest(job.to_dict(), None).id)
    for i, rms in enumerate(BRANCH_RMS):
        job = make_job(
            4 + i,
            branch=BRANCH,
            rms=rms,
            environment="github-actions",
            pull_request=7,
            extras=False,
        )
        history.branch.append(jobs.ingest(job.to_dict(), None).id)
    artifacts = factory.create_artifact_service()
    artifacts.upload(history.main[-1], "residuals/a.png", io.BytesIO(png(1)), "image/png")
    artifacts.upload(history.main[-1], "logs/run.txt", io.BytesIO(b"all good\n"), "text/plain")
    return history
