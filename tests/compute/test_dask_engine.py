"""The Dask engine on a LocalCluster gives DuckDB's answers, for every metric and level.

The stellar-locus fit once failed on a cluster in most runs: each worker process
iterates a set of column names in its own order (string hashes are salted per process),
and Dask refused the partitions whose columns came in another order than the client's.
`test_the_fit_on_worker_processes_of_another_hash_seed` runs it on workers started with a
hash seed that orders those names differently from this process (the order is checked
in the workers first, so the test cannot pass by chance).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.parquet as pq
import pytest

from vigil.compute import compute_repository, default_registry
from vigil.compute.dask_engine import read_rows, source_rows
from vigil.compute.plan import physical_columns
from vigil.demo.catalog import DemoCatalog, generate_catalog
from vigil.explorer import Repository
from vigil.explorer._rollup import rollup_levels

dask_config = pytest.importorskip("dask.config")
distributed = pytest.importorskip("distributed")

# Dask's own Parquet reader uses a pandas keyword that pandas 3.1 deprecates.
pytestmark = pytest.mark.filterwarnings("ignore:The inplace keyword in DataFrame.reset_index")

FIT = "stellar_locus_width"


@pytest.fixture(scope="module")
def catalog(tmp_path_factory: pytest.TempPathFactory) -> DemoCatalog:
    """Three tracts of 3,000 objects in g, r, i and six visits, metrics computed."""
    root = tmp_path_factory.mktemp("dask") / "demo"
    made = generate_catalog(root, tracts=3, objects_per_tract=3000, visits=6, seed=5)
    compute_repository(root)
    return made


@pytest.fixture(scope="module")
def bare(catalog: DemoCatalog, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same tables without metrics: every answer computed from the catalogue."""
    root = tmp_path_factory.mktemp("dask-bare") / "repo"
    shutil.copytree(catalog.root / "objects", root / "objects")
    shutil.copytree(catalog.root / "sources", root / "sources")
    return root


def _levels(repo: Repository) -> list[tuple[str, tuple[str, ...]]]:
    """Every metric of *repo* with each level the quick look aggregates it at."""
    out: list[tuple[str, tuple[str, ...]]] = []
    for info in repo.metrics():
        levels = rollup_levels(info) or [()]
        out.extend((info.name, tuple(level)) for level in levels)
    return out


def test_every_metric_at_every_level_equals_duckdb(
    catalog: DemoCatalog, bare: Path, client: Any
) -> None:
    for root in (catalog.root, bare):  # stored values, and computed from the catalogue
        with (
            Repository(root) as duck,
            Repository(root, engine="dask", dask_client=client) as dask,
        ):
            cases = _levels(duck)
            assert FIT in {name for name, _ in cases}
            assert len({name for name, _ in cases}) >= 15
            for name, level in cases:
                expected = duck.aggregate(name, list(level))
                got = dask.aggregate(name, list(level))
                pd.testing.assert_frame_equal(got, expected, check_exact=False, rtol=1e-9)


@pytest.mark.parametrize(
    ("by", "where"),
    [
        (["tract", "patch"], None),
        (["tract"], None),
        ([], None),
        (["tract"], {"tract": [9813, 9815]}),  # two of the three files
        (["tract", "patch"], {"tract": 9814}),  # one file
        (["tract", "patch"], {"patch": [1, 2, 3]}),  # a few rows of every file
    ],
)
def test_the_fit_on_several_partitionings(
    bare: Path, client: Any, by: list[str], where: Any
) -> None:
    with (
        Repository(bare) as duck,
        Repository(bare, engine="dask", dask_client=client) as dask,
    ):
        expected = duck.aggregate(FIT, by, where)
        for _ in range(3):
            dask.clear_cache()
            got = dask.aggregate(FIT, by, where)
            pd.testing.assert_frame_equal(got, expected, check_exact=False, rtol=1e-9)


def _column_order(seed: str) -> list[str]:
    """The order of the fit's columns that a process with hash seed *seed* computes, as
    a worker does (`physical_columns` of its set of column names)."""
    script = (
        "from vigil.compute import default_registry\n"
        "from vigil.compute.plan import physical_columns\n"
        f"metric = default_registry().resolve({FIT!r})\n"
        "names = frozenset(metric.value_columns())\n"
        "print(','.join(physical_columns(metric.table, metric.band, names)))"
    )
    env = {**os.environ, "PYTHONHASHSEED": seed}
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True
    )
    return done.stdout.strip().split(",")


def test_the_fit_on_worker_processes_of_another_hash_seed(
    bare: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    metric = default_registry().resolve(FIT)
    names = frozenset(metric.value_columns())
    here = list(physical_columns(metric.table, metric.band, names))
    seed = next(str(s) for s in range(1, 200) if _column_order(str(s)) != here)
    # The nanny sets the seed before it starts a worker's interpreter (6640 unless told);
    # a worker process also inherits this process's environment, where an earlier
    # cluster may have left a seed.
    spawn = {"distributed.nanny.pre-spawn-environ": {"PYTHONHASHSEED": seed}}
    monkeypatch.setenv("PYTHONHASHSEED", seed)
    with (
        dask_config.set(spawn),
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster, set_as_default=False) as client,
        Repository(bare) as duck,
        Repository(bare, engine="dask", dask_client=client) as dask,
    ):
        orders = client.run(lambda: list(physical_columns(metric.table, metric.band, names)))
        assert all(order != here for order in orders.values())
        for by in (["tract", "patch"], ["tract"], []):
            expected = duck.aggregate(FIT, by)
            for _ in range(3):
                dask.clear_cache()
                pd.testing.assert_frame_equal(
                    dask.aggregate(FIT, by), expected, check_exact=False, rtol=1e-9
                )


def test_partitions_have_the_columns_and_dtypes_dask_expects(bare: Path) -> None:
    """Each partition is cast to the frame computed on the schema, in its order."""
    metric = default_registry().resolve(FIT)
    files = sorted((bare / "objects").glob("*.parquet"))
    columns = sorted(
        physical_columns(metric.table, metric.band, metric.columns()) | {"tract", "patch"}
    )
    frame = read_rows(files, columns, lambda part: source_rows(metric, "catalogue", part, {}))
    computed = frame.compute(scheduler="sync")
    assert list(computed.columns) == list(frame._meta.columns)
    value_columns = sorted(physical_columns(metric.table, metric.band, metric.value_columns()))
    assert list(computed.columns) == ["tract", "patch", "band", *value_columns]
    assert computed.dtypes.to_dict() == frame._meta.dtypes.to_dict()


def test_a_tract_spread_over_two_files_is_reduced_after_a_shuffle(
    bare: Path, client: Any, tmp_path: Path
) -> None:
    """Groups are reduced file by file only while no tract spans two files."""
    import pyarrow as pa

    root = tmp_path / "merged"
    shutil.copytree(bare, root)
    files = sorted((root / "objects").glob("*.parquet"))
    first, second = (pq.read_table(path) for path in files[:2])
    half = second.num_rows // 2  # the second tract spans both files
    pq.write_table(pa.concat_tables([first, second.slice(0, half)]), files[0])
    pq.write_table(second.slice(half), files[1])
    with (
        Repository(root) as duck,
        Repository(root, engine="dask", dask_client=client) as dask,
    ):
        for name in ("psf_snr_i", FIT):
            expected = duck.aggregate(name, ["tract"])
            assert len(expected) == 3
            got = dask.aggregate(name, ["tract"])
            pd.testing.assert_frame_equal(got, expected, check_exact=False, rtol=1e-9)
