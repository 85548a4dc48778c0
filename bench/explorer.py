"""Benchmark of the drill-down explorer over tidy Parquet, with its peers in the same run.

Prints, on an HSC-like demo repository (default 100 tracts x 200,000 objects = 20 M
object rows, one visit per tract, every standard metric computed; cached in
bench/.work/):

- the quick-look summary: the header figures (tracts, patches, visits per band, objects,
  sources) and every metric rolled up (dataset value; for a metric with an acceptable
  range its groups at every drill level, those out of range and the worst), cold (a new
  `Repository`: the process's first, then the best of three) and warm (the same one
  again); beside it the same summary with pandas
  (read the needed columns of every file, group, aggregate) and with bare DuckDB queries
  of the same columns (the practical limit), the results checked equal, and the ratios;
- one tract's metric view: its patches' aggregates and centres, its per-source values
  and the two datashaded images (metric against magnitude, RA/Dec map);
- a datashaded sky map of all rows: every per-source value of one metric with its RA and
  Dec, aggregated by Datashader (``Canvas.points``, mean) and shaded;
- compute + select + aggregate of one metric straight from the object tables (Vigil's
  plan, bare DuckDB, pandas, Dask), ``vigil compute`` of one metric, and the qa_explorer
  reference (39 s for one functor over 78 M rows on 24 workers) scaled per row and core;
- the same quick-look summary on a Dask LocalCluster of two worker processes, each
  allowed less memory (``--dask-worker-memory``, default 1 GB) than the repository's
  Parquet data holds uncompressed, checked equal to DuckDB's;
- PA1 and AM1 (repeatability from matched visit sources) in each band, on a repository of
  up to 10 tracts each seen twice per band (the main one has one visit per tract), cold,
  and the PSF residuals with their rho statistics (`vigil.compute.psf`) in each band;
- click to drawn in Chromium on a 40-tract ``vigil demo catalog`` repository (8 with
  ``--quick``; ``--click`` runs this part alone): open a metric from the quick look,
  drill to a tract, to a patch, toggle the outlines (`_explorer_click`).

Usage::

    .venv/bin/python bench/explorer.py --quick     # 10 tracts x 50,000 objects
    .venv/bin/python bench/explorer.py             # 100 tracts x 200,000 objects
"""

from __future__ import annotations

import argparse
import math
import os
import resource
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import datashader as ds
import datashader.transfer_functions as tf
import duckdb
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
from _explorer_click import click_section

from vigil.compute import compute_repository, default_registry
from vigil.compute.engine import connect, run_aggregate
from vigil.compute.files import forget_footers, scan_table
from vigil.compute.plan import AggregatePlan, sql_files
from vigil.compute.psf import PsfReport, psf_report
from vigil.compute.repeatability import RepeatabilityResult, am1, pa1
from vigil.compute.repository import RepoLayout, sort_bands
from vigil.demo.catalog import generate_catalog
from vigil.explorer import Repository
from vigil.explorer._ranking import median_tail_log_probability
from vigil.explorer._rollup import WORST_CANDIDATES, group_label, positions, rollup, rollup_levels

WORK = Path(__file__).resolve().parent / ".work"
METRIC = "psf_cmodel_mag_diff_i"
SKY_METRIC = "psf_snr_i"
QA_EXPLORER_SECONDS, QA_EXPLORER_ROWS, QA_EXPLORER_WORKERS = 39.0, 78e6, 24
AIM_COLD, AIM_WARM, AIM_PANDAS, AIM_BARE = 3.0, 0.3, 5.0, 1.5


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
    print(f"  {label:<74} {timing.wall:7.3f} s wall {timing.cpu:7.3f} s cpu {rate}")


def verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


# -- the quick-look summary, three ways ------------------------------------------------


class Summary(NamedTuple):
    """What the three implementations must agree on."""

    objects: int
    sources: int
    patches: int
    values: dict[str, float]
    worst: dict[str, str]


def vigil_summary(root: Path, repo: Repository | None = None) -> Summary:
    """Vigil: `Repository.summary` and the quick look's roll-up."""
    repo = repo or Repository(root)
    head = repo.summary()
    table = rollup(repo)
    return Summary(
        head.objects,
        head.sources,
        head.patches,
        dict(zip(table["metric"], table["value"], strict=True)),
        dict(zip(table["metric"], table["worst"], strict=True)),
    )


