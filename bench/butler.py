"""Figures of Vigil in the LSST Science Pipelines: the Sasquatch surface and the Butler view.

Prints, in one run:

1. **Sasquatch surface beside native ingest**, on one real ``vigil serve`` process
   (SQLite in a temporary folder). N metric bundles (default 300) are sent as
   lsst.analysis.tools' ``SasquatchDispatcher`` sends them, through the reproduction of
   its requests in ``tests/server/sasquatch/_dispatcher.py``: a bundle is one analysis
   tool whose record holds 50 numeric fields (10 quantities x 5 bands), so one request
   ``POST /sasquatch/topics/lsst.dm.<tool>`` (Avro JSON, ``value_schema`` + one record)
   carries 50 measurements and becomes one job; before it, as the dispatcher does for
   every tool, ``GET /sasquatch/v3/clusters`` and ``POST .../topics`` (400: it exists).
   Each bundle has its own id and a dataId (skymap, tract, patch, band). Then the same
   number of native lsst.verify jobs (``POST /api/jobs``), each the same 50 metrics with
   the same dataIds and values. Both from 4 client threads with kept-alive connections,
   after a warm-up of 8 each, in the order Sasquatch, native, native, Sasquatch (half
   the bundles each time) so that neither profits from the order. Printed: bundles
   (jobs)/s, measurements/s, median latency of a bundle (the dispatcher's three
   requests) and of its produce request alone, the server's CPU, the ratio
   Sasquatch/native; then the jobs the server stored (``GET /api/jobs``), checked.
2. **The explorer's quick look over a Butler repository beside a plain folder.** A demo
   repository (default 10 tracts x 50,000 objects, every standard metric computed;
   cached in ``bench/.work/butler/``) is put into a new Gen3 Butler repository (SQLite
   registry, in a temporary folder) with ``vigil.lsst.store_repository``: its time and
   the number of datasets. Then the quick-look summary that ``bench/explorer.py`` times
   cold (a new ``Repository``, no footers cached: header figures and every metric rolled
   up) on the folder and on ``vigil.lsst.butler_view`` of the run, alternating, best of
   5 each; the two summaries checked equal; the ratio Butler/folder against the aim
   (within 1.2x). Opening the view is timed apart.

Usage::

    .venv/bin/python bench/butler.py --quick     # 40 bundles; 2 tracts x 5,000 objects
    .venv/bin/python bench/butler.py             # 300 bundles; 10 tracts x 50,000 objects
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from lsst.daf.butler import Butler

from vigil.compute import compute_repository
from vigil.demo.catalog import generate_catalog
from vigil.explorer import Repository
from vigil.lsst import butler_view, store_repository

# The one reproduction of the dispatcher's requests, shared with the Sasquatch tests.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "server" / "sasquatch"))
from _dispatcher import Dispatcher, prepare_bundle
from _servers import ServerProcess, free_port, send_from_threads
from ingest import _run, _vigil_command

from explorer import Timing, check_equal, cold_summary, line, timed, verdict

BENCH = Path(__file__).resolve().parent
WORK = BENCH / ".work" / "butler"
AIM_BUTLER = 1.2
NAMESPACE = "lsst.dm"
TOOL = "objectTableBench"
QUANTITIES = (
    "psfCModelMagDiff_median",
    "psfCModelMagDiff_sigmaMad",
    "medianSky",
    "sigmaMADSky",
    "astromRefDiff_ra_median",
    "astromRefDiff_dec_median",
    "photomRefDiff_median",
    "shapeSizeDiff_sigmaMad",
    "e1Diff_median",
    "nStars",
)
BANDS = ("g", "r", "i", "z", "y")
FIELDS = tuple(f"{band}_{quantity}" for band in BANDS for quantity in QUANTITIES)
MEASUREMENTS_PER_BUNDLE = len(FIELDS)
DATASETS = {"sasquatch": "bench_sasquatch", "native": "bench_native"}
BUTLER_RUN = "u/bench/vigil"
_START = datetime(2024, 1, 1, tzinfo=UTC)


@dataclass(slots=True)
class Sizes:
    """How much the bench sends and reads."""

    bundles: int
    concurrency: int
    tracts: int
    objects: int
    repeat: int


FULL = Sizes(bundles=300, concurrency=4, tracts=10, objects=50_000, repeat=5)
QUICK = Sizes(bundles=40, concurrency=4, tracts=2, objects=5_000, repeat=5)


_STARTED = time.perf_counter()


def _progress(message: str) -> None:
    print(f"[{time.perf_counter() - _STARTED:5.0f} s] {message} ...", flush=True)


# -- the bundles and their native twins ------------------------------------------------


@dataclass(frozen=True, slots=True)
class Bundle:
    """One metric bundle: what the dispatcher sends, and the same as a native job."""

    bundle_id: str
    timestamp: float
    data_id: dict[str, Any]
    values: dict[str, float]

    def dispatch_kwargs(self) -> dict[str, Any]:
        """The arguments of ``prepare_bundle`` (``SasquatchDispatcher._prepareBundle``)."""
        return {
            "run": "u/bench/sasquatch",
            "dataset_type": "objectTableCore_metrics",
            "bundle_id": self.bundle_id,
            "timestamp": self.timestamp,
            "identifier_fields": self.data_id,
            "dataset_identifier": DATASETS["sasquatch"],
        }

    def measurements(self) -> dict[str, list[dict[str, Any]]]:
        """The bundle's one tool and its measurements' json."""
        return {TOOL: [{"metric": name, "value": v} for name, v in self.values.items()]}

    def job(self) -> bytes:
        """The lsst.verify Job of the same measurements, serialised."""
        date = datetime.fromtimestamp(self.timestamp, UTC).isoformat()
        names = [f"{TOOL}.{name}" for name in self.values]
        document = {
            "identifier": f"bench-native-{self.bundle_id}",
            "measurements": [
                {
                    "metric": name,
                    "identifier": uuid.uuid4().hex,
                    "value": value,
                    "unit": "",
                    "data_id": self.data_id,
                    "blob_refs": [],
                }
                for name, value in zip(names, self.values.values(), strict=True)
            ],
            "metrics": [
                {"name": name, "description": "", "unit": "", "tags": [TOOL], "reference": {}}
                for name in names
            ],
            "specs": [],
            "blobs": [],
            "meta": {
                "env": {"env_name": "bench", "ci_dataset": DATASETS["native"], "date": date},
                "packages": {},
            },
        }
        return json.dumps(document, separators=(",", ":")).encode()


def make_bundles(count: int, seed: int = 1) -> list[Bundle]:
    """*count* bundles with their own ids, dataIds drawn from 3 tracts x 81 patches x 5 bands."""
    rng = random.Random(seed)
    run = uuid.uuid4().hex[:8]
    return [
        Bundle(
            bundle_id=f"{run}-{index:06d}",
            timestamp=(_START + timedelta(minutes=15 * index)).timestamp(),
            data_id={
                "skymap": "hsc_rings_v1",
                "tract": rng.choice((9615, 9697, 9813)),
                "patch": rng.randrange(81),
                "band": rng.choice(BANDS),
            },
            values={name: rng.gauss(10.0, 2.0) for name in FIELDS},
        )
        for index in range(count)
    ]


# -- sending -------------------------------------------------------------------------------


@dataclass(slots=True)
class Rate:
    """Bundles (jobs) sent in a time, their latencies and the CPU time meanwhile."""

    count: int = 0
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    produce_latencies: list[float] = field(default_factory=list)
    server_cpu: float = 0.0
    client_cpu: float = 0.0

    def add(self, other: Rate) -> None:
        """Count *other* in: a round of the same sender."""
        self.count += other.count
        self.seconds += other.seconds
        self.latencies += other.latencies
        self.produce_latencies += other.produce_latencies
        self.server_cpu += other.server_cpu
        self.client_cpu += other.client_cpu

    @property
    def per_s(self) -> float:
        return self.count / self.seconds

    @property
    def measurements_per_s(self) -> float:
        return self.per_s * MEASUREMENTS_PER_BUNDLE


Send = Callable[[httpx.Client, Bundle], tuple[float, float | None]]


def _drive(
    base: str,
    bundles: Sequence[Bundle],
    send: Send,
    concurrency: int,
    server: ServerProcess,
) -> Rate:
    """Call *send* for each bundle from *concurrency* threads, each with a kept-alive client."""
    cpu = server.cpu_seconds()
    answers, elapsed, client_cpu = send_from_threads(
        bundles, send, concurrency, base_url=base, timeout=120
    )
    return Rate(
        len(bundles),
        elapsed,
        latencies=[total for total, _ in answers],
        produce_latencies=[produce for _, produce in answers if produce is not None],
        server_cpu=server.cpu_seconds() - cpu,
        client_cpu=client_cpu,
    )


def sasquatch_sender(auth: tuple[str, str]) -> Send:
    """The dispatcher's exchange for a bundle: (its latency, the produce request's)."""

    def send(client: httpx.Client, bundle: Bundle) -> tuple[float, float | None]:
        # The dispatcher sends the URL's credentials as HTTP Basic. Its reproduction is
        # typed for a TestClient, which is an httpx.Client.
        dispatcher = Dispatcher(client, auth, namespace=NAMESPACE)  # type: ignore[arg-type]
        began = time.perf_counter()
        produce = 0.0
        records = prepare_bundle(bundle.measurements(), **bundle.dispatch_kwargs())
        for tool, tool_records in records.items():
            created = dispatcher.create_topic(tool)
            if created.status_code not in (201, 400):
                raise RuntimeError(f"create topic {tool}: {created.status_code} {created.text}")
            sent = time.perf_counter()
            answer = dispatcher.produce(tool, tool_records)
            produce += time.perf_counter() - sent
            if answer.status_code != 200 or not answer.json()["offsets"][0]["created"]:
                raise RuntimeError(f"produce {tool}: {answer.status_code} {answer.text[:500]}")
        return time.perf_counter() - began, produce

    return send


def native_sender(token: str, bundles: Sequence[Bundle]) -> Send:
    """``POST /api/jobs`` of a bundle's native twin, the bodies serialised beforehand."""
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    bodies = {bundle.bundle_id: bundle.job() for bundle in bundles}

    def send(client: httpx.Client, bundle: Bundle) -> tuple[float, float | None]:
        body = bodies[bundle.bundle_id]
        began = time.perf_counter()
        answer = client.post("/api/jobs", content=body, headers=headers)
        if answer.status_code != 201:
            raise RuntimeError(f"POST /api/jobs: {answer.status_code} {answer.text[:500]}")
        return time.perf_counter() - began, None

    return send


