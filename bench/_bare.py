"""The bare-insert peer of ``bench/ingest.py``: the rows Vigil stores for a job, inserted
by the database driver alone.

What a job becomes in Vigil's tables (one ``jobs`` row, its ``job_packages``, the
``series`` it is the first to measure and its 50 ``measurements``) is inserted into a
database migrated by ``vigil db upgrade``, so that every table has Vigil's own indexes
and constraints, in one transaction a job. No HTTP, no validation, no JSON parsing in
the timed part (the documents are parsed and the rows built before the clock starts):
the rate of the database and its driver, which a server can approach but not pass.

SQLite: the standard ``sqlite3`` module, one connection (one writer at a time is how
SQLite works), WAL and ``synchronous=NORMAL`` as Vigil sets them. PostgreSQL: plain
``psycopg``, one connection per client thread.
"""

from __future__ import annotations

import hashlib
import json
import math
import sqlite3
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

__all__ = ["BareJob", "bare_jobs", "insert_postgres", "insert_sqlite"]


@dataclass(slots=True)
class BareJob:
    """The rows of one job, ready to insert."""

    identifier: str
    dataset: str | None
    instrument: str | None
    branch: str | None
    commit: str | None
    meta: str
    packages: list[tuple[str, str | None, str | None, str | None, str | None]]
    measurements: list[tuple[str, str, str | None, float | None, str, str, str]]
    """(series key, metric, identifier, value, unit, data_id JSON, notes JSON)."""
    series: dict[str, tuple[str, str | None, str | None, str]]
    """Series key -> (metric, dataset, instrument, data_id JSON)."""


def _key(metric: str, dataset: Any, instrument: Any, data_id: dict[str, Any]) -> str:
    text = json.dumps([metric, dataset, instrument, data_id], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def bare_jobs(bodies: Sequence[bytes]) -> list[BareJob]:
    """The rows of each job document of *bodies* (lsst.verify Job JSON)."""
    jobs = []
    for body in bodies:
        doc = json.loads(body)
        meta = doc.get("meta") or {}
        env = meta.get("env") or {}
        dataset, instrument = env.get("ci_dataset"), meta.get("instrument")
        rows, series = [], {}
        for m in doc["measurements"]:
            data_id = m.get("data_id") or {}
            key = _key(m["metric"], dataset, instrument, data_id)
            value = m.get("value")
            finite = value if isinstance(value, float) and math.isfinite(value) else None
            data_json = json.dumps(data_id, sort_keys=True)
            series[key] = (m["metric"], dataset, instrument, data_json)
            rows.append(
                (
                    key,
                    m["metric"],
                    m.get("identifier"),
                    finite,
                    m.get("unit") or "",
                    data_json,
                    "{}",
                )
            )
        packages = [
            (
                p["name"],
                p.get("eups_version"),
                p.get("git_url"),
                p.get("git_sha"),
                p.get("git_branch"),
            )
            for p in (meta.get("packages") or {}).values()
        ]
        jobs.append(
            BareJob(
                identifier=doc["identifier"],
                dataset=dataset,
                instrument=instrument,
                branch=env.get("git_branch"),
                commit=env.get("git_commit"),
                meta=json.dumps({k: v for k, v in meta.items() if k != "packages"}),
                packages=packages,
                measurements=rows,
                series=series,
            )
        )
    return jobs


_JOB = (
    "INSERT INTO jobs (identifier, created_at, dataset, instrument, branch, commit_sha, meta)"
    " VALUES ({p}, {p}, {p}, {p}, {p}, {p}, {p}) RETURNING id"
)
_PACKAGE = (
    "INSERT INTO job_packages (job_id, name, version, git_url, git_sha, git_branch)"
    " VALUES ({p}, {p}, {p}, {p}, {p}, {p})"
)
_SERIES = (
    "INSERT INTO series (series_key, metric_name, dataset, instrument, data_id)"
    " VALUES ({p}, {p}, {p}, {p}, {p}) RETURNING id"
)
_SERIES_PG = (
    "INSERT INTO series (series_key, metric_name, dataset, instrument, data_id)"
    " VALUES (%s, %s, %s, %s, %s) ON CONFLICT (series_key) DO NOTHING"
)
_MEASUREMENT = (
    "INSERT INTO measurements (job_id, series_id, metric_name, identifier, value, unit,"
    " data_id, notes) VALUES ({p}, {p}, {p}, {p}, {p}, {p}, {p}, {p})"
)


def _store(cursor: Any, job: BareJob, series_ids: dict[str, int], p: str, now: Any) -> None:
    cursor.execute(
        _JOB.format(p=p),
        (job.identifier, now, job.dataset, job.instrument, job.branch, job.commit, job.meta),
    )
    job_id = cursor.fetchone()[0]
    cursor.executemany(_PACKAGE.format(p=p), [(job_id, *row) for row in job.packages])
    for key, row in job.series.items():
        if key not in series_ids:
            cursor.execute(_SERIES.format(p=p), (key, *row))
            series_ids[key] = cursor.fetchone()[0]
    cursor.executemany(
        _MEASUREMENT.format(p=p),
        [(job_id, series_ids[row[0]], *row[1:]) for row in job.measurements],
    )


def insert_sqlite(path: str, jobs: Sequence[BareJob]) -> float:
    """Insert *jobs* into the SQLite database at *path*, one transaction each; seconds."""
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute("PRAGMA foreign_keys=ON")
    cursor = db.cursor()
    series_ids: dict[str, int] = {}
    now = datetime.now(UTC).replace(tzinfo=None).isoformat(sep=" ")
    began = time.perf_counter()
    for job in jobs:
        cursor.execute("BEGIN IMMEDIATE")
        _store(cursor, job, series_ids, "?", now)
        cursor.execute("COMMIT")
    elapsed = time.perf_counter() - began
    db.close()
    return elapsed


def insert_postgres(dsn: str, jobs: Sequence[BareJob], concurrency: int) -> float:
    """Insert *jobs* into PostgreSQL from *concurrency* connections, one transaction a
    job; seconds."""
    import psycopg

    local = threading.local()
    connections: list[Any] = []
    series_ids: dict[str, int] = {}
    lock = threading.Lock()
    now = datetime.now(UTC)

    def one(job: BareJob) -> None:
        db = getattr(local, "db", None)
        if db is None:
            db = local.db = psycopg.connect(dsn)
            connections.append(db)
        with db.transaction(), db.cursor() as cursor:
            with lock:
                known = {k: series_ids[k] for k in job.series if k in series_ids}
            # A series another thread creates at the same time: its id once it commits.
            for key in sorted(job.series.keys() - known.keys()):
                cursor.execute(_SERIES_PG, (key, *job.series[key]))
                cursor.execute("SELECT id FROM series WHERE series_key = %s", (key,))
                known[key] = cursor.fetchone()[0]
            cursor.execute(
                _JOB.format(p="%s"),
                (
                    job.identifier,
                    now,
                    job.dataset,
                    job.instrument,
                    job.branch,
                    job.commit,
                    job.meta,
                ),
            )
            job_id = cursor.fetchone()[0]
            cursor.executemany(_PACKAGE.format(p="%s"), [(job_id, *r) for r in job.packages])
            cursor.executemany(
                _MEASUREMENT.format(p="%s"),
                [(job_id, known[row[0]], *row[1:]) for row in job.measurements],
            )
        with lock:
            series_ids.update(known)

    began = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(one, jobs))
    elapsed = time.perf_counter() - began
    for db in connections:
        db.close()
    return elapsed