def cold_summary(root: Path) -> Summary:
    """`vigil_summary` with nothing cached by Vigil: a new `Repository`, no footers."""
    forget_footers()
    return vigil_summary(root)


Metrics = list[tuple[str, str, Any, list[tuple[str, ...]], str]]


def _levels(root: Path) -> Metrics:
    """Name, table, acceptable range, roll-up levels and aggregate of every stored metric.

    A fit's dataset value is a refit from the catalogue (`rollup_levels`), which the
    peers do not reimplement: they are given its own granularity only, and its dataset
    value is not compared (`check_equal`); its worst group is.
    """
    with Repository(root) as repo:
        return [
            (
                info.name,
                info.table,
                info.acceptable,
                [level for level in rollup_levels(info) if level or _per_source(info)],
                info.aggregate,
            )
            for info in repo.metrics()
            if info.stored
        ]


def _per_source(info: Any) -> bool:
    return info.granularity in ("source", "dataset")


def _out_of_range(groups: pd.DataFrame, acceptable: Any) -> tuple[pd.DataFrame, float]:
    """The groups out of *acceptable*, farthest first (the ranked candidates), and the
    range's upper end."""
    low = -np.inf if acceptable.min is None else acceptable.min
    high = np.inf if acceptable.max is None else acceptable.max
    excess = np.maximum(low - groups["value"], groups["value"] - high)
    bad = groups[excess > 0].assign(excess=excess[excess > 0])
    return bad.sort_values("excess", ascending=False, kind="stable").head(WORST_CANDIDATES), high


def _worst(
    level: tuple[str, ...], groups: pd.DataFrame, acceptable: Any, values: np.ndarray
) -> str:
    """The out-of-range group least likely by chance (`vigil.explorer._ranking`)."""
    bad, high = _out_of_range(groups, acceptable)
    if bad.empty:
        return ""
    scores = []
    for _, group in bad.iterrows():
        above = group["value"] > high
        beyond = int(
            (values >= group["value"]).sum() if above else (values <= group["value"]).sum()
        )
        scores.append(median_tail_log_probability(int(group["count"]), beyond, len(values)))
    bad = bad.assign(log_p=scores).sort_values(
        ["log_p", "excess"], ascending=[True, False], kind="stable"
    )
    return group_label(level, bad.iloc[0])


def pandas_summary(root: Path, metrics: Metrics) -> Summary:
    """pandas: the needed columns of every file, group, aggregate (median and count)."""
    layout = RepoLayout(root)
    object_files = list(layout.table_files("objects").values())
    source_files = list(layout.table_files("sources").values())
    objects = sum(pq.ParquetFile(p).metadata.num_rows for p in object_files)
    sources = sum(pq.ParquetFile(p).metadata.num_rows for p in source_files)
    keys = pd.concat(pq.read_table(p, columns=["tract", "patch"]).to_pandas() for p in object_files)
    patches = len(keys.drop_duplicates())
    values: dict[str, float] = {}
    worst: dict[str, str] = {}
    for name, table, acceptable, levels, aggregate in metrics:
        files = list(layout.metric_files(name, table).values())
        if not files:
            values[name], worst[name] = math.nan, ""
            continue
        columns = sorted({k for level in levels for k in level} | {"value"})
        frame = pd.concat(pq.read_table(p, columns=columns).to_pandas() for p in files)
        assert aggregate in ("median", "count")
        values[name] = math.nan
        if () in levels:
            values[name] = float(frame["value"].median() if aggregate == "median" else len(frame))
        worst[name] = ""
        array = frame["value"].to_numpy()
        for level in levels:
            if not level:
                continue
            grouped = frame.groupby(list(level))["value"].agg(["median", "count"])
            groups = grouped.rename(columns={"median": "value"}).reset_index()
            if not worst[name]:
                worst[name] = _worst(level, groups, acceptable, array)
    return Summary(objects, sources, patches, values, worst)