def _stored_jobs(client: httpx.Client, dataset: str) -> list[dict[str, Any]]:
    """Every job of *dataset*, following ``next_cursor``."""
    params: dict[str, Any] = {"dataset": dataset, "limit": 1000}
    jobs: list[dict[str, Any]] = []
    while True:
        answer = client.get("/api/jobs", params=params)
        answer.raise_for_status()
        page = answer.json()
        jobs.extend(page["items"])
        if page["next_cursor"] is None:
            return jobs
        params["cursor"] = page["next_cursor"]


@dataclass(slots=True)
class IngestFigures:
    """What the ingest half gave."""

    sasquatch: Rate
    native: Rate
    stored: dict[str, int]
    expected: int


def bench_ingest(sizes: Sizes, folder: Path) -> IngestFigures:
    """Start ``vigil serve``, send the bundles both ways, count what it stored."""
    env = {
        **os.environ,
        "VIGIL_DATA_DIR": str(folder),
        "VIGIL_DATABASE_URL": f"sqlite:///{folder / 'vigil.sqlite3'}",
    }
    vigil = _vigil_command()
    _run([*vigil, "db", "upgrade"], timeout=120, env=env)
    created = _run([*vigil, "user", "create", "bench", "--role", "submitter"], timeout=120, env=env)
    token = created.strip().splitlines()[-1]
    warmup = 2 * sizes.concurrency
    bundles = make_bundles(warmup + sizes.bundles)
    senders = {
        "sasquatch": sasquatch_sender(("bench", token)),
        "native": native_sender(token, bundles),
    }
    rates = {name: Rate() for name in senders}
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = ServerProcess(
        "vigil serve (sqlite)",
        [*vigil, "serve", "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"],
        f"{base}/api/",
        folder / "server.log",
        env=env,
    )
    try:
        server.wait_ready(60)
        for send in senders.values():
            _drive(base, bundles[:warmup], send, sizes.concurrency, server)
        timed_bundles = bundles[warmup:]
        half = len(timed_bundles) // 2
        rounds = [
            ("sasquatch", timed_bundles[:half]),
            ("native", timed_bundles[:half]),
            ("native", timed_bundles[half:]),
            ("sasquatch", timed_bundles[half:]),
        ]
        for name, part in rounds:
            _progress(f"{name}: {len(part)} bundles")
            rates[name].add(_drive(base, part, senders[name], sizes.concurrency, server))
        with httpx.Client(base_url=base, timeout=60) as client:
            stored = {name: _stored_jobs(client, DATASETS[name]) for name in senders}
            for name, jobs in stored.items():
                if jobs:
                    job = client.get(f"/api/jobs/{jobs[0]['id']}").json()
                    data_ids = {json.dumps(m["data_id"]) for m in job["measurements"]}
                    if len(job["measurements"]) != MEASUREMENTS_PER_BUNDLE or len(data_ids) != 1:
                        raise RuntimeError(f"{name}: job {jobs[0]['id']} is not the bundle sent")
    finally:
        _progress("stop vigil serve")
        server.stop()
    figures = IngestFigures(
        rates["sasquatch"],
        rates["native"],
        {name: len(jobs) for name, jobs in stored.items()},
        len(bundles),
    )
    for name, count in figures.stored.items():
        if count != figures.expected:
            raise RuntimeError(f"the server stored {count} {name} jobs, {figures.expected} sent")
    return figures


