"""The MLflow half of ``bench/ingest.py``: runs inside the MLflow virtual environment.

Reads the jobs that ``bench/_jobs.py`` wrote (JSON lines, bare NaN tokens), talks to an
MLflow tracking server the way a user of its client would, and prints its figures as
one JSON object on stdout. Needs only the standard library and ``mlflow``.

Commands
--------
ingest URI FILE --count N --warmup W --concurrency C --experiment NAME
    After W untimed jobs, one run per job: ``create_run`` (tags: dataset, instrument,
    branch, commit), ``log_batch`` with the job's 50 metrics, ``set_terminated``; C client
    threads.
load DB_URI FILE --runs N --metrics K --experiment NAME --dataset D --artifacts DIR
    Fill a query experiment in the server's database (``sqlite:///...``): N runs of
    dataset D, each with the series' metric and K - 1 others.
query URI --experiment NAME --key KEY --dataset D --runs N --repeat R --budget S
    Fetch the series: ``search_runs`` (one request per page of up to 50,000 runs,
    ordered by start time) R times or until S seconds have passed; and
    ``get_metric_history`` on a sample of runs, extrapolated to N runs.
series URI DB_URI FILE ...
    ``load`` then ``query`` in one process.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any

from mlflow.entities import Metric
from mlflow.tracking import MlflowClient

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _jobs import SERIES, mlflow_key

_SEARCH_PAGE = 50_000  # MLflow's largest search_runs page


def _jobs(path: Path, count: int | None = None) -> Iterator[dict[str, Any]]:
    with path.open() as stream:
        for i, line in enumerate(stream):
            if count is not None and i >= count:
                return
            yield json.loads(line)


def _run_of(job: dict[str, Any], keep: int | None = None) -> tuple[int, dict[str, str], list]:
    """Start time (ms), tags and metrics of the MLflow run that stands for *job*."""
    env = job["meta"]["env"]
    start = int(datetime.fromisoformat(env["date"]).timestamp() * 1000)
    tags = {
        "dataset": env["ci_dataset"],
        "instrument": job["meta"]["instrument"],
        "branch": env["git_branch"],
        "commit": env["git_commit"],
        "mlflow.runName": job["identifier"],
    }
    measurements = job["measurements"] if keep is None else job["measurements"][:keep]
    metrics = [
        Metric(mlflow_key(m["metric"], m["data_id"]), float(m["value"]), start, 0)
        for m in measurements
    ]
    return start, tags, metrics


def _experiment(client: MlflowClient, name: str) -> str:
    found = client.get_experiment_by_name(name)
    return found.experiment_id if found is not None else client.create_experiment(name)


def ingest(args: argparse.Namespace) -> dict[str, Any]:
    """Send ``--warmup`` jobs untimed, then the next ``--count`` from ``--concurrency`` threads.

    The warm-up lets every server worker open its database connection and import what
    it imports lazily.
    """
    runs = [_run_of(job) for job in _jobs(args.file, args.warmup + args.count)]
    warmup, runs = runs[: args.warmup], runs[args.warmup :]
    experiment_id = _experiment(MlflowClient(args.uri), args.experiment)
    local = threading.local()

    def send(run: tuple[int, dict[str, str], list]) -> float:
        client = getattr(local, "client", None)
        if client is None:
            client = local.client = MlflowClient(args.uri)
        start_time, tags, metrics = run
        began = time.perf_counter()
        run_id = client.create_run(experiment_id, start_time=start_time, tags=tags).info.run_id
        client.log_batch(run_id, metrics=metrics, synchronous=True)
        client.set_terminated(run_id)
        return time.perf_counter() - began

    with ThreadPoolExecutor(args.concurrency) as pool:
        began = time.perf_counter()
        list(pool.map(send, warmup))
        warmup_seconds = time.perf_counter() - began
        began = time.perf_counter()
        latencies = list(pool.map(send, runs))
        elapsed = time.perf_counter() - began
    return {
        "warmup_seconds": warmup_seconds,
        "jobs": len(runs),
        "measurements": sum(len(r[2]) for r in runs),
        "seconds": elapsed,
        "concurrency": args.concurrency,
        "median_job_latency": statistics.median(latencies),
        "requests_per_job": 3,
    }


def load(args: argparse.Namespace) -> dict[str, Any]:
    """Fill the query experiment with ``--runs`` runs of ``--dataset``, in bulk.

    Going through the client takes about 15 ms a run (over 2 minutes for 10,000), and
    how fast the peer loads is not what is measured: the rows are written in one
    transaction with MLflow's own table definitions, the same rows ``create_run``,
    ``log_batch`` and ``set_terminated`` write. ``query`` checks that the server finds
    every run.
    """
    import uuid

    from mlflow.store.tracking.dbmodels.models import SqlLatestMetric, SqlMetric, SqlRun, SqlTag
    from sqlalchemy import create_engine, insert

    # The experiment through the server when there is one (quicker than opening the
    # store in-process, which checks its migrations).
    client = MlflowClient(getattr(args, "server_uri", None) or args.uri)
    experiment_id = client.create_experiment(
        args.experiment, artifact_location=str(args.artifacts.resolve())
    )
    began = time.perf_counter()
    runs: list[dict[str, Any]] = []
    tags: list[dict[str, Any]] = []
    metrics: list[dict[str, Any]] = []
    for job in _jobs(args.file):
        if len(runs) >= args.runs:
            break
        if job["meta"]["env"]["ci_dataset"] != args.dataset:
            continue
        start_time, run_tags, run_metrics = _run_of(job, keep=args.metrics)
        run_id = uuid.uuid4().hex
        runs.append(
            {
                "run_uuid": run_id,
                "name": run_tags["mlflow.runName"],
                "source_type": "UNKNOWN",
                "source_name": "",
                "entry_point_name": "",
                "user_id": "bench",
                "status": "FINISHED",
                "start_time": start_time,
                "end_time": start_time + 1000,
                "source_version": "",
                "lifecycle_stage": "active",
                "artifact_uri": f"{args.artifacts.resolve()}/{run_id}/artifacts",
                "experiment_id": int(experiment_id),
            }
        )
        tags.extend({"key": k, "value": v, "run_uuid": run_id} for k, v in run_tags.items())
        for m in run_metrics:
            nan = m.value != m.value
            metrics.append(
                {
                    "key": m.key,
                    "value": 0.0 if nan else m.value,
                    "timestamp": m.timestamp,
                    "step": m.step,
                    "is_nan": nan,
                    "run_uuid": run_id,
                }
            )
    engine = create_engine(args.uri)
    with engine.begin() as connection:
        connection.execute(insert(SqlRun.__table__), runs)
        connection.execute(insert(SqlTag.__table__), tags)
        connection.execute(insert(SqlMetric.__table__), metrics)
        connection.execute(insert(SqlLatestMetric.__table__), metrics)
    engine.dispose()
    return {"runs": len(runs), "values": len(metrics), "seconds": time.perf_counter() - began}


def query(args: argparse.Namespace) -> dict[str, Any]:
    """Time fetching the series through ``search_runs`` and ``get_metric_history``."""
    client = MlflowClient(args.uri)
    experiment_id = client.get_experiment_by_name(args.experiment).experiment_id
    dataset_filter = f"tags.dataset = '{args.dataset}'"

    def fetch_series() -> list[tuple[int, float]]:
        points, token = [], None
        while True:
            page = client.search_runs(
                [experiment_id],
                filter_string=dataset_filter,
                max_results=_SEARCH_PAGE,
                order_by=["attributes.start_time ASC"],
                page_token=token,
            )
            for run in page:
                value = run.data.metrics.get(args.key)
                if value is not None:
                    points.append((run.info.start_time, value))
            token = page.token
            if not token:
                return points

    search_times: list[float] = []
    deadline = time.perf_counter() + args.budget
    points: list[tuple[int, float]] = []
    while len(search_times) < args.repeat and (
        len(search_times) < 3 or time.perf_counter() < deadline
    ):
        began = time.perf_counter()
        points = fetch_series()
        search_times.append(time.perf_counter() - began)

    run_ids = [
        run.info.run_id
        for run in client.search_runs(
            [experiment_id], filter_string=dataset_filter, max_results=args.history_sample
        )
    ]
    history_times = []
    for run_id in run_ids:
        began = time.perf_counter()
        client.get_metric_history(run_id, args.key)
        history_times.append(time.perf_counter() - began)
    per_run = statistics.median(history_times) if history_times else None
    return {
        "points": len(points),
        "search_runs_median": statistics.median(search_times),
        "search_runs_requests": len(search_times),
        "history_per_run_median": per_run,
        "history_sample": len(history_times),
        "history_extrapolated": per_run * args.runs if per_run is not None else None,
    }


def series(args: argparse.Namespace) -> dict[str, Any]:
    """``load`` into the database, then ``query`` through the server."""
    loaded = load(argparse.Namespace(**{**vars(args), "uri": args.db_uri, "server_uri": args.uri}))
    args.runs = loaded["runs"]
    return {**loaded, **query(args)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    p = commands.add_parser("ingest")
    p.add_argument("uri")
    p.add_argument("file", type=Path)
    p.add_argument("--count", type=int, required=True)
    p.add_argument("--warmup", type=int, default=0)
    p.add_argument("--concurrency", type=int, default=4)
    p.add_argument("--experiment", default="ingest")
    p = commands.add_parser("load")
    p.add_argument("uri")
    p.add_argument("file", type=Path)
    p.add_argument("--runs", type=int, required=True)
    p.add_argument("--metrics", type=int, default=5)
    p.add_argument("--experiment", default="series")
    p.add_argument("--dataset", default=SERIES["dataset"])
    p.add_argument("--artifacts", type=Path, required=True)
    p = commands.add_parser("query")
    p.add_argument("uri")
    p.add_argument("--experiment", default="series")
    p.add_argument("--key", default=mlflow_key(SERIES["metric"], SERIES["data_id"]))
    p.add_argument("--dataset", default=SERIES["dataset"])
    p.add_argument("--runs", type=int, required=True)
    p.add_argument("--repeat", type=int, default=50)
    p.add_argument("--budget", type=float, default=60.0)
    p.add_argument("--history-sample", type=int, default=100)
    p = commands.add_parser("series")
    p.add_argument("uri")
    p.add_argument("db_uri")
    p.add_argument("file", type=Path)
    p.add_argument("--runs", type=int, required=True)
    p.add_argument("--metrics", type=int, default=5)
    p.add_argument("--experiment", default="series")
    p.add_argument("--dataset", default=SERIES["dataset"])
    p.add_argument("--artifacts", type=Path, required=True)
    p.add_argument("--key", default=mlflow_key(SERIES["metric"], SERIES["data_id"]))
    p.add_argument("--repeat", type=int, default=50)
    p.add_argument("--budget", type=float, default=60.0)
    p.add_argument("--history-sample", type=int, default=100)
    args = parser.parse_args()
    result = {"ingest": ingest, "load": load, "query": query, "series": series}[args.command](args)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
