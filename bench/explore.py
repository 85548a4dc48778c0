"""Benchmark of the explorer's data side: compute, select and aggregate over tidy Parquet.

Prints, on an HSC-like demo repository (default 100 tracts x 200,000 objects = 20 M rows,
cached in bench/.work/):

- generation of the repository (when not cached);
- ``vigil compute`` of one metric (psf_cmodel_mag_diff_i) and of a metric kept for every
  object (psf_snr_i, 20 M values);
- compute + select + aggregate of one metric by tract straight from the object tables:
  Vigil's plan in DuckDB, the same plan on Dask (local threads), a pandas implementation
  (read the needed columns of every file, compute, select, group, median) and a bare
  hand-written DuckDB query (the practical limit); the qa_explorer reference (39 s for
  one functor over 78 M rows on 24 workers) scaled per row and per core;
- aggregates of stored values by tract and by tract and patch (cold: a new Repository;
  warm: cached), the quick-look summary cold and warm, one tract's per-source values.

Usage::

    .venv/bin/python bench/explore.py --quick     # 10 tracts x 50,000 objects
    .venv/bin/python bench/explore.py             # 100 tracts x 200,000 objects
"""

from __future__ import annotations

import argparse
import os
import resource
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import duckdb
import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from vigil.compute import compute_repository, default_registry
from vigil.compute.engine import connect, run_aggregate
from vigil.compute.files import scan_table
from vigil.compute.plan import AggregatePlan
from vigil.compute.repository import RepoLayout
from vigil.demo.catalog import generate_catalog
from vigil.explorer import Repository

WORK = Path(__file__).resolve().parent / ".work"
METRIC = "psf_cmodel_mag_diff_i"
QA_EXPLORER_SECONDS, QA_EXPLORER_ROWS, QA_EXPLORER_WORKERS = 39.0, 78e6, 24


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class Timing(NamedTuple):
    """Wall time and the process's CPU time (all threads) of one run."""

    wall: float
    cpu: float


def timed(function: Callable[[], Any], repeat: int = 1) -> tuple[Timing, Any]:
    """The timing of the fastest of *repeat* runs, and the last result.

    On a shared machine the CPU time moves much less than the wall time.
    """
    best, result = Timing(float("inf"), 0.0), None
    for _ in range(repeat):
        started, cpu = time.perf_counter(), _cpu()
        result = function()
        elapsed = time.perf_counter() - started
        if elapsed < best.wall:
            best = Timing(elapsed, _cpu() - cpu)
    return best, result


def line(label: str, timing: Timing, rows: float | None = None) -> None:
    """One figure: wall time, CPU time of the process, and throughput."""
    rate = f"{rows / timing.wall / 1e6:7.2f} M rows/s" if rows else " " * 16
    print(f"  {label:<60} {timing.wall:7.3f} s wall {timing.cpu:7.3f} s cpu {rate}")


def pandas_baseline(files: list[Path]) -> pd.DataFrame:
    """The same metric with pandas: needed columns of every file, compute, select, group."""
    columns = [
        "tract",
        "i_psfFlux",
        "i_psfFluxErr",
        "i_cModelFlux",
        "i_extendedness",
        "i_psfFlux_flag",
        "i_cModel_flag",
        "i_pixelFlags_saturated",
        "i_pixelFlags_edge",
    ]
    parts = []
    for path in files:
        frame = pq.read_table(path, columns=columns).to_pandas()
        keep = (
            (frame["i_extendedness"] < 0.5)
            & (frame["i_psfFlux"] / frame["i_psfFluxErr"] >= 50)
            & ~frame["i_psfFlux_flag"]
            & ~frame["i_cModel_flag"]
            & ~frame["i_pixelFlags_saturated"]
            & ~frame["i_pixelFlags_edge"]
            & (frame["i_psfFlux"] > 0)
            & (frame["i_cModelFlux"] > 0)
        )
        chosen = frame[keep]
        value = -2.5 * np.log10(chosen["i_psfFlux"].astype(float) / chosen["i_cModelFlux"]) * 1000
        parts.append(pd.DataFrame({"tract": chosen["tract"], "value": value}))
    return pd.concat(parts).groupby("tract")["value"].median().reset_index()