def bare_summary(root: Path, metrics: Metrics) -> Summary:
    """Bare DuckDB: one query per metric over the same columns (grouping sets), no plan."""
    layout = RepoLayout(root)
    con = duckdb.connect()
    objects_sql = sql_files(layout.table_files("objects").values())
    sources_sql = sql_files(layout.table_files("sources").values())
    objects, sources = (
        int(con.execute(f"SELECT sum(num_rows) FROM parquet_file_metadata({files})").fetchone()[0])
        for files in (objects_sql, sources_sql)
    )
    patches = int(
        con.execute(
            f"SELECT count(DISTINCT (tract, patch)) FROM read_parquet({objects_sql})"
        ).fetchone()[0]
    )
    values: dict[str, float] = {}
    worst: dict[str, str] = {}
    for name, table, acceptable, levels, aggregate in metrics:
        paths = layout.metric_files(name, table).values()
        keys = list(dict.fromkeys(k for level in levels for k in level))
        worst[name] = ""
        values[name] = math.nan
        if not paths:
            continue
        files = sql_files(paths)
        function = {"median": "median(value)", "count": "count(*)::DOUBLE"}[aggregate]
        if not keys:
            row = con.execute(f"SELECT {function} FROM read_parquet({files})").fetchone()
            values[name] = float(row[0]) if row and row[0] is not None else math.nan
            continue
        sets = ", ".join("(" + ", ".join(level) + ")" for level in levels)
        frame = con.execute(
            f"SELECT {', '.join(keys)}, GROUPING({', '.join(keys)}) AS g, {function} AS value,"
            f" count(*) AS count FROM read_parquet({files}) GROUP BY GROUPING SETS ({sets})"
        ).df()
        for level in levels:
            gid = sum(1 << (len(keys) - 1 - i) for i, k in enumerate(keys) if k not in level)
            groups = (
                frame[frame["g"] == gid].sort_values(list(level))
                if level
                else frame[frame["g"] == gid]
            )
            if not level:
                values[name] = float(groups["value"].iloc[0]) if len(groups) else math.nan
            elif not worst[name]:
                worst[name] = _bare_worst(con, files, level, groups, acceptable)
    return Summary(objects, sources, patches, values, worst)


def _bare_worst(
    con: Any, files: str, level: tuple[str, ...], groups: pd.DataFrame, acceptable: Any
) -> str:
    bad, high = _out_of_range(groups, acceptable)
    if bad.empty:
        return ""
    above = (bad["value"] > high).tolist()
    counts = ", ".join(
        f"count(*) FILTER (WHERE value {'>=' if up else '<='} {float(v)!r})"
        for v, up in zip(bad["value"], above, strict=True)
    )
    row = con.execute(f"SELECT count(*), {counts} FROM read_parquet({files})").fetchone()
    scores = [
        median_tail_log_probability(int(n), int(b), int(row[0]))
        for n, b in zip(bad["count"], row[1:], strict=True)
    ]
    bad = bad.assign(log_p=scores).sort_values(
        ["log_p", "excess"], ascending=[True, False], kind="stable"
    )
    return group_label(level, bad.iloc[0])


def check_equal(
    ours: Summary, other: Summary, who: str, refitted: frozenset[str] = frozenset()
) -> None:
    assert (ours.objects, ours.sources, ours.patches) == (
        other.objects,
        other.sources,
        other.patches,
    ), f"{who}: header figures differ"
    for name, value in other.values.items():
        mine = ours.values[name]
        if name in refitted:  # a fit's dataset value, refitted by Vigil only (`_levels`)
            assert ours.worst[name] == other.worst[name], f"{who}: worst of {name} differs"
            continue
        both_nan = math.isnan(mine) and math.isnan(value)
        assert both_nan or math.isclose(mine, value, rel_tol=1e-9, abs_tol=1e-9), (
            f"{who}: {name} {mine} != {value}"
        )
        assert ours.worst[name] == other.worst[name], f"{who}: worst of {name} differs"


# -- plots -------------------------------------------------------------------------------


