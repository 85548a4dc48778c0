"""Ingest and query figures of the tracking server, with an MLflow tracking server as peer.

Run: .venv/bin/python bench/ingest.py [--quick] [--jobs N] [--databases sqlite,postgresql]
                                      [--workers 1,2,4] [--skip-peer]

For each database, a real ``vigil serve`` process on 127.0.0.1 (fresh database in a
temporary folder; PostgreSQL: a fresh database on 127.0.0.1:5432, dropped at the end):

1. ingest: the first N generated jobs of 50 measurements (``bench/_jobs.py``) posted
   to ``POST /api/jobs`` from several client threads: jobs/s and measurements/s;
2. the rest of the 20,000 jobs (1,000,000 measurements) posted the same way;
3. series: ``GET /api/series/{key}/points`` for one series of 10,000 points, median
   latency over 50 requests;
4. ``POST /api/jobs`` of the real verify_job.json (1.75 MB, bare NaN), each with its
   own top-level ``identifier``: median latency.

On PostgreSQL, step 1 is repeated for each further ``--workers`` count (``vigil serve
--workers N``, a fresh database each time). The server's CPU time per job covers every
process of the server (its workers included), read from ``/proc``.

The bare-insert peer (``bench/_bare.py``) inserts the rows of the same timed jobs with
the database driver alone into a freshly migrated database (Vigil's own tables and
indexes, one transaction a job): the ceiling a server on that database could reach.

The peer, an MLflow tracking server (SQLite, its default 4 workers) in its own virtual
environment ``bench/.mlflow-venv`` (created on first run), receives the same jobs
through its own client (``bench/_peer_mlflow.py``): one run per job, the 50 metrics in
one ``log_batch``. Its series store is smaller (see the printout). Nothing is written
to the repository except the cached generated jobs in ``bench/.work/``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import signal
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _bare import bare_jobs, insert_postgres, insert_sqlite
from _jobs import MEASUREMENTS_PER_JOB, series_points_path, write_jobs
from _servers import (
    ServerProcess,
    analyze_if_no_autovacuum,
    free_port,
    median_ms,
    p95_ms,
    postgres_database,
    run_command,
    send_from_threads,
    vigil_command,
)

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
VERIFY_JOB = REPO.parent / "shared" / "conformance" / "squash" / "verify_job.json"
MLFLOW_VENV = BENCH / ".mlflow-venv"
MLFLOW_REQUIREMENT = "mlflow>=3.0,<4"
WORK = BENCH / ".work"
PEER_SCRIPT = BENCH / "_peer_mlflow.py"

AIM_INGEST_RATIO = 5.0
AIM_SERIES_MS = 30.0
AIM_SERIES_RATIO = 20.0
AIM_VERIFY_JOB_S = 0.5
AIM_BARE_RATIO = 3.0

# Environment of every MLflow process: no usage reports leave the machine.
MLFLOW_ENV = {"MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true"}


@dataclass(slots=True)
class Sizes:
    """How much the bench sends and stores."""

    ingest_jobs: int
    store_jobs: int
    series_requests: int
    verify_posts: int
    peer_jobs: int
    peer_runs: int
    peer_budget: float
    history_sample: int
    concurrency: int
    time_limit: int


FULL = Sizes(
    ingest_jobs=2_000,
    store_jobs=20_000,
    series_requests=50,
    verify_posts=20,
    peer_jobs=500,
    peer_runs=10_000,
    peer_budget=60.0,
    history_sample=100,
    concurrency=4,
    time_limit=1_800,
)
QUICK = Sizes(
    ingest_jobs=100,
    store_jobs=400,
    series_requests=20,
    verify_posts=5,
    peer_jobs=40,
    peer_runs=200,
    peer_budget=3.0,
    history_sample=20,
    concurrency=4,
    time_limit=420,
)


@dataclass(slots=True)
class Rate:
    """Jobs sent in a time, and the server's CPU time meanwhile."""

    jobs: int
    seconds: float
    server_cpu: float | None = None
    median_latency: float | None = None
    client_cpu: float | None = None

    @property
    def jobs_per_s(self) -> float:
        return self.jobs / self.seconds

    @property
    def measurements_per_s(self) -> float:
        return self.jobs * MEASUREMENTS_PER_JOB / self.seconds

    @property
    def cpu_share(self) -> float | None:
        """Server CPU time per wall second (1.0 = one core busy)."""
        return None if self.server_cpu is None else self.server_cpu / self.seconds

    @property
    def cpu_ms_per_job(self) -> float | None:
        """Server CPU milliseconds per job (all of its processes)."""
        return None if self.server_cpu is None else self.server_cpu / self.jobs * 1000


