"""Every query of the explorer on a Dask LocalCluster answers as DuckDB does: the quick
look's roll-up, per-source values, tail counts, visits, tracts, positions, the header."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from vigil.compute import compute_repository
from vigil.compute.dask_cluster import DaskCluster, DaskConnectionError, open_cluster
from vigil.demo.catalog import DemoCatalog, generate_catalog
from vigil.explorer import Range, Repository
from vigil.explorer._rollup import rollup
from vigil.explorer.query import default_engine

pytest.importorskip("distributed")

# Dask's own Parquet reader uses a pandas keyword that pandas 3.1 deprecates.
pytestmark = pytest.mark.filterwarnings("ignore:The inplace keyword in DataFrame.reset_index")


@pytest.fixture(scope="module")
def catalog(tmp_path_factory: pytest.TempPathFactory) -> DemoCatalog:
    """Three tracts of 3,000 objects, six visits, metrics computed."""
    root = tmp_path_factory.mktemp("dask-query") / "demo"
    made = generate_catalog(root, tracts=3, objects_per_tract=3000, visits=6, seed=21)
    compute_repository(root)
    return made


@pytest.fixture(scope="module")
def cluster() -> Iterator[DaskCluster]:
    with open_cluster("local:2", processes=False) as opened:
        yield opened


@pytest.fixture(scope="module")
def both(catalog: DemoCatalog, cluster: DaskCluster) -> Iterator[tuple[Repository, Repository]]:
    with (
        Repository(catalog.root) as duck,
        Repository(catalog.root, engine="dask", dask_client=cluster) as dask,
    ):
        yield duck, dask


def test_the_quick_look_equals_duckdb(both: tuple[Repository, Repository]) -> None:
    duck, dask = both
    expected = rollup(duck)
    assert (expected["status"] == "bad").any()  # the planted problems are found
    pd.testing.assert_frame_equal(rollup(dask), expected, check_exact=False, rtol=1e-9)
    assert dask.summary() == duck.summary()


@pytest.mark.parametrize(
    ("name", "args"),
    [
        ("visits", ()),
        ("visits", (9814, "r")),
        ("tracts", ()),
        ("positions", ("objects", ["tract", "patch"], {"tract": 9813})),
        ("positions", ("sources", ["visit", "detector"], None)),
        ("positions", ("objects", [], None)),
    ],
)
def test_navigation_equals_duckdb(
    both: tuple[Repository, Repository], name: str, args: tuple[Any, ...]
) -> None:
    duck, dask = both
    expected = getattr(duck, name)(*args)
    assert len(expected)
    got = getattr(dask, name)(*args)
    pd.testing.assert_frame_equal(got, expected, check_dtype=False, check_exact=False, rtol=1e-9)


_OPTIONS: list[dict[str, Any]] = [
    {},
    {"where": {"tract": 9814}, "limit": 500},
    {"where": {"mag": Range(18, 22)}, "fields": ["coord_ra", "coord_dec", "value"]},
]


@pytest.mark.parametrize(
    ("metric", "options"),
    [("psf_snr_i", options) for options in _OPTIONS]
    # Detectors are a visit metric's (a coadd metric has none).
    + [
        ("visit_psf_cmodel_mag_diff_r", options)
        for options in [*_OPTIONS, {"where": {"detector": [10, 11, 12]}}]
    ],
)
def test_source_values_equal_duckdb(
    both: tuple[Repository, Repository], metric: str, options: dict[str, Any]
) -> None:
    duck, dask = both
    expected = duck.values(metric, **options)
    assert len(expected)
    got = dask.values(metric, **options)
    assert got.attrs == expected.attrs
    pd.testing.assert_frame_equal(got, expected, check_dtype=False, check_exact=False, rtol=1e-9)


def test_source_values_with_catalogue_columns_equal_duckdb(
    both: tuple[Repository, Repository],
) -> None:
    """The join's row order is DuckDB's own: the rows are compared by id."""
    duck, dask = both
    options: dict[str, Any] = {"where": {"tract": 9813}, "columns": ["i_extendedness"]}
    expected = duck.values("psf_snr_i", **options).sort_values("objectId", ignore_index=True)
    got = dask.values("psf_snr_i", **options)
    assert got["objectId"].is_unique
    got = got.sort_values("objectId", ignore_index=True)
    pd.testing.assert_frame_equal(got, expected, check_dtype=False, check_exact=False, rtol=1e-9)


def test_a_sample_is_the_same_for_the_same_seed(both: tuple[Repository, Repository]) -> None:
    duck, dask = both
    every = duck.values("psf_snr_i", limit=None)
    first = dask.values("psf_snr_i", sample=400, seed=3)
    dask.clear_cache()
    assert len(first) == 400
    assert first["objectId"].is_unique
    assert set(first["objectId"]) <= set(every["objectId"])
    pd.testing.assert_frame_equal(dask.values("psf_snr_i", sample=400, seed=3), first)
    other = dask.values("psf_snr_i", sample=400, seed=4)
    assert set(other["objectId"]) != set(first["objectId"])


def test_tail_counts_equal_duckdb(both: tuple[Repository, Repository]) -> None:
    duck, dask = both
    bounds = [(100.0, True), (20.0, False), (5.0, False)]
    for where in (None, {"tract": 9815}):
        assert dask.tail_counts("psf_snr_i", bounds, where) == duck.tail_counts(
            "psf_snr_i", bounds, where
        )


def test_repositories_opened_under_default_engine_run_on_the_cluster(
    catalog: DemoCatalog, cluster: DaskCluster
) -> None:
    with default_engine("dask", cluster.client), Repository(catalog.root) as inside:
        assert inside.engine == "dask"
        assert inside.dask_client is cluster.client
    with Repository(catalog.root) as outside:
        assert outside.engine == "duckdb"


def test_an_unreadable_metric_file_is_left_out_on_dask(
    catalog: DemoCatalog, cluster: DaskCluster, tmp_path: Path
) -> None:
    root = tmp_path / "broken"
    shutil.copytree(catalog.root, root)
    (root / "metrics" / "psf_snr_i" / "tract=9999.parquet").write_bytes(b"PAR1garbagePAR1")
    with Repository(root, engine="dask", dask_client=cluster) as broken:
        assert list(broken.aggregate("psf_snr_i", ["tract"])["tract"]) == [9813, 9814, 9815]
        assert [p.path.name for p in broken.problems] == ["tract=9999.parquet"]


def test_a_scheduler_address_that_does_not_answer(catalog: DemoCatalog) -> None:
    with pytest.raises(DaskConnectionError, match="no Dask scheduler answers"):
        Repository(catalog.root, engine="dask", dask_client="tcp://127.0.0.1:1")