def shade(frame: pd.DataFrame, x: str, y: str, value: str | None, width: int = 800) -> Any:
    """A Datashader image of *frame*: mean of *value* per pixel (count without one)."""
    canvas = ds.Canvas(plot_width=width, plot_height=width // 2)
    aggregate = canvas.points(frame, x, y, agg=ds.mean(value) if value else ds.count())
    return tf.shade(aggregate, cmap=["#313695", "#ffffbf", "#a50026"], how="eq_hist")


def tract_view(root: Path, tract: int) -> int:
    """What the metric tab shows for one tract: groups, centres, values and two images."""
    with Repository(root) as repo:
        where = {"tract": tract}
        repo.aggregate(SKY_METRIC, ["tract", "patch"], where)
        positions(repo, "objects", ["tract", "patch"], where)
        frame = repo.values(
            SKY_METRIC, where, fields=["coord_ra", "coord_dec", "mag", "value"], limit=None
        )
        shade(frame, "mag", "value", None)
        shade(frame, "coord_ra", "coord_dec", "value")
        return len(frame)


# -- compute + aggregate from the catalogue ---------------------------------------------


def pandas_catalogue(files: list[Path]) -> pd.DataFrame:
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
        "detect_isPrimary",
    ]
    parts = []
    for path in files:
        frame = pq.read_table(path, columns=columns).to_pandas()
        keep = (
            frame["detect_isPrimary"]
            & (frame["i_extendedness"] < 0.5)
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


BARE_CATALOGUE = """
SELECT tract, median(-2.5 * log10(i_psfFlux::DOUBLE / i_cModelFlux) * 1000) AS value
FROM read_parquet('{glob}')
WHERE i_extendedness < 0.5 AND i_psfFlux / i_psfFluxErr >= 50 AND i_psfFlux > 0
  AND i_cModelFlux > 0 AND NOT i_psfFlux_flag AND NOT i_cModel_flag
  AND NOT i_pixelFlags_saturated AND NOT i_pixelFlags_edge AND detect_isPrimary
GROUP BY tract ORDER BY tract
"""


def catalogue_section(root: Path, rows: int, cores: int, skip_dask: bool) -> None:
    print(f"\ncompute + select + aggregate of {METRIC} by tract from the object tables")
    metric = default_registry().resolve(METRIC)
    index = scan_table(RepoLayout(root), "objects")
    files = [info.path for info in index.files.values()]
    plan = AggregatePlan(metric, "catalogue", tuple(files), index.columns, ("tract",))
    cold, ours = timed(lambda: run_aggregate(connect(), plan))
    con = connect()
    warm, _ = timed(lambda: run_aggregate(con, plan), repeat=3)
    bare_con = duckdb.connect()
    bare_sql = BARE_CATALOGUE.format(glob=root / "objects" / "*.parquet")
    bare, bare_result = timed(lambda: bare_con.execute(bare_sql).df(), repeat=3)
    pandas, pandas_result = timed(lambda: pandas_catalogue(files))
    for other in (bare_result, pandas_result):
        assert np.allclose(ours["value"], other["value"], atol=1e-6), "the results disagree"
    line("Vigil plan, DuckDB, new connection", cold, rows)
    line("Vigil plan, DuckDB, warm connection (best of 3)", warm, rows)
    line("bare DuckDB query, warm (best of 3): the practical limit", bare, rows)
    line("pandas: needed columns of every file, group, median", pandas, rows)
    if not skip_dask:
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
        f" for {QA_EXPLORER_ROWS / 1e6:.0f} M rows on {QA_EXPLORER_WORKERS} workers"
        f" = {qa_rate / 1e6:.2f} M rows/s ({qa_rate / QA_EXPLORER_WORKERS / 1e3:.0f} k rows/s"
        f" per worker); Vigil: {ours_rate / 1e6:.2f} M rows/s on {cores} cores"
        f" ({(ours_rate / cores) / (qa_rate / QA_EXPLORER_WORKERS):.0f}x per core)"
    )


# -- the quick look on a Dask cluster --------------------------------------------------


def data_bytes(root: Path) -> tuple[int, int]:
    """The repository's Parquet data: bytes uncompressed (in memory) and on disk."""
    memory = disk = 0
    for path in root.rglob("*.parquet"):
        metadata = pq.ParquetFile(path).metadata
        memory += sum(metadata.row_group(i).total_byte_size for i in range(metadata.num_row_groups))
        disk += path.stat().st_size
    return memory, disk