@dataclass(slots=True)
class VigilFigures:
    """What one database gave."""

    database: str
    workers: int = 1
    ingest: Rate | None = None
    bulk: Rate | None = None
    #: Jobs/s of the bare-insert peer on the same jobs.
    bare_jobs_per_s: float | None = None
    #: Further worker counts (ingest only): workers -> rate.
    scaling: dict[int, Rate] = field(default_factory=dict)
    stored: int = 0
    note: str | None = None
    series_points: int = 0
    #: Series waiting for analysis right after the timed ingest, and seconds to drain.
    backlog: int | None = None
    drained_s: float | None = None
    #: Seconds the analysis of the load took to finish before the series reads.
    settled_s: float | None = None
    series_latencies: list[float] = field(default_factory=list)
    verify_latencies: list[float] = field(default_factory=list)
    skipped: str | None = None


@dataclass(slots=True)
class PeerFigures:
    """What MLflow gave."""

    version: str = ""
    workers: int = 4
    ingest: Rate | None = None
    runs: int = 0
    values: int = 0
    query: dict[str, Any] = field(default_factory=dict)
    skipped: str | None = None


class _DeadlineError(Exception):
    """The whole bench ran out of time."""


# Helpers ------------------------------------------------------------------------------


_STARTED = time.perf_counter()


def _progress(message: str) -> None:
    print(f"[{time.perf_counter() - _STARTED:5.0f} s] {message} ...", flush=True)


def _send_jobs(
    url: str,
    token: str,
    bodies: Sequence[bytes],
    concurrency: int,
    server: ServerProcess,
) -> Rate:
    """POST *bodies* to *url* from *concurrency* threads, each with a kept-alive client."""
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

    def send(client: httpx.Client, body: bytes) -> float:
        began = time.perf_counter()
        response = client.post(url, content=body)
        if response.status_code != 201:
            raise RuntimeError(f"POST {url}: {response.status_code} {response.text[:500]}")
        return time.perf_counter() - began

    cpu = server.cpu_seconds()
    latencies, elapsed, client_cpu = send_from_threads(
        bodies, send, concurrency, headers=headers, timeout=120
    )
    return Rate(
        len(bodies),
        elapsed,
        server_cpu=server.cpu_seconds() - cpu,
        median_latency=statistics.median(latencies) if latencies else None,
        client_cpu=client_cpu,
    )


def _analysis_backlog(database_url: str, limit: float = 300.0) -> tuple[int, float | None]:
    """The series waiting for analysis now, and the seconds until none waits (None: more
    than *limit*). The server's analysis thread gives way while jobs arrive; this says
    how far behind it fell and how soon it caught up."""
    import sqlalchemy

    engine = sqlalchemy.create_engine(database_url)
    count = sqlalchemy.text("SELECT count(*) FROM analysis_queue")
    try:
        began = time.perf_counter()
        with engine.connect() as connection:
            backlog = int(connection.execute(count).scalar() or 0)
        waiting = backlog
        while waiting and time.perf_counter() - began < limit:
            time.sleep(0.5)
            with engine.connect() as connection:
                waiting = int(connection.execute(count).scalar() or 0)
        return backlog, (time.perf_counter() - began if not waiting else None)
    finally:
        engine.dispose()


def _with_identifier(document: bytes, identifier: str) -> bytes:
    """*document* (a JSON object) with a top-level ``identifier`` put first, bytes intact."""
    start = document.index(b"{") + 1
    return (
        document[:start]
        + json.dumps({"identifier": identifier})[1:-1].encode()
        + (b"," + document[start:])
    )


# Vigil ----------------------------------------------------------------------------------