BARE = """
SELECT tract, median(-2.5 * log10(i_psfFlux::DOUBLE / i_cModelFlux) * 1000) AS value
FROM read_parquet('{glob}')
WHERE i_extendedness < 0.5 AND i_psfFlux / i_psfFluxErr >= 50 AND i_psfFlux > 0
  AND i_cModelFlux > 0 AND NOT i_psfFlux_flag AND NOT i_cModel_flag
  AND NOT i_pixelFlags_saturated AND NOT i_pixelFlags_edge
GROUP BY tract ORDER BY tract
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="10 tracts x 50,000 objects")
    parser.add_argument("--tracts", type=int, default=None)
    parser.add_argument("--objects", type=int, default=None, help="objects per tract")
    parser.add_argument("--visits", type=int, default=None, help="default: one per tract")
    parser.add_argument("--skip-dask", action="store_true")
    args = parser.parse_args()
    tracts = args.tracts or (10 if args.quick else 100)
    objects = args.objects or (50_000 if args.quick else 200_000)
    visits = args.visits or tracts
    root = WORK / f"explore-{tracts}x{objects}"
    rows = tracts * objects
    cores = os.cpu_count() or 1
    print(
        f"Repository {root} ({tracts} tracts x {objects:,} objects = {rows / 1e6:.1f} M rows;"
        f" {cores} cores; DuckDB {duckdb.__version__})"
    )

    if not (root / "vigil-repo.yaml").exists():
        seconds, catalog = timed(
            lambda: generate_catalog(root, tracts=tracts, objects_per_tract=objects, visits=visits)
        )
        line(
            "generate the demo repository (objects + sources)",
            seconds,
            catalog.objects + catalog.sources,
        )
    files = [info.path for info in scan_table(RepoLayout(root), "objects").files.values()]
    size = sum(p.stat().st_size for p in files) / 1e9
    width = len(pq.read_schema(files[0]).names)
    print(f"  objects: {len(files)} files, {size:.2f} GB, {width} columns")

    print("\nvigil compute (read declared columns, compute, select, write values)")
    for name in (METRIC, "psf_snr_i"):
        seconds, report = timed(lambda n=name: compute_repository(root, names=[n]))
        line(f"{name}: {report.rows:,} values written", seconds, rows)

    print(f"\ncompute + select + aggregate of {METRIC} by tract from the object tables")
    metric = default_registry().resolve(METRIC)
    index = scan_table(RepoLayout(root), "objects")
    plan = AggregatePlan(metric, "catalogue", tuple(files), index.columns, ("tract",))
    cold, ours = timed(lambda: run_aggregate(connect(), plan))
    con = connect()
    warm, _ = timed(lambda: run_aggregate(con, plan), repeat=3)
    bare_con = duckdb.connect()
    bare_sql = BARE.format(glob=root / "objects" / "*.parquet")
    bare, bare_result = timed(lambda: bare_con.execute(bare_sql).df(), repeat=3)
    pandas, pandas_result = timed(lambda: pandas_baseline(files))
    for other in (bare_result, pandas_result):
        assert np.allclose(ours["value"], other["value"], atol=1e-6), "the results disagree"
    line("Vigil plan, DuckDB, new connection", cold, rows)
    line("Vigil plan, DuckDB, warm connection (best of 3)", warm, rows)
    line("bare DuckDB query, warm (best of 3): the practical limit", bare, rows)
    line("pandas: needed columns of every file, group, median", pandas, rows)
    if not args.skip_dask:
        dask_timing, _ = timed(lambda: Repository(root, engine="dask").aggregate(METRIC, ["tract"]))
        line("Vigil plan on Dask (local threads), stored values", dask_timing)
    qa_rate = QA_EXPLORER_ROWS / QA_EXPLORER_SECONDS
    ours_rate = rows / warm.wall
    print(
        f"  ratios (wall; cpu): Vigil/bare DuckDB {warm.wall / bare.wall:.2f}x;"
        f" {warm.cpu / bare.cpu:.2f}x -- pandas/Vigil {pandas.wall / warm.wall:.1f}x;"
        f" {pandas.cpu / warm.cpu:.1f}x"
    )
    print(
        f"  qa_explorer reference: {QA_EXPLORER_SECONDS:.0f} s"
        f" for {QA_EXPLORER_ROWS / 1e6:.0f} M rows"
        f" on {QA_EXPLORER_WORKERS} workers = {qa_rate / 1e6:.2f} M rows/s"
        f" ({qa_rate / QA_EXPLORER_WORKERS / 1e3:.0f} k rows/s per worker)"
    )
    print(
        f"  Vigil: {ours_rate / 1e6:.2f} M rows/s on {cores} cores"
        f" ({ours_rate / cores / 1e3:.0f} k rows/s per core):"
        f" {ours_rate / qa_rate:.1f}x the reference's total rate,"
        f" {(ours_rate / cores) / (qa_rate / QA_EXPLORER_WORKERS):.0f}x per core;"
        f" 78 M rows would take {QA_EXPLORER_ROWS / ours_rate:.1f} s here"
    )

    print("\nexplorer queries on stored values (Repository)")
    for name in (METRIC, "psf_snr_i"):
        stored_rows = Repository(root).metric(name).rows or 0
        for by in (["tract"], ["tract", "patch"]):
            cold, _ = timed(lambda n=name, b=by: Repository(root).aggregate(n, b))
            repo = Repository(root)
            repo.aggregate(name, by)
            warm_cached, _ = timed(lambda r=repo, n=name, b=by: r.aggregate(n, b), repeat=3)
            warm_query, _ = timed(
                lambda r=repo, n=name, b=by: (r.clear_cache(), r.aggregate(n, b)), repeat=3
            )
            label = f"{name} by {'+'.join(by)} ({stored_rows / 1e6:.1f} M values)"
            line(f"{label}: cold", cold, stored_rows)
            line(f"{label}: warm, uncached", warm_query, stored_rows)
            line(f"{label}: warm, cached", warm_cached)
    cold, _ = timed(lambda: Repository(root).summary())
    repo = Repository(root)
    repo.summary()
    warm, _ = timed(repo.summary, repeat=3)
    line("quick-look summary (tracts, visits per band, objects, sources): cold", cold)
    line("quick-look summary: warm", warm)
    tract = min(index.files)
    seconds, values = timed(lambda: Repository(root).values(METRIC, {"tract": tract}, limit=None))
    line(f"one tract's per-source values ({len(values):,} rows, cold)", seconds)
    seconds, values = timed(lambda: Repository(root).values("psf_snr_i", sample=200_000))
    line("a 200,000-row random sample of all psf_snr_i values", seconds)
    sky = ["coord_ra", "coord_dec", "value"]
    seconds, values = timed(lambda: Repository(root).values("psf_snr_i", fields=sky, limit=None))
    line(f"every psf_snr_i value: ra, dec, value ({len(values):,} rows, a sky map)", seconds)


if __name__ == "__main__":
    main()