def dask_section(root: Path, duckdb_result: Summary, duckdb_cold: Timing, worker: float) -> None:
    """The quick-look summary on two workers of *worker* bytes each, against DuckDB's."""
    from vigil.compute.dask_cluster import DaskStalledError, open_cluster

    memory, disk = data_bytes(root)
    print(
        f"\nquick look on a Dask LocalCluster: 2 worker processes of {worker / 1e9:.2f} GB;"
        f" data {memory / 1e9:.2f} GB uncompressed ({disk / 1e9:.2f} GB on disk)"
    )
    started = time.perf_counter()
    with open_cluster("local:2", memory_limit=int(worker)) as cluster:
        line("start the cluster", Timing(time.perf_counter() - started, 0.0))

        def quick_look() -> Summary:
            forget_footers()
            with Repository(root, engine="dask", dask_client=cluster) as repo:
                return vigil_summary(root, repo)

        try:
            first, result = timed(quick_look)
            again, _ = timed(quick_look, repeat=2)
        except DaskStalledError as exc:
            stopped = time.perf_counter() - started
            print(f"  Dask: stopped after {stopped:.0f} s: {exc.message}")
            print("  (bench: raise --dask-worker-memory)")
            return
    check_equal(result, duckdb_result, "Dask")
    line("Dask: new Repository, header figures and every metric rolled up (first)", first)
    line("Dask: new Repository again (cold; best of 2)", again)
    print(
        f"  each worker has {worker / memory:.2f}x the data's memory"
        f" ({'less' if worker < memory else 'NOT less'} than the data); results equal"
        f" DuckDB's; Dask/DuckDB cold {again.wall / duckdb_cold.wall:.1f}x"
    )