def bench_vigil(
    database: str,
    database_url: str,
    folder: Path,
    bodies: Sequence[bytes],
    sizes: Sizes,
    expected_points: int,
    *,
    workers: int = 1,
    ingest_only: bool = False,
) -> VigilFigures:
    """Run the Vigil half on one database (with *ingest_only*, step 1 alone)."""
    figures = VigilFigures(database, workers=workers)
    folder.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "VIGIL_DATA_DIR": str(folder), "VIGIL_DATABASE_URL": database_url}
    vigil = vigil_command()
    run_command([*vigil, "db", "upgrade"], timeout=120, env=env)
    created = run_command([*vigil, "user", "create", "bench"], timeout=120, env=env)
    token = created.strip().splitlines()[-1]
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = ServerProcess(
        f"vigil serve ({database})",
        [
            *vigil,
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--workers",
            str(workers),
        ],
        f"{base}/api/",
        folder / "server.log",
        env=env,
    )
    try:
        server.wait_ready(180)
        jobs_url = f"{base}/api/jobs"
        warmup = 2 * sizes.concurrency
        _send_jobs(jobs_url, token, bodies[:warmup], sizes.concurrency, server)
        ingest = bodies[warmup : warmup + sizes.ingest_jobs]
        _progress(f"{database}: ingest {len(ingest)} jobs ({workers} workers)")
        figures.ingest = _send_jobs(jobs_url, token, ingest, sizes.concurrency, server)
        if workers == 1:
            figures.backlog, figures.drained_s = _analysis_backlog(database_url)
        if ingest_only:
            return figures
        rest = bodies[warmup + sizes.ingest_jobs :]
        if rest:
            _progress(f"{database}: load {len(rest)} more jobs")
            figures.bulk = _send_jobs(jobs_url, token, rest, sizes.concurrency, server)
        figures.stored = len(bodies) * MEASUREMENTS_PER_JOB
        if database_url.startswith("postgresql"):
            figures.note = analyze_if_no_autovacuum(database_url)
        # The reads are timed on a server at rest: the analysis of the load, which gives
        # way to requests but shares the process with them, is waited for first.
        _progress(f"{database}: wait for the analysis of the load")
        figures.settled_s = _analysis_backlog(database_url)[1]

        _progress(f"{database}: series and verify_job.json")
        with httpx.Client(base_url=base, timeout=60) as client:
            path = series_points_path(client)

            def fetch_series() -> int:
                """Every point, following ``next_cursor`` past the server's page limit."""
                params: dict[str, Any] = {"limit": max(expected_points, 1)}
                points = 0
                while True:
                    response = client.get(path, params=params)
                    response.raise_for_status()
                    page = response.json()
                    points += len(page["items"])
                    if page["next_cursor"] is None:
                        return points
                    params["cursor"] = page["next_cursor"]

            for _ in range(2):  # warm-up: first query plans, page cache
                fetch_series()
            for _ in range(sizes.series_requests):
                began = time.perf_counter()
                figures.series_points = fetch_series()
                figures.series_latencies.append(time.perf_counter() - began)
            if figures.series_points != expected_points:
                raise RuntimeError(
                    f"the series has {figures.series_points} points, {expected_points} expected"
                )

            document = VERIFY_JOB.read_bytes()
            headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
            run = uuid.uuid4().hex[:8]
            for i in range(sizes.verify_posts):
                body = _with_identifier(document, f"bench-verify-{run}-{i}")
                began = time.perf_counter()
                response = client.post("/api/jobs", content=body, headers=headers)
                figures.verify_latencies.append(time.perf_counter() - began)
                if response.status_code != 201:
                    raise RuntimeError(
                        f"POST verify_job.json: {response.status_code} {response.text[:500]}"
                    )
    finally:
        _progress(f"{database}: stop vigil serve")
        server.stop()
    return figures


def bench_bare(
    database: str, database_url: str, folder: Path, bodies: Sequence[bytes], concurrency: int
) -> float:
    """Jobs/s of the bare-insert peer on *bodies*, in a freshly migrated database."""
    folder.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "VIGIL_DATA_DIR": str(folder), "VIGIL_DATABASE_URL": database_url}
    run_command([*vigil_command(), "db", "upgrade"], timeout=120, env=env)
    jobs = bare_jobs(bodies)
    _progress(f"{database}: bare inserts of {len(jobs)} jobs")
    if database == "sqlite":
        seconds = insert_sqlite(database_url.removeprefix("sqlite:///"), jobs)
    else:
        dsn = database_url.replace("postgresql+psycopg://", "postgresql://")
        seconds = insert_postgres(dsn, jobs, concurrency)
    return len(jobs) / seconds