def report_ingest(sizes: Sizes, figures: IngestFigures) -> None:
    sas, nat = figures.sasquatch, figures.native
    print(
        f"\nSasquatch surface beside native ingest: one vigil serve (SQLite), {sizes.concurrency}"
        f" client threads, {sas.count} bundles of {MEASUREMENTS_PER_BUNDLE} measurements each way"
    )
    rows = (
        ("Sasquatch (dispatcher: clusters, topic, produce)", sas, "bundles"),
        ("native (POST /api/jobs, lsst.verify Job)", nat, "jobs"),
    )
    for label, rate, unit in rows:
        produce = (
            f", produce {statistics.median(rate.produce_latencies) * 1000:.1f} ms"
            if rate.produce_latencies
            else ""
        )
        print(
            f"  {label:<50} {rate.per_s:7.1f} {unit + '/s':<9} {rate.measurements_per_s:6.0f}"
            f" measurements/s  median {statistics.median(rate.latencies) * 1000:.1f} ms"
            f"{produce}  (CPU: server {rate.server_cpu / rate.seconds:.2f},"
            f" client {rate.client_cpu / rate.seconds:.2f} cores)"
        )
    print(
        f"  ratio Sasquatch/native: {sas.measurements_per_s / nat.measurements_per_s:.2f}x"
        f" measurements/s; median latency"
        f" {statistics.median(sas.latencies) / statistics.median(nat.latencies):.2f}x"
    )
    stored = ", ".join(f"{count} {name}" for name, count in figures.stored.items())
    print(
        f"  jobs stored (GET /api/jobs): {stored}; expected {figures.expected} each"
        f" ({2 * sizes.concurrency} warm-up + {sas.count}): checked"
    )