# -- main -------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="10 tracts x 50,000 objects")
    parser.add_argument("--tracts", type=int, default=None)
    parser.add_argument("--objects", type=int, default=None, help="objects per tract")
    parser.add_argument("--visits", type=int, default=None, help="default: one per tract")
    parser.add_argument("--skip-dask", action="store_true")
    parser.add_argument(
        "--dask-worker-memory",
        type=float,
        default=1.0,
        help="GB each of the 2 Dask workers may use (default 1; below the full data)",
    )
    parser.add_argument(
        "--skip-catalogue", action="store_true", help="leave out the compute-from-catalogue part"
    )
    parser.add_argument("--click", action="store_true", help="only the click-to-drawn times")
    args = parser.parse_args()
    if args.click:
        click_section(8 if args.quick else 40)
        return
    tracts = args.tracts or (10 if args.quick else 100)
    objects = args.objects or (50_000 if args.quick else 200_000)
    visits = args.visits or tracts
    root = WORK / f"explore-{tracts}x{objects}"
    rows = tracts * objects
    cores = os.cpu_count() or 1
    load = os.getloadavg()[0]
    print(
        f"Repository {root} ({tracts} tracts x {objects:,} objects = {rows / 1e6:.1f} M rows;"
        f" {cores} cores, load average {load:.1f}; DuckDB {duckdb.__version__})"
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
    layout = RepoLayout(root)
    missing = [info.name for info in Repository(root).metrics() if not info.stored]
    if missing:
        seconds, report = timed(lambda: compute_repository(root, names=missing))
        line(
            f"vigil compute: {len(missing)} metrics, {report.rows:,} values written", seconds, rows
        )
    files = list(layout.table_files("objects").values())
    size = sum(p.stat().st_size for p in files) / 1e9
    stored = sum(
        pq.ParquetFile(p).metadata.num_rows
        for n in layout.stored_metrics()
        for p in layout.metric_dir(n).glob("*.parquet")
    )
    print(
        f"  objects: {len(files)} files, {size:.2f} GB; {stored / 1e6:.1f} M stored metric values"
    )

    print("\nquick-look summary: header figures and every metric rolled up")
    metrics = _levels(root)
    first, ours = timed(lambda: cold_summary(root))
    cold, _ = timed(lambda: cold_summary(root), repeat=3)
    repo = Repository(root)
    vigil_summary(root, repo)
    warm, _ = timed(lambda: vigil_summary(root, repo), repeat=3)
    bare, bare_result = timed(lambda: bare_summary(root, metrics), repeat=3)
    pandas, pandas_result = timed(lambda: pandas_summary(root, metrics))
    refitted = frozenset(name for name, _, _, levels, _ in metrics if () not in levels)
    check_equal(ours, bare_result, "bare DuckDB", refitted)
    check_equal(ours, pandas_result, "pandas", refitted)
    line("Vigil: the process's first Repository (imports and allocations warm up)", first)
    line("Vigil: new Repository (cold: nothing cached by Vigil; best of 3)", cold)
    line("Vigil: same Repository again (warm, best of 3)", warm)
    line("bare DuckDB: one query per metric, grouping sets (new connection, best of 3)", bare)
    line("pandas: needed columns of every file, group, median", pandas)
    print(
        f"  ratios (wall; cpu): Vigil cold/bare DuckDB {cold.wall / bare.wall:.2f}x;"
        f" {cold.cpu / bare.cpu:.2f}x -- pandas/Vigil cold {pandas.wall / cold.wall:.1f}x;"
        f" {pandas.cpu / cold.cpu:.1f}x"
    )
    print(
        f"  aims: cold < {AIM_COLD:g} s {verdict(cold.wall < AIM_COLD)};"
        f" warm < {AIM_WARM:g} s {verdict(warm.wall < AIM_WARM)};"
        f" >= {AIM_PANDAS:g}x faster than pandas {verdict(pandas.wall >= AIM_PANDAS * cold.wall)};"
        f" within {AIM_BARE:g}x of bare DuckDB {verdict(cold.wall <= AIM_BARE * bare.wall)}"
    )
    bad = {name: worst for name, worst in ours.worst.items() if worst}
    print(f"  worst groups named: {'; '.join(f'{n}: {w}' for n, w in bad.items())}")
    if not args.skip_dask:
        dask_section(root, ours, cold, args.dask_worker_memory * 1e9)

    print("\nmetric view and sky map")
    tiny = pd.DataFrame({c: [0.0, 1.0] for c in ("coord_ra", "coord_dec", "mag", "value")})
    warmup, _ = timed(
        lambda: (shade(tiny, "coord_ra", "coord_dec", "value"), shade(tiny, "mag", "value", None))
    )
    line("Datashader's first use in a process (Numba compiles; not counted below)", warmup)
    tract = min(layout.table_files("objects"))
    seconds, count = timed(lambda: tract_view(root, tract))
    line(f"one tract's metric view ({SKY_METRIC}, {count:,} sources, 2 images, cold)", seconds)
    sky = ["coord_ra", "coord_dec", "value"]
    with Repository(root) as fresh:
        read, frame = timed(lambda: fresh.values(SKY_METRIC, fields=sky, limit=None))
    image, _ = timed(lambda: shade(frame, "coord_ra", "coord_dec", "value"))
    line(f"sky map of all rows: read ra, dec, value ({len(frame):,} rows)", read, len(frame))
    line("sky map of all rows: Datashader Canvas.points (mean) + shade", image, len(frame))
    line(
        "sky map of all rows: total",
        Timing(read.wall + image.wall, read.cpu + image.cpu),
        len(frame),
    )

    if not args.skip_catalogue:
        seconds, report = timed(lambda: compute_repository(root, names=[METRIC]))
        print()
        line(f"vigil compute {METRIC}: {report.rows:,} values written", seconds, rows)
        catalogue_section(root, rows, cores, args.skip_dask)

    repeatability_section(min(tracts, 10), objects)
    click_section(8 if args.quick else 40)


def repeatability_section(tracts: int, objects: int) -> None:
    """PA1 and AM1 of every band, on a repository whose tracts are seen twice per band."""
    root = WORK / f"repeat-{tracts}x{objects}"
    print(f"\nrepeatability (PA1, AM1 from matched visit sources): {root}")
    if not (root / "vigil-repo.yaml").exists():
        seconds, catalog = timed(
            lambda: generate_catalog(root, tracts=tracts, objects_per_tract=objects)
        )
        line("generate the repository (objects + sources)", seconds, catalog.sources)
    index = scan_table(RepoLayout(root), "sources")
    for band in sort_bands(index.bands):
        sources = sum(info.rows for info in index.select(band=band))
        for name in ("PA1", "AM1"):
            forget_footers()
            seconds, result = timed(_repeatability(name, root, band))
            label = f"{name} {band}: {result.value:.2f} {result.unit}"
            line(
                f"{label}, {result.stars:,} stars, {result.pairs:,} pairs (cold)", seconds, sources
            )
        forget_footers()
        seconds, psf = timed(_psf(root, band))
        rho = f"rho on {psf.rho.stars:,} stars, {int(psf.rho.pairs.sum()):,} pairs"
        line(f"PSF residuals + rho {band}: {psf.describe()}, {rho} (cold)", seconds, sources)


def _repeatability(name: str, root: Path, band: str) -> Callable[[], RepeatabilityResult]:
    measure = pa1 if name == "PA1" else am1
    return lambda: measure(root, band)


def _psf(root: Path, band: str) -> Callable[[], PsfReport]:
    return lambda: psf_report(root, band)


if __name__ == "__main__":
    main()