# MLflow -----------------------------------------------------------------------------------


def ensure_mlflow_venv() -> Path:
    """The MLflow virtual environment's python, creating the environment on first use."""
    python = MLFLOW_VENV / "bin" / "python"
    if (MLFLOW_VENV / "bin" / "mlflow").exists():
        return python
    print(f"Creating {MLFLOW_VENV.relative_to(REPO)} with {MLFLOW_REQUIREMENT} (first run) ...")
    run_command([sys.executable, "-m", "venv", str(MLFLOW_VENV)], timeout=300)
    run_command([str(python), "-m", "pip", "install", "--quiet", MLFLOW_REQUIREMENT], timeout=1200)
    return python


def _mlflow_version() -> str:
    found = sorted(MLFLOW_VENV.glob("lib/python*/site-packages/mlflow-*.dist-info"))
    return found[-1].name.removeprefix("mlflow-").removesuffix(".dist-info") if found else "?"


def start_mlflow(python: Path, folder: Path, workers: int) -> tuple[ServerProcess, str]:
    """Start an MLflow tracking server on SQLite in *folder*."""
    folder.mkdir(parents=True, exist_ok=True)
    port = free_port()
    command = [
        str(python.with_name("mlflow")),
        "server",
        "--backend-store-uri",
        f"sqlite:///{folder / 'mlflow.db'}",
        "--default-artifact-root",
        str(folder / "artifacts"),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
    ]
    uri = f"http://127.0.0.1:{port}"
    env = {**os.environ, **MLFLOW_ENV}
    server = ServerProcess(
        "mlflow server", command, f"{uri}/health", folder / "server.log", env, folder
    )
    return server, uri


def _peer(python: Path, folder: Path, args: Sequence[str], timeout: float) -> dict[str, Any]:
    """Run a command of the peer script; its JSON result (last line of its output)."""
    output = run_command(
        [str(python), str(PEER_SCRIPT), *args],
        timeout=timeout,
        cwd=folder,
        env={**os.environ, **MLFLOW_ENV},
    )
    return json.loads(output.strip().splitlines()[-1])


def bench_mlflow(
    python: Path,
    server: ServerProcess,
    uri: str,
    folder: Path,
    jobs_file: Path,
    sizes: Sizes,
    figures: PeerFigures,
) -> None:
    """Run the MLflow half."""
    _progress(f"MLflow: ingest {sizes.peer_jobs} jobs")
    cpu = server.cpu_seconds()
    result = _peer(
        python,
        folder,
        ["ingest", uri, str(jobs_file), "--count", str(sizes.peer_jobs),
         "--warmup", str(2 * sizes.concurrency), "--concurrency", str(sizes.concurrency)],
        timeout=max(120, sizes.peer_jobs * 2),
    )  # fmt: skip
    # The server's CPU time covers the warm-up too: share it out over both.
    cpu = (server.cpu_seconds() - cpu) * result["seconds"]
    cpu /= result["seconds"] + result["warmup_seconds"]
    figures.ingest = Rate(
        result["jobs"],
        result["seconds"],
        server_cpu=cpu,
        median_latency=result["median_job_latency"],
    )
    _progress(f"MLflow: store {sizes.peer_runs} runs and query the series")
    figures.query = _peer(
        python,
        folder,
        ["series", uri, f"sqlite:///{folder / 'mlflow.db'}", str(jobs_file),
         "--runs", str(sizes.peer_runs), "--artifacts", str(folder / "artifacts"),
         "--repeat", str(sizes.series_requests), "--budget", str(sizes.peer_budget),
         "--history-sample", str(sizes.history_sample)],
        timeout=sizes.peer_budget + 900,
    )  # fmt: skip
    figures.runs, figures.values = figures.query["runs"], figures.query["values"]
    if figures.query["points"] != figures.runs:
        raise RuntimeError(f"MLflow returned {figures.query['points']} of {figures.runs} points")


# Report ---------------------------------------------------------------------------------


def _ratio(ours: float | None, theirs: float | None) -> str:
    if not ours or not theirs:
        return "-"
    return f"{ours / theirs:.1f}x"


def _met(ok: bool | None) -> str:
    return "" if ok is None else ("  met" if ok else "  MISSED")


