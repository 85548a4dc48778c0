"""Series reads in every form, and ``vigil import`` of a history, on a real server.

Run: .venv/bin/python bench/series.py [--quick] [--jobs N] [--databases sqlite,postgresql]
[--keep] [--layers]

For each database, a real ``vigil serve`` process on 127.0.0.1 (fresh database in a
temporary folder; PostgreSQL: a fresh database on 127.0.0.1:5432, dropped at the end):

1. import: ``vigil import`` of N generated jobs of 50 measurements (``bench/_jobs.py``,
   one JSON line each; 20,000 jobs = 1,000,000 measurements by default), as a user runs
   it: jobs/s and measurements/s;
2. again: the same import a second time, which must store nothing;
3. series, once the server's background analysis of the import is done:
   ``GET /api/series/{key}/points`` of the series ``validate_drp.PA1`` on HSC, band i
   (one point in every other job: 10,000 points), in each form (rows, columns, Arrow):
   median and p95 over the requests of request + decoding (``json.loads`` or
   ``pyarrow.ipc``), bytes per point, and the server's CPU time per request (which a
   loaded machine inflates less than the wall time);
4. ``vigil.client.ReadClient.series`` of that series: median over 10 calls.

With ``--keep``, the loaded databases are kept for the next run (SQLite in
``bench/.work/series-sqlite/``, PostgreSQL in the database ``vigil_series_keep``) and a
run that finds one loaded with the same jobs migrates it (``vigil db upgrade``) and goes
straight to the reads: the import figures are then left out. ``--layers`` then times
each layer of the read in this process (store, service, encodings, the application
without the network: ``bench/_series_layers.py``).

Nothing is written to the repository except the cached generated jobs and kept databases
in ``bench/.work/``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _jobs import MEASUREMENTS_PER_JOB, series_points_path, write_jobs
from _jobs import SERIES as _SERIES
from _servers import (
    ServerProcess,
    analyze_if_no_autovacuum,
    free_port,
    median_ms,
    p95_ms,
    postgres_admin,
    postgres_database,
    run_command,
    vigil_command,
)

BENCH = Path(__file__).resolve().parent
WORK = BENCH / ".work"
ARROW = "application/vnd.apache.arrow.stream"
SERIES: dict[str, Any] = dict(_SERIES)

KEPT_POSTGRES = "vigil_series_keep"
"""The PostgreSQL database ``--keep`` keeps."""

AIM_SERIES_MS = 30.0
AIM_IMPORT_JOBS_S = 500.0


@dataclass
class Figures:
    """What one database measured."""

    database: str
    jobs: int = 0
    import_seconds: float = 0.0
    again_seconds: float = 0.0
    again_summary: str = ""
    points: int = 0
    reads: dict[str, list[float]] = field(default_factory=dict)
    sizes: dict[str, int] = field(default_factory=dict)
    server_cpu: dict[str, float] = field(default_factory=dict)
    client_reads: list[float] = field(default_factory=list)
    note: str | None = None
    idle_wait: float = 0.0
    reused: bool = False


def _progress(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message} ...", flush=True)


def _wait_idle(server: ServerProcess, limit: float) -> float:
    """Wait until the server uses less than 5 % of a core (its analysis queue is done)."""
    began = time.perf_counter()
    before = server.cpu_seconds()
    while time.perf_counter() - began < limit:
        time.sleep(2)
        now = server.cpu_seconds()
        if now - before < 0.1:
            break
        before = now
    return time.perf_counter() - began


def _decoders() -> dict[str, tuple[dict[str, str], dict[str, str], Callable[[bytes], int]]]:
    """Each form: its query parameters, its headers, and a decoder counting the points."""
    import pyarrow as pa

    def rows(body: bytes) -> int:
        return len(json.loads(body)["items"])

    def columns(body: bytes) -> int:
        return len(json.loads(body)["columns"]["job_id"])

    def arrow(body: bytes) -> int:
        return int(pa.ipc.open_stream(body).read_all().num_rows)

    return {
        "rows": ({}, {}, rows),
        "columns": ({"form": "columns"}, {}, columns),
        "arrow": ({}, {"Accept": ARROW}, arrow),
    }


def _loaded_marker(folder: Path, jobs: int) -> Path:
    """The file that says the database of *folder* holds the import of *jobs* jobs."""
    return folder / f"loaded-{jobs}-seed1"


def bench_database(
    database: str, database_url: str, folder: Path, jobs_file: Path, jobs: int, args: Any
) -> Figures:
    """Import the jobs into a server on *database_url* (unless a kept database already
    holds them), then read the series."""
    figures = Figures(database, jobs=jobs)
    folder.mkdir(parents=True, exist_ok=True)
    figures.reused = _loaded_marker(folder, jobs).exists()
    env = {**os.environ, "VIGIL_DATA_DIR": str(folder), "VIGIL_DATABASE_URL": database_url}
    vigil = vigil_command()
    run_command([*vigil, "db", "upgrade"], timeout=3600, env=env)
    token_text = ""
    if not figures.reused:
        created = run_command([*vigil, "user", "create", "bench"], timeout=120, env=env)
        token_text = created.strip().splitlines()[-1]
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = ServerProcess(
        f"vigil serve ({database})",
        [*vigil, "serve", "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"],
        f"{base}/api/",
        folder / "server.log",
        env=env,
    )
    client_env = {**os.environ, "VIGIL_URL": base, "VIGIL_TOKEN": token_text}
    importing = [
        *vigil,
        "import",
        str(jobs_file),
        "--concurrency",
        str(args.concurrency),
        "--batch",
        str(args.batch),
    ]
    try:
        server.wait_ready(60)
        if not figures.reused:
            _import(figures, server, importing, client_env, database_url, args)
            if args.keep:
                _loaded_marker(folder, jobs).touch()
        _read_series(figures, server, base, jobs, args)
    finally:
        _progress(f"{database}: stop vigil serve")
        server.stop()
    return figures


def _import(
    figures: Figures,
    server: ServerProcess,
    importing: list[str],
    client_env: dict[str, str],
    database_url: str,
    args: Any,
) -> None:
    """Steps 1 and 2: the import, then the same import again; then wait for the
    server's background analysis."""
    database = figures.database
    _progress(f"{database}: vigil import of {figures.jobs:,} jobs")
    began = time.perf_counter()
    run_command(importing, timeout=args.time_limit, env=client_env)
    figures.import_seconds = time.perf_counter() - began
    _progress(f"{database}: the same import again")
    began = time.perf_counter()
    output = run_command(importing, timeout=args.time_limit, env=client_env, stderr=True)
    figures.again_seconds = time.perf_counter() - began
    found = re.search(r"stored .*? failed \d+", output)
    figures.again_summary = found.group(0) if found else output.strip()[-200:]
    if database_url.startswith("postgresql"):
        figures.note = analyze_if_no_autovacuum(database_url)

    _progress(f"{database}: wait for the server's background analysis to finish")
    figures.idle_wait = _wait_idle(server, args.time_limit)