# -- the explorer over a Butler repository --------------------------------------------------


def demo_repository(tracts: int, objects: int) -> Path:
    """The cached demo repository with every standard metric computed."""
    root = WORK / f"explore-{tracts}x{objects}"
    if not (root / "vigil-repo.yaml").exists():
        _progress(f"generate the demo repository {root}")
        generate_catalog(root, tracts=tracts, objects_per_tract=objects, visits=tracts)
    missing = [info.name for info in Repository(root).metrics() if not info.stored]
    if missing:
        _progress(f"vigil compute: {len(missing)} metrics")
        compute_repository(root, names=missing)
    return root


def _open_view(repo: Path) -> None:
    with butler_view(repo, [BUTLER_RUN]):
        pass


def bench_explorer(sizes: Sizes, folder: Path) -> None:
    """Store the demo repository in a Butler and time the quick look both ways."""
    root = demo_repository(sizes.tracts, sizes.objects)
    butler_repo = folder / "butler"
    made, _ = timed(lambda: Butler.makeRepo(str(butler_repo)))
    _progress("store_repository")
    stored, report = timed(
        lambda: store_repository(root, butler_repo, BUTLER_RUN, register_dimensions=True)
    )
    first_open, _ = timed(lambda: _open_view(butler_repo))
    reopen, _ = timed(lambda: _open_view(butler_repo), repeat=3)
    _progress(f"quick look: folder and Butler view, alternating, best of {sizes.repeat}")
    with butler_view(butler_repo, [BUTLER_RUN]) as view:
        # The process's first Repository warms imports and allocations: not counted.
        cold_summary(root)
        cold_summary(view)
        best = {"folder": Timing(float("inf"), 0.0), "butler": Timing(float("inf"), 0.0)}
        summaries: dict[str, Any] = {}
        for _ in range(sizes.repeat):
            for name, path in (("folder", root), ("butler", view)):
                timing, summaries[name] = timed(lambda path=path: cold_summary(path))
                best[name] = min(best[name], timing)
        check_equal(summaries["folder"], summaries["butler"], "Butler view")

    size = sum(p.stat().st_size for p in root.rglob("*.parquet")) / 1e6
    print(
        f"\nThe explorer's quick look over a Butler repository ({root.name}:"
        f" {sizes.tracts} tracts x {sizes.objects:,} objects, {size:,.0f} MB of Parquet)"
    )
    line("Butler.makeRepo (SQLite registry)", made)
    line(
        f"store_repository: {report.datasets} datasets, {len(report.dataset_types)} dataset"
        f" types, {len(report.records)} records added",
        stored,
    )
    line("butler_view: open and close, the process's first", first_open)
    line("butler_view: open and close (best of 3)", reopen)
    folder_t, butler_t = best["folder"], best["butler"]
    line(f"quick look, plain folder (cold, best of {sizes.repeat})", folder_t)
    line(f"quick look, Butler view (cold, best of {sizes.repeat}; summaries equal)", butler_t)
    ratio = butler_t.wall / folder_t.wall
    print(
        f"  ratio Butler/folder (wall; cpu): {ratio:.2f}x; {butler_t.cpu / folder_t.cpu:.2f}x"
        f" -- aim within {AIM_BUTLER:g}x {verdict(ratio <= AIM_BUTLER)};"
        f" with the view's opening: {(butler_t.wall + reopen.wall) / folder_t.wall:.2f}x"
    )