def report(sizes: Sizes, vigil: list[VigilFigures], peer: PeerFigures, verify_size: float) -> None:
    """Print the figures, the peer's and the ratios against the aims."""
    width = 78
    print()
    print("=" * width)
    print(
        f"Vigil ingest and query bench ({sizes.concurrency} client threads per server,"
        f" {MEASUREMENTS_PER_JOB} measurements a job)"
    )
    if sizes.store_jobs < FULL.store_jobs:
        print("Small sizes (--quick or options): a smoke run; the aims are for the full run.")
    print("=" * width)
    p_in = peer.ingest
    if p_in is not None:
        print(
            f"MLflow {peer.version} (SQLite, {peer.workers} workers): {p_in.jobs} jobs (runs):"
            f" {p_in.jobs_per_s:7.1f} jobs/s  {p_in.measurements_per_s:8.0f} measurements/s"
            f"  (3 requests a run; server CPU ~{p_in.cpu_share or 0:.1f} cores)"
        )
    elif peer.skipped:
        print(f"MLflow: {peer.skipped}")
    query = peer.query
    peer_series = query.get("search_runs_median")
    if query:
        print(
            f"MLflow series of {query['points']} points from a store of {peer.runs} runs x"
            f" {peer.values // max(peer.runs, 1)} metrics ({peer.values} values, scaled down"
            f" from 1,000,000):\n"
            f"  search_runs (one request, ordered by start time, the fastest way):"
            f" median {peer_series * 1000:.0f} ms over {query['search_runs_requests']}"
            f" requests\n"
            f"  get_metric_history per run: median {query['history_per_run_median'] * 1000:.1f}"
            f" ms a run -> {query['history_extrapolated']:.0f} s for {peer.runs} runs"
        )
    for figures in vigil:
        print("-" * width)
        if figures.skipped:
            print(f"Vigil on {figures.database}: skipped ({figures.skipped})")
            continue
        ing, bulk = figures.ingest, figures.bulk
        assert ing is not None
        ingest_ok = (
            ing.measurements_per_s >= AIM_INGEST_RATIO * p_in.measurements_per_s if p_in else None
        )
        print(f"Vigil on {figures.database} (vigil serve, one process)")
        if figures.note:
            print(f"  ({figures.note})")
        for workers, rate in [(1, ing), *sorted(figures.scaling.items())]:
            print(
                f"  ingest {rate.jobs} jobs, {workers} worker{'s' if workers > 1 else ' '}:"
                f" {rate.jobs_per_s:7.1f} jobs/s  {rate.measurements_per_s:8.0f} measurements/s"
                f"  (median {rate.median_latency * 1000:.0f} ms a job; server CPU"
                f" {rate.cpu_ms_per_job:.1f} ms a job, {rate.cpu_share:.2f} cores; client"
                f" {(rate.client_cpu or 0) / rate.seconds:.2f} cores)"
            )
        if figures.backlog is not None:
            drained = (
                f"drained {figures.drained_s:.0f} s after the ingest ended"
                if figures.drained_s is not None
                else "not drained within 300 s"
            )
            print(
                f"    analysis: {figures.backlog:,} series waiting when the timed ingest ended"
                f" (the analysis thread gives way while requests come); {drained}"
            )
        if figures.bare_jobs_per_s:
            best = max([ing, *figures.scaling.values()], key=lambda r: r.jobs_per_s)
            behind = figures.bare_jobs_per_s / best.jobs_per_s
            how = (
                "sqlite3, one connection"
                if figures.database == "sqlite"
                else f"psycopg, {sizes.concurrency} connections"
            )
            where = f"{behind:.1f}x behind" if behind >= 1 else f"{1 / behind:.1f}x ahead"
            print(
                f"    bare inserts of the same rows ({how}, one transaction a job):"
                f" {figures.bare_jobs_per_s:7.1f} jobs/s; Vigil's best is {where}"
                f" (aim within {AIM_BARE_RATIO:.0f}x){_met(behind <= AIM_BARE_RATIO)}"
            )
        print(
            f"    vs MLflow: {_ratio(ing.measurements_per_s, p_in and p_in.measurements_per_s)}"
            f" (aim >= {AIM_INGEST_RATIO:.0f}x){_met(ingest_ok)}"
        )
        if bulk is not None:
            print(
                f"  load to {figures.stored:,} measurements: {bulk.jobs} more jobs at"
                f" {bulk.jobs_per_s:.1f} jobs/s, {bulk.measurements_per_s:.0f} measurements/s"
                f" ({bulk.seconds:.0f} s, server CPU {bulk.cpu_share:.2f} cores)"
            )
        series_ms = median_ms(figures.series_latencies)
        series_ok = series_ms < AIM_SERIES_MS and (
            peer_series is None or peer_series * 1000 >= AIM_SERIES_RATIO * series_ms
        )
        print(
            f"  series of {figures.series_points:,} points out of {figures.stored:,}:"
            f" median {series_ms:.1f} ms, p95 {p95_ms(figures.series_latencies):.1f} ms over"
            f" {len(figures.series_latencies)} requests"
            + (
                f" (after the analysis of the load finished, {figures.settled_s:.0f} s)"
                if figures.settled_s is not None
                else " (the analysis of the load was still running)"
            )
        )
        print(
            f"    aim < {AIM_SERIES_MS:.0f} ms and >= {AIM_SERIES_RATIO:.0f}x MLflow;"
            f" vs MLflow search_runs: {_ratio(peer_series, series_ms / 1000)}{_met(series_ok)}"
        )
        verify_s = statistics.median(figures.verify_latencies)
        print(
            f"  POST verify_job.json ({verify_size:.2f} MB): median {verify_s * 1000:.0f} ms"
            f" over {len(figures.verify_latencies)} posts"
            f" (aim < {AIM_VERIFY_JOB_S * 1000:.0f} ms){_met(verify_s < AIM_VERIFY_JOB_S)}"
        )
    print("=" * width)


