"""Known answer: comparing two unchanged main-line jobs flags almost nothing.

Many series of pure noise (Gaussian, and heavy-tailed Student t with 5 degrees of
freedom) are stored as nightly main-line jobs; every pair of jobs compared through the
compare service must call ``|z| >= 3`` on at most 0.5 % of the rows (a Gaussian 3-sigma
event is 0.27 %). Before the significance was that of a difference, 5 to 9 % were.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest

from vigil.server.factory import Factory
from vigil.server.services.compare import UNUSUAL_Z, CompareQuery

START = datetime(2026, 3, 1, tzinfo=UTC)
METRICS = 12
PATCHES = 15
NIGHTS = 40
HISTORY = 30  # the compare page's default


def _noise(rng: np.random.Generator, kind: str, size: int) -> np.ndarray:
    if kind == "gaussian":
        return rng.standard_normal(size)
    noise: np.ndarray = rng.standard_t(5, size) / np.sqrt(5 / 3)  # unit variance, kurtosis 9
    return noise


def _job(dataset: str, night: int, values: dict[tuple[int, int], float]) -> dict[str, Any]:
    return {
        "identifier": f"{dataset}-{night}",
        "measurements": [
            {
                "metric": f"noise.m{m:02d}",
                "value": float(value),
                "unit": "",
                "data_id": {"patch": patch},
                "blob_refs": [],
            }
            for (m, patch), value in values.items()
        ],
        "blobs": [],
        "metrics": [{"name": f"noise.m{m:02d}", "unit": ""} for m in range(METRICS)],
        "specs": [],
        "meta": {
            "dataset": dataset,
            "date": (START + timedelta(days=night)).isoformat(),
            "git": {"branch": "main", "commit": f"{night:040x}"},
        },
    }


def _store_noise(factory: Factory, kind: str, seed: int) -> list[int]:
    """*NIGHTS* main-line jobs of ``METRICS x PATCHES`` series of pure *kind* noise."""
    rng = np.random.default_rng(seed)
    series = [(m, p) for m in range(METRICS) for p in range(PATCHES)]
    # Each series its own level and scale, some far from 1: the verdict must not care.
    levels = {s: float(10.0 ** rng.uniform(-3, 3)) for s in series}
    scales = {s: levels[s] * float(rng.uniform(0.01, 0.2)) for s in series}
    noise = {s: _noise(rng, kind, NIGHTS) for s in series}
    jobs = factory.create_job_service()
    ids = []
    for night in range(NIGHTS):
        values = {s: levels[s] + scales[s] * noise[s][night] for s in series}
        ids.append(jobs.ingest(_job(f"noise-{kind}", night, values), None).id)
    return ids


@pytest.mark.parametrize("kind", ["gaussian", "student-t5"])
def test_unchanged_main_line_jobs_are_rarely_unusual(factory: Factory, kind: str) -> None:
    ids = _store_noise(factory, kind, seed=14)
    service = factory.create_compare_service()
    # Every later job against the one before it, and against one a week before: the
    # noise of a is estimated from up to HISTORY points up to and including a.
    pairs = [(ids[i - 1], ids[i]) for i in range(HISTORY, NIGHTS)]
    pairs += [(ids[i - 7], ids[i]) for i in range(HISTORY + 6, NIGHTS)]
    rows = flagged = 0
    for a, b in pairs:
        comparison = service.compare(CompareQuery(a=a, b=b))
        assert comparison.total == METRICS * PATCHES
        for delta in comparison.deltas:
            assert delta.z is not None and delta.sigma_delta is not None
            rows += 1
            flagged += abs(delta.z) >= UNUSUAL_Z
    rate = flagged / rows
    assert rows >= 2000
    assert rate <= 0.005, f"{flagged} of {rows} rows flagged ({rate:.2%}) on unchanged data"


def test_the_branch_view_judges_a_difference_too(factory: Factory) -> None:
    # A branch job that is just another draw of the same noise: its verdicts are those of
    # a difference of two values, the same calibration as two main-line jobs.
    ids = _store_noise(factory, "gaussian", seed=15)
    rng = np.random.default_rng(16)
    main_last = factory.create_compare_service().compare(CompareQuery(a=ids[-2], b=ids[-1]))
    values = {}
    for delta in main_last.deltas:
        m, patch = int(delta.metric[-2:]), int(delta.data_id["patch"])
        assert delta.b is not None and delta.sigma is not None
        values[(m, patch)] = delta.b + delta.sigma * float(rng.standard_normal())
    branch_job = _job("noise-gaussian", NIGHTS, values)
    branch_job["identifier"] = "branch"
    branch_job["meta"]["git"]["branch"] = "tickets/DM-1"
    factory.create_job_service().ingest(branch_job, None)
    comparison = factory.create_compare_service().compare(CompareQuery(branch="tickets/DM-1"))
    assert comparison.mode == "branch" and comparison.a.id == ids[-1]
    zs = np.array([d.z for d in comparison.deltas], dtype=float)
    assert np.count_nonzero(np.abs(zs) >= UNUSUAL_Z) <= 1
    # The spread of z is about 1 (a difference's noise), not sqrt(2) (one value's noise).
    assert 0.6 < float(np.std(zs)) < 1.2