# -- main -------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="40 bundles; 2 tracts x 5,000 objects")
    parser.add_argument("--bundles", type=int, help="bundles each way (default 300)")
    parser.add_argument("--concurrency", type=int, help="client threads (default 4)")
    parser.add_argument("--tracts", type=int, help="tracts of the demo repository (default 10)")
    parser.add_argument("--objects", type=int, help="objects per tract (default 50,000)")
    parser.add_argument("--repeat", type=int, help="quick looks each way (default 5)")
    parser.add_argument("--only", default="ingest,explorer", help="Which figures.")
    args = parser.parse_args()
    base = QUICK if args.quick else FULL
    sizes = Sizes(
        bundles=args.bundles or base.bundles,
        concurrency=args.concurrency or base.concurrency,
        tracts=args.tracts or base.tracts,
        objects=args.objects or base.objects,
        repeat=args.repeat or base.repeat,
    )
    parts = set(args.only.split(","))
    unknown = parts - {"ingest", "explorer"}
    if unknown:
        sys.exit(f"unknown part(s) in --only: {', '.join(sorted(unknown))}")
    cores, load = os.cpu_count() or 1, os.getloadavg()[0]
    print(f"Vigil in the LSST Science Pipelines ({cores} cores, load average {load:.1f})")
    if args.quick:
        print("Small sizes (--quick): a smoke run; the aim is for the full run.")
    began = time.perf_counter()
    WORK.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="vigil-bench-lsst-") as tmp:
        ingest = None
        if "ingest" in parts:
            (Path(tmp) / "vigil").mkdir()
            ingest = bench_ingest(sizes, Path(tmp) / "vigil")
        if ingest is not None:
            report_ingest(sizes, ingest)
        if "explorer" in parts:
            bench_explorer(sizes, Path(tmp))
    print(
        f"\nCommand: {' '.join([Path(sys.executable).name, *sys.argv])};"
        f" took {time.perf_counter() - began:.0f} s"
    )


if __name__ == "__main__":
    main()