# Main ------------------------------------------------------------------------------------


def _parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="Small sizes: a smoke run.")
    parser.add_argument("--jobs", type=int, help="Jobs in the timed ingest (default 2000).")
    parser.add_argument(
        "--store-jobs", type=int, help="Jobs stored before the series query (default 20000)."
    )
    parser.add_argument("--peer-jobs", type=int, help="Jobs MLflow ingests (default 500).")
    parser.add_argument(
        "--peer-runs", type=int, help="Runs in MLflow's series store (default 10000)."
    )
    parser.add_argument("--concurrency", type=int, help="Client threads (default 4).")
    parser.add_argument("--peer-workers", type=int, default=4, help="MLflow server workers.")
    parser.add_argument(
        "--databases", default="sqlite,postgresql", help="Comma-separated: sqlite, postgresql."
    )
    parser.add_argument(
        "--workers",
        default="1,2,4",
        help="Comma-separated server worker counts timed on PostgreSQL (SQLite: 1).",
    )
    parser.add_argument("--skip-peer", action="store_true", help="Do not run MLflow.")
    parser.add_argument("--skip-bare", action="store_true", help="Do not run the bare inserts.")
    parser.add_argument("--time-limit", type=int, help="Stop everything after this many s.")
    return parser.parse_args()


def _sizes(args: argparse.Namespace) -> Sizes:
    sizes = QUICK if args.quick else FULL
    overrides = {
        "ingest_jobs": args.jobs,
        "store_jobs": args.store_jobs,
        "peer_jobs": args.peer_jobs,
        "peer_runs": args.peer_runs,
        "concurrency": args.concurrency,
        "time_limit": args.time_limit,
    }
    values = {name: getattr(sizes, name) for name in Sizes.__slots__}  # type: ignore[attr-defined]
    values.update({k: v for k, v in overrides.items() if v is not None})
    sizes = Sizes(**values)
    sizes.store_jobs = max(sizes.store_jobs, sizes.ingest_jobs + 2 * sizes.concurrency)
    return sizes


def _on_alarm(_signum: int, _frame: Any) -> None:
    raise _DeadlineError


def _on_term(signum: int, _frame: Any) -> None:
    raise SystemExit(128 + signum)