def _read_series(figures: Figures, server: ServerProcess, base: str, jobs: int, args: Any) -> None:
    """Steps 3 and 4: the series in each form, then through ``ReadClient.series``."""
    database = figures.database
    _progress(f"{database}: series reads")
    expected = (jobs + 1) // 2
    with httpx.Client(base_url=base, timeout=60) as client:
        path = series_points_path(client)
        for form, (params, headers, decode) in _decoders().items():
            query = {"limit": max(expected, 1), **params}

            def read(query: dict[str, Any] = query, headers: dict[str, str] = headers) -> bytes:
                response = client.get(path, params=query, headers=headers)
                response.raise_for_status()
                return response.content

            for _ in range(2):  # warm-up: query plans, page cache
                read()
            latencies = []
            cpu = server.cpu_seconds()
            for _ in range(args.requests):
                began = time.perf_counter()
                body = read()
                points = decode(body)
                latencies.append(time.perf_counter() - began)
            figures.server_cpu[form] = (server.cpu_seconds() - cpu) / args.requests
            if points != expected:
                raise RuntimeError(f"{form}: {points} points, {expected} expected")
            figures.points = points
            figures.reads[form] = latencies
            figures.sizes[form] = len(body)

    from vigil.client import ReadClient

    with ReadClient(base) as reader:
        for _ in range(12):
            began = time.perf_counter()
            frame = reader.series(
                str(SERIES["metric"]),
                dataset=str(SERIES["dataset"]),
                data_id=SERIES["data_id"],
            )
            figures.client_reads.append(time.perf_counter() - began)
        if len(frame) != expected:
            raise RuntimeError(f"ReadClient.series: {len(frame)} rows, {expected} expected")
        figures.client_reads = figures.client_reads[2:]


