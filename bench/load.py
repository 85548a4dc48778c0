"""Concurrent ingest: 8 dispatchers sending 500 jobs each; nothing lost, nothing twice.

Run: .venv/bin/python bench/load.py [--dispatchers 8] [--jobs 500] [--measurements 20]
                                    [--databases sqlite,postgresql] [--quick]

``--quick`` sends 25 jobs per dispatcher instead of 500: a check that the load runs and
loses nothing, not the figure.

For each database, a real ``vigil serve`` process on 127.0.0.1 (SQLite: a new file in a
temporary folder; PostgreSQL: a new database on 127.0.0.1:5432, dropped at the end).
Each dispatcher is a thread with its own `vigil.client.VigilClient` (its retries
included) sending its jobs one after the other, as a CI job running ``vigil dispatch``
would. Then the tables are read with SQL: every job must be there once, with all its
measurements, blobs and packages, and no send may have failed.

Printed: jobs/s and measurements/s under that load, and the audit (lost, duplicated,
partial jobs). The exit status is 1 when any job is lost, doubled or partial, or any
send failed.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _reliability import (
    Audit,
    ExpectedJob,
    VigilServer,
    audit,
    create_token,
    expected,
    fresh_postgres,
    make_job,
    migrate,
)

from vigil.client import ClientError, Outcome, VigilClient

__all__ = ["LoadResult", "run_load", "send_concurrently"]


@dataclass(slots=True)
class LoadResult:
    """What a load run sent and what the database holds afterwards."""

    dispatchers: int
    jobs: int
    seconds: float
    outcomes: Counter[str] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)
    audit: Audit | None = None

    @property
    def jobs_per_second(self) -> float:
        """Jobs stored per second of wall time, all dispatchers together."""
        return self.jobs / self.seconds if self.seconds else 0.0

    @property
    def ok(self) -> bool:
        """No send failed and the audit found every job once and whole."""
        return not self.errors and self.audit is not None and self.audit.ok


def send_concurrently(
    url: str,
    token: str,
    jobs_by_dispatcher: list[list[dict[str, Any]]],
    *,
    timeout: float = 30.0,
    total_timeout: float = 120.0,
) -> tuple[Counter[str], list[str], float]:
    """Send each list of jobs from its own thread and client; all threads start together.

    Returns
    -------
    outcomes, errors, seconds
        How many jobs were stored now or already, the errors (one line each), and the
        wall time from the start signal to the last answer.
    """
    outcomes: Counter[str] = Counter()
    errors: list[str] = []
    lock = threading.Lock()
    start = threading.Barrier(len(jobs_by_dispatcher) + 1)

    def dispatcher(jobs: list[dict[str, Any]]) -> None:
        with VigilClient(
            url, token, timeout=timeout, retries=5, total_timeout=total_timeout
        ) as client:
            start.wait()
            for job in jobs:
                try:
                    result = client.send_job(job)
                except ClientError as exc:
                    with lock:
                        errors.append(f"{job['identifier']}: {exc.message}")
                    continue
                with lock:
                    outcomes[result.outcome.value] += 1

    with ThreadPoolExecutor(len(jobs_by_dispatcher)) as pool:
        futures = [pool.submit(dispatcher, jobs) for jobs in jobs_by_dispatcher]
        start.wait()
        began = time.perf_counter()
        for future in futures:
            future.result()
        seconds = time.perf_counter() - began
    return outcomes, errors, seconds


def run_load(
    server: VigilServer,
    token: str,
    *,
    dispatchers: int = 8,
    jobs: int = 500,
    measurements: int = 20,
) -> LoadResult:
    """Send ``dispatchers x jobs`` jobs to *server* concurrently, then audit its database."""
    plan = [
        [make_job(f"load-d{d}", i, measurements) for i in range(jobs)] for d in range(dispatchers)
    ]
    sent: dict[str, ExpectedJob] = {j["identifier"]: expected(j) for js in plan for j in js}
    outcomes, errors, seconds = send_concurrently(server.url, token, plan)
    result = LoadResult(dispatchers, len(sent), seconds, outcomes, errors)
    result.audit = audit(server.database_url, sent)
    return result


def _report(name: str, result: LoadResult, measurements: int) -> None:
    audit_result = result.audit
    assert audit_result is not None
    stored_now = result.outcomes[Outcome.STORED.value]
    again = result.outcomes[Outcome.ALREADY_STORED.value]
    print(f"\n{name}: {result.dispatchers} dispatchers x {result.jobs // result.dispatchers} jobs")
    print(
        f"  {result.jobs_per_second:8.1f} jobs/s   "
        f"{result.jobs_per_second * measurements:9.0f} measurements/s   "
        f"({result.jobs} jobs in {result.seconds:.1f} s)"
    )
    print(f"  answers: {stored_now} stored, {again} already stored (after a retry)")
    print(
        f"  send errors: {len(result.errors)}" + (f" ({result.errors[0]})" if result.errors else "")
    )
    print(f"  audit: {audit_result.summary()}")
    print(f"  {'OK' if result.ok else 'FAILED'}")


def _run_on(name: str, database_url: str, folder: Path, args: argparse.Namespace) -> LoadResult:
    migrate(database_url)
    token = create_token(database_url)
    with VigilServer(database_url, folder / "data") as server:
        return run_load(
            server,
            token,
            dispatchers=args.dispatchers,
            jobs=args.jobs,
            measurements=args.measurements,
        )


def main(argv: list[str] | None = None) -> int:
    """Run the load on each database and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dispatchers", type=int, default=8)
    parser.add_argument(
        "--jobs", type=int, default=None, help="jobs per dispatcher (500; 25 with --quick)"
    )
    parser.add_argument("--measurements", type=int, default=20, help="measurements per job")
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument("--quick", action="store_true", help="25 jobs per dispatcher")
    args = parser.parse_args(argv)
    if args.jobs is None:
        args.jobs = 25 if args.quick else 500
    print(
        f"Load: {args.dispatchers} concurrent dispatchers x {args.jobs} jobs of"
        f" {args.measurements} measurements, one `vigil serve` process on 127.0.0.1"
    )
    results: dict[str, LoadResult | None] = {}
    for name in args.databases.split(","):
        with tempfile.TemporaryDirectory(prefix=f"vigil-load-{name}-") as tmp:
            folder = Path(tmp)
            if name == "sqlite":
                results[name] = _run_on(name, f"sqlite:///{folder / 'vigil.sqlite3'}", folder, args)
            elif name == "postgresql":
                try:
                    with fresh_postgres("vigil_load") as url:
                        results[name] = _run_on(name, url, folder, args)
                except RuntimeError as exc:
                    print(f"\npostgresql: skipped ({exc})")
                    results[name] = None
                    continue
            else:
                parser.error(f"unknown database {name!r}")
        result = results[name]
        assert result is not None
        _report(name, result, args.measurements)
    print("\nFigures")
    for name, result in results.items():
        if result is not None and result.audit is not None:
            print(
                f"  {name:10s} {result.jobs_per_second:7.1f} jobs/s under"
                f" {result.dispatchers}-way concurrency; jobs stored {result.audit.stored}"
                f"/{result.jobs}, lost {len(result.audit.lost)}, duplicated"
                f" {len(result.audit.duplicated)}, partial {len(result.audit.partial)},"
                f" send errors {len(result.errors)}"
            )
    return 0 if all(r is None or r.ok for r in results.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
