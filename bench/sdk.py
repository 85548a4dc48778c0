"""SDK figures: load all of verify_metrics (metrics + specifications resolved) and parse
the real verify_job.json (1.75 MB, bare NaN tokens); write it back.

Run: .venv/bin/python bench/sdk.py [--repeat N]
Prints the median and best of N runs for each operation. Aim: under 1 s each.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from vigil.verify import Job, MetricSet, SpecificationSet

CONFORMANCE = Path(__file__).resolve().parents[2] / "shared" / "conformance"


def timed(action: Callable[[], Any], repeat: int) -> tuple[float, float, Any]:
    """Median and best wall time of *repeat* runs, and the last result."""
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = action()
        times.append(time.perf_counter() - start)
    return statistics.median(times), min(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--conformance", type=Path, default=CONFORMANCE)
    args = parser.parse_args()
    metrics_package = args.conformance / "lsst-verify/verify_metrics"
    job_file = args.conformance / "squash/verify_job.json"

    def load_package() -> tuple[MetricSet, SpecificationSet]:
        return MetricSet.load(metrics_package), SpecificationSet.load(metrics_package)

    median, best, (metrics, specs) = timed(load_package, args.repeat)
    print(
        f"load verify_metrics: {len(metrics)} metrics + {len(specs)} specifications "
        f"({len(specs.partials)} partials) resolved: median {median * 1000:.0f} ms, "
        f"best {best * 1000:.0f} ms (aim < 1000 ms)"
    )

    median, best, job = timed(lambda: Job.read(job_file), args.repeat)
    size = job_file.stat().st_size / 1e6
    print(
        f"parse verify_job.json ({size:.2f} MB): {len(job.measurements)} measurements, "
        f"{len(job.blobs)} blobs, {len(job.specs)} specs: median {median * 1000:.0f} ms, "
        f"best {best * 1000:.0f} ms (aim < 1000 ms)"
    )

    with tempfile.TemporaryDirectory() as folder:
        target = Path(folder) / "job.verify.json"
        median, best, _ = timed(lambda: job.write(target), args.repeat)
    print(f"write verify_job.json back: median {median * 1000:.0f} ms, best {best * 1000:.0f} ms")

    median, best, verdicts = timed(job.evaluate, args.repeat)
    print(
        f"evaluate {len(job.measurements)} measurements against {len(job.specs)} specs "
        f"({len(verdicts)} verdicts): median {median * 1000:.1f} ms"
    )


if __name__ == "__main__":
    main()