def report(all_figures: list[Figures]) -> None:
    print()
    print("Series reads and vigil import (bench/series.py)")
    for f in all_figures:
        rate = f.jobs / f.import_seconds if f.import_seconds else 0.0
        mark = "met" if rate >= AIM_IMPORT_JOBS_S else "not met"
        print(f"\n{f.database}:")
        if f.reused:
            print(f"  kept database of {f.jobs:,} jobs reused (--keep): no import figures")
        else:
            print(
                f"  vigil import of {f.jobs:,} jobs"
                f" ({f.jobs * MEASUREMENTS_PER_JOB:,} measurements):"
                f" {f.import_seconds:.1f} s, {rate:,.0f} jobs/s,"
                f" {rate * MEASUREMENTS_PER_JOB:,.0f} measurements/s"
                f" (aim {AIM_IMPORT_JOBS_S:.0f} jobs/s: {mark})"
            )
            print(f"  again: {f.again_seconds:.1f} s, {f.again_summary}")
            print(f"  then {f.idle_wait:.0f} s until the server's background analysis was done")
        if f.note:
            print(f"  note: {f.note}")
        print(f"  series of {f.points:,} points out of {f.jobs * MEASUREMENTS_PER_JOB:,}:")
        for form, latencies in f.reads.items():
            median = median_ms(latencies)
            print(
                f"    {form:8s} median {median:6.1f} ms, p95 {p95_ms(latencies):6.1f} ms over"
                f" {len(latencies)} requests (request + decoding),"
                f" {f.sizes[form] / max(f.points, 1):6.1f} bytes a point,"
                f" server CPU {f.server_cpu[form] * 1000:5.1f} ms a request"
                f" (aim < {AIM_SERIES_MS:.0f} ms: {'met' if median < AIM_SERIES_MS else 'not met'})"
            )
        if f.client_reads:
            print(
                f"    ReadClient.series (DataFrame): median {median_ms(f.client_reads):.1f} ms"
                f" over {len(f.client_reads)} calls"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2,000 jobs, 10 requests.")
    parser.add_argument("--jobs", type=int, help="Jobs imported (default 20000).")
    parser.add_argument("--requests", type=int, help="Timed requests per form (default 50).")
    parser.add_argument("--concurrency", type=int, default=4, help="vigil import --concurrency.")
    parser.add_argument(
        "--batch", type=int, default=50, help="vigil import --batch (1: one job a request)."
    )
    parser.add_argument(
        "--databases", default="sqlite", help="Comma-separated: sqlite, postgresql."
    )
    parser.add_argument(
        "--time-limit", type=float, default=3600, help="Seconds allowed to one import."
    )
    parser.add_argument(
        "--layers",
        action="store_true",
        help="Also time each layer of the read in this process (on the kept databases).",
    )
    parser.add_argument(
        "--keep",
        action="store_true",
        help="Keep the loaded databases in bench/.work/ and reuse them in the next run.",
    )
    args = parser.parse_args()
    jobs = args.jobs or (2000 if args.quick else 20000)
    args.requests = args.requests or (10 if args.quick else 50)
    WORK.mkdir(exist_ok=True)
    jobs_file = write_jobs(WORK / f"jobs-{jobs}-seed1.jsonl", jobs)  # shared with ingest.py
    results = []
    with tempfile.TemporaryDirectory(prefix="vigil-series-") as tmp:
        for database in args.databases.split(","):
            folder = (WORK if args.keep else Path(tmp)) / f"series-{database}"
            if database == "sqlite":
                url = f"sqlite:///{folder / 'vigil.sqlite3'}"
                results.append(bench_database(database, url, folder, jobs_file, jobs, args))
            elif database == "postgresql":
                if args.keep:
                    postgres = kept_postgres_database()
                else:
                    postgres = postgres_database("vigil_series")
                with postgres as pg_url:
                    if pg_url is not None:
                        results.append(
                            bench_database(database, pg_url, folder, jobs_file, jobs, args)
                        )
            else:
                parser.error(f"unknown database {database!r}")
    report(results)
    if args.layers:
        _layers(args, jobs)


def _layers(args: Any, jobs: int) -> None:
    """Each layer of the read, in this process, on the databases kept with ``--keep``."""
    from _series_layers import print_layers

    for database in args.databases.split(","):
        folder = WORK / f"series-{database}"
        if not _loaded_marker(folder, jobs).exists():
            print(f"\n{database}: no kept database of {jobs:,} jobs: run with --keep first")
            continue
        if database == "sqlite":
            url = f"sqlite:///{folder / 'vigil.sqlite3'}"
        else:
            url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{KEPT_POSTGRES}"
        print_layers(database, url, folder, args.requests)


@contextlib.contextmanager
def kept_postgres_database() -> Iterator[str | None]:
    """The database `KEPT_POSTGRES` on 127.0.0.1:5432, created if missing and kept;
    None if PostgreSQL is unavailable."""
    name = KEPT_POSTGRES
    admin = postgres_admin()
    if admin is None:
        yield None
        return
    with admin:
        if (
            admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
            is None
        ):
            admin.execute(f'CREATE DATABASE "{name}"')
    yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"


if __name__ == "__main__":
    main()