def main() -> None:
    args = _parse_args()
    sizes = _sizes(args)
    databases = [d.strip() for d in args.databases.split(",") if d.strip()]
    worker_counts = sorted({int(w) for w in args.workers.split(",") if w.strip()})
    unknown = set(databases) - {"sqlite", "postgresql"}
    if unknown:
        sys.exit(f"unknown database(s): {', '.join(sorted(unknown))}")
    signal.signal(signal.SIGTERM, _on_term)
    signal.signal(signal.SIGALRM, _on_alarm)
    signal.alarm(sizes.time_limit)
    began = time.perf_counter()

    peer = PeerFigures(workers=args.peer_workers)
    vigil: list[VigilFigures] = []
    with tempfile.TemporaryDirectory(prefix="vigil-bench-") as tmp:
        folder = Path(tmp)
        mlflow: ServerProcess | None = None
        try:
            if args.skip_peer:
                peer.skipped = "skipped (--skip-peer)"
            else:
                python = ensure_mlflow_venv()
                peer.version = _mlflow_version()
                _progress("MLflow: start the server")
                # Its start-up (about 20 s, 4 workers) overlaps the data generation.
                mlflow, uri = start_mlflow(python, folder / "mlflow", args.peer_workers)

            # Both systems store the same jobs: the peer needs 2 x peer_runs for its series.
            warmup = 2 * sizes.concurrency
            needed = max(sizes.store_jobs, warmup + sizes.peer_jobs, 2 * sizes.peer_runs)
            WORK.mkdir(exist_ok=True)
            jobs_file = write_jobs(WORK / f"jobs-{needed}-seed1.jsonl", needed)
            with jobs_file.open("rb") as stream:
                bodies = [line.rstrip(b"\n") for line in itertools.islice(stream, sizes.store_jobs)]
            expected_points = (sizes.store_jobs + 1) // 2  # the series is in every other job

            def run_peer() -> None:
                assert mlflow is not None
                _progress("MLflow: wait for the server")
                mlflow.wait_ready(180)
                bench_mlflow(python, mlflow, uri, folder / "mlflow", jobs_file, sizes, peer)
                mlflow.stop()

            # A full run times each system alone on the machine. A quick run lets the
            # Vigil half run while MLflow starts, to stay under a minute.
            if mlflow is not None and not args.quick:
                run_peer()
                mlflow = None

            warm = 2 * sizes.concurrency
            timed = bodies[warm : warm + sizes.ingest_jobs]
            for database in databases:
                _progress(f"{database}: start vigil serve")
                if database == "sqlite":
                    url = f"sqlite:///{folder / 'sqlite' / 'vigil.sqlite3'}"
                    figures = bench_vigil(
                        database, url, folder / database, bodies, sizes, expected_points
                    )
                    if not args.skip_bare:
                        bare_url = f"sqlite:///{folder / 'bare' / 'bare.sqlite3'}"
                        figures.bare_jobs_per_s = bench_bare(
                            database, bare_url, folder / "bare", timed, sizes.concurrency
                        )
                    vigil.append(figures)
                    continue
                with postgres_database("vigil_bench") as url:
                    if url is None:
                        vigil.append(VigilFigures(database, skipped="PostgreSQL unavailable"))
                        continue
                    figures = bench_vigil(
                        database, url, folder / database, bodies, sizes, expected_points
                    )
                vigil.append(figures)
                for count in worker_counts:
                    if count == 1:
                        continue
                    with postgres_database("vigil_bench") as url:
                        assert url is not None
                        more = bench_vigil(
                            database,
                            url,
                            folder / f"{database}-{count}",
                            bodies[: warm + sizes.ingest_jobs],
                            sizes,
                            expected_points,
                            workers=count,
                            ingest_only=True,
                        )
                    assert more.ingest is not None
                    figures.scaling[count] = more.ingest
                if not args.skip_bare:
                    with postgres_database("vigil_bench") as url:
                        assert url is not None
                        figures.bare_jobs_per_s = bench_bare(
                            database, url, folder / "bare-pg", timed, sizes.concurrency
                        )

            if mlflow is not None:
                run_peer()
                mlflow = None
        except _DeadlineError:
            sys.exit(f"Stopped: the bench took more than {sizes.time_limit} s (--time-limit).")
        finally:
            signal.alarm(0)
            if mlflow is not None:
                mlflow.stop()

    report(sizes, vigil, peer, VERIFY_JOB.stat().st_size / 1e6)
    print(
        f"Command: {' '.join([Path(sys.executable).name, *sys.argv])};"
        f" took {time.perf_counter() - began:.0f} s"
    )


if __name__ == "__main__":
    main()
