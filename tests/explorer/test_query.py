"""The explorer's query engine over a demo repository: drill-down, filters, engines."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from vigil.compute import (
    ComputeError,
    GranularityError,
    RepositoryConfigError,
    RepositoryError,
    UnknownMetricError,
    compute_repository,
)
from vigil.demo.catalog import DemoCatalog, generate_catalog
from vigil.explorer import Range, Repository

# Dask's own Parquet reader uses a pandas keyword that pandas 3.1 deprecates.
pytestmark = pytest.mark.filterwarnings("ignore:The inplace keyword in DataFrame.reset_index")


@pytest.fixture(scope="module")
def catalog(tmp_path_factory: pytest.TempPathFactory) -> DemoCatalog:
    """Two tracts of 8,000 objects, six visits, metrics computed."""
    root = tmp_path_factory.mktemp("query") / "demo"
    made = generate_catalog(root, tracts=2, objects_per_tract=8000, visits=6, seed=11)
    compute_repository(root)
    return made


@pytest.fixture(scope="module")
def repo(catalog: DemoCatalog) -> Iterator[Repository]:
    with Repository(catalog.root) as opened:
        yield opened


@pytest.fixture(scope="module")
def bare(catalog: DemoCatalog, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same tables without metrics/ and without vigil-repo.yaml."""
    root = tmp_path_factory.mktemp("bare") / "repo"
    shutil.copytree(catalog.root / "objects", root / "objects")
    shutil.copytree(catalog.root / "sources", root / "sources")
    return root


def test_summary(repo: Repository, catalog: DemoCatalog) -> None:
    summary = repo.summary()
    assert summary.tracts == catalog.tracts == [9813, 9814]
    assert summary.patches == 2 * 81
    assert summary.visits_per_band == {"g": 2, "r": 2, "i": 2}
    assert (summary.objects, summary.sources) == (catalog.objects, catalog.sources)
    assert summary.bands == ["g", "r", "i"]
    assert summary.metrics == len(repo.metrics()) == 19
    assert not summary.inferred and not summary.problems


def test_metrics_describe_themselves(repo: Repository) -> None:
    info = repo.metric("psf_size_residual_i")
    assert (info.table, info.band, info.unit, info.granularity) == ("objects", "i", "%", "source")
    assert info.stored and info.rows and info.acceptable is not None
    assert info.selection[:2] == ("detect_isPrimary", "i_extendedness < 0.5")
    assert repo.metric("stellar_locus_width").granularity == "patch"
    with pytest.raises(UnknownMetricError, match="has no metric 'nope'"):
        repo.metric("nope")


@pytest.mark.parametrize("kind", ["bad_patch", "bad_visit", "bad_ccd"])
def test_planted_problems_stand_out(repo: Repository, catalog: DemoCatalog, kind: str) -> None:
    problem = catalog.problem(kind)
    table = repo.aggregate(problem.metric, list(problem.by))
    worst = table.loc[table["value"].idxmax()]
    assert {k: int(worst[k]) for k in problem.by} == problem.data_id
    assert worst["value"] == pytest.approx(problem.shift, rel=0.35)
    assert not worst["acceptable"]
    others = table.drop(index=worst.name)
    assert others["value"].abs().max() < problem.shift / 3
    assert others["acceptable"].all()


def test_drill_down_from_tract_to_sources(repo: Repository, catalog: DemoCatalog) -> None:
    bad = catalog.problem("bad_patch")
    tracts = repo.aggregate("psf_size_residual_i", ["tract"])
    assert list(tracts["tract"]) == catalog.tracts
    patches = repo.aggregate(
        "psf_size_residual_i", ["tract", "patch"], {"tract": bad.data_id["tract"]}
    )
    assert set(patches["tract"]) == {bad.data_id["tract"]} and len(patches) == 81
    rows = repo.values("psf_size_residual_i", bad.data_id, columns=["i_extendedness", "i_psfFlux"])
    assert len(rows) == int(patches.set_index("patch").loc[bad.data_id["patch"], "count"])
    assert set(rows["patch"]) == {bad.data_id["patch"]}
    assert (rows["i_extendedness"] < 0.5).all()
    assert {"coord_ra", "coord_dec", "mag", "value", "objectId"} <= set(rows.columns)
    assert rows["value"].median() == pytest.approx(
        patches.set_index("patch").loc[bad.data_id["patch"], "value"]
    )
    assert not rows.attrs["truncated"]


def test_visit_mode_and_coadd_to_visit_jump(repo: Repository, catalog: DemoCatalog) -> None:
    visits = repo.visits(tract=9814)
    assert list(visits["visit"]) == [v for v, (_, t) in catalog.visits.items() if t == 9814]
    assert (visits["detectors"] == 104).all()
    assert list(repo.visits(band="i")["band"]) == ["i", "i"]
    bad = catalog.problem("bad_ccd")
    ccds = repo.aggregate(bad.metric, ["visit", "detector"], {"visit": bad.data_id["visit"]})
    assert set(ccds["visit"]) == {bad.data_id["visit"]}
    assert ccds["detector"].between(0, 103).all()


def test_filters(repo: Repository) -> None:
    bright = repo.values("psf_snr_i", {"tract": 9813, "mag": Range(18, 20)}, limit=None)
    assert bright["mag"].between(18, 20).all() and len(bright) > 100
    box = repo.values("psf_snr_i", {"coord_ra": Range(150.0, 150.2), "coord_dec": Range(None, 2.0)})
    assert box["coord_ra"].between(150.0, 150.2).all() and (box["coord_dec"] <= 2.0).all()
    both = repo.aggregate("psf_snr_i", ["tract"], {"tract": [9813, 9814, 1]})
    assert list(both["tract"]) == [9813, 9814]
    with pytest.raises(ComputeError, match="cannot filter on 'i_psfFlux'"):
        repo.aggregate("psf_snr_i", ["tract"], {"i_psfFlux": 3})


def test_limit_and_sample(repo: Repository) -> None:
    limited = repo.values("psf_snr_i", limit=10)
    assert len(limited) == 10 and limited.attrs["truncated"]
    sky = repo.values("psf_snr_i", {"tract": 9813}, fields=["coord_ra", "coord_dec", "value"])
    assert list(sky.columns) == ["coord_ra", "coord_dec", "value"] and len(sky) > 1000
    with pytest.raises(ComputeError, match="cannot return field"):
        repo.values("psf_snr_i", fields=["i_psfFlux"])
    first = repo.values("psf_snr_i", sample=50, seed=3)
    again = repo.values("psf_snr_i", sample=50, seed=3)
    assert len(first) == 50
    pd.testing.assert_frame_equal(first, again)


def test_statistics_and_templates(repo: Repository) -> None:
    sigma = repo.aggregate("psf_cmodel_mag_diff_i", ["tract"], stat="sigma_mad")
    values = repo.values("psf_cmodel_mag_diff_i", {"tract": 9813}, limit=None)["value"]
    expected = 1.482602218505602 * np.median(np.abs(values - np.median(values)))
    assert sigma["value"].iloc[0] == pytest.approx(expected)
    p90 = repo.aggregate("psf_cmodel_mag_diff_i", [], stat="p90")
    assert p90["count"].iloc[0] == repo.metric("psf_cmodel_mag_diff_i").rows
    per_band = repo.aggregate("psf_size_residual_{band}", ["band"])
    assert list(per_band["band"]) == ["g", "r", "i"]
    stars = repo.aggregate("star_count_i", ["tract"])
    assert stars["value"].tolist() == stars["count"].astype(float).tolist()


def test_granularity_is_enforced(repo: Repository) -> None:
    per_patch = repo.aggregate("stellar_locus_width", ["tract", "patch"])
    assert len(per_patch) == 162
    per_tract = repo.aggregate("stellar_locus_width", ["tract"])  # recomputed from objects
    assert per_tract["count"].sum() == per_patch["count"].sum()
    assert per_tract["value"].notna().all()
    with pytest.raises(GranularityError, match="objects table"):
        repo.aggregate("stellar_locus_width", ["visit"])
    with pytest.raises(GranularityError, match="sources table"):
        repo.aggregate("visit_psf_size_residual_i", ["tract", "patch", "visit", "objectId"])
    with pytest.raises(GranularityError, match="no per-source values"):
        repo.values("stellar_locus_width")


def test_stored_and_on_demand_agree(repo: Repository, bare: Path) -> None:
    on_demand = Repository(bare)
    assert on_demand.inferred
    assert not on_demand.metric("psf_size_residual_i").stored
    for name, by in [
        ("psf_size_residual_i", ["tract", "patch"]),
        ("visit_psf_cmodel_mag_diff_i", ["visit", "detector"]),
        ("stellar_locus_width", ["tract", "patch"]),
        ("psf_snr_g", []),
    ]:
        pd.testing.assert_frame_equal(repo.aggregate(name, by), on_demand.aggregate(name, by))
    stored = repo.values("psf_snr_r", {"tract": 9814}, limit=None).sort_values("objectId")
    computed = on_demand.values("psf_snr_r", {"tract": 9814}, limit=None).sort_values("objectId")
    np.testing.assert_allclose(stored["value"], computed["value"])


def test_compare_marks_missing_metrics_and_groups(
    repo: Repository, bare: Path, tmp_path: Path
) -> None:
    same = repo.compare(bare, "psf_size_residual_i", ["tract"])
    assert (same["delta"].abs() < 1e-12).all() and same["missing"].isna().all()
    other = tmp_path / "one-tract"
    shutil.copytree(bare / "objects", other / "objects")
    (other / "objects" / "tract=9814.parquet").unlink()
    fewer = repo.compare(other, "psf_size_residual_i", ["tract"])
    row = fewer.set_index("tract").loc[9814]
    assert np.isnan(row["value_other"]) and row["missing"] == "other"
    lacking = repo.compare(other, "visit_psf_size_residual_i", ["visit"])
    assert lacking["value_other"].isna().all() and (lacking["missing"] == "other").all()


def test_corrupt_files_are_named_and_left_out(catalog: DemoCatalog, tmp_path: Path) -> None:
    root = tmp_path / "corrupt"
    shutil.copytree(catalog.root, root)
    (root / "objects" / "tract=9999.parquet").write_bytes(b"garbage")
    (root / "metrics" / "psf_snr_i" / "tract=9999.parquet").write_bytes(b"PAR1garbagePAR1")
    broken = Repository(root)
    assert [p.path for p in broken.summary().problems] == [root / "objects" / "tract=9999.parquet"]
    assert list(broken.aggregate("psf_snr_i", ["tract"])["tract"]) == [9813, 9814]
    assert {p.path.parent.name for p in broken.problems} == {"objects", "psf_snr_i"}
    assert all("not a readable Parquet file" in p.message for p in broken.problems)


def _truncated(good: bytes) -> bytes:
    return good[: len(good) // 2]


def _bad_footer_length(good: bytes) -> bytes:
    # A Parquet file ends with a 4-byte footer length and the magic "PAR1".
    return good[:-8] + (2**31 - 1).to_bytes(4, "little") + b"PAR1"


def _not_parquet(good: bytes) -> bytes:
    return b"tract,patch,value\n9999,1,2.5\n"


@pytest.mark.parametrize("breaking", [_truncated, _bad_footer_length, _not_parquet])
def test_each_kind_of_broken_file_is_named_and_left_out(
    catalog: DemoCatalog, tmp_path: Path, breaking: Callable[[bytes], bytes]
) -> None:
    """Whatever class the installed DuckDB raises for it, an unreadable file is a
    problem named by its path, and every answer is computed without it."""
    root = tmp_path / "broken"
    shutil.copytree(catalog.root, root)
    metric = root / "metrics" / "psf_snr_i"
    good = (metric / "tract=9813.parquet").read_bytes()
    (metric / "tract=9999.parquet").write_bytes(breaking(good))
    objects = root / "objects"
    (objects / "tract=9999.parquet").write_bytes(
        breaking((objects / "tract=9813.parquet").read_bytes())
    )
    with Repository(root) as broken:
        assert [p.path for p in broken.summary().problems] == [objects / "tract=9999.parquet"]
        assert list(broken.aggregate("psf_snr_i", ["tract"])["tract"]) == [9813, 9814]
        named = {p.path for p in broken.problems}
        assert named == {objects / "tract=9999.parquet", metric / "tract=9999.parquet"}
        assert all("not a readable Parquet file" in p.message for p in broken.problems)


def test_bad_repositories(tmp_path: Path) -> None:
    with pytest.raises(RepositoryError, match="not a folder"):
        Repository(tmp_path / "absent")
    with pytest.raises(RepositoryError, match="not a Vigil data repository"):
        Repository(tmp_path)
    (tmp_path / "objects").mkdir()
    (tmp_path / "vigil-repo.yaml").write_text("format: 1\nbands: g\n")
    with pytest.raises(RepositoryConfigError, match="bands: expected a list"):
        Repository(tmp_path)


def test_threads_share_a_repository(repo: Repository) -> None:
    repo.refresh()
    calls = [("psf_snr_i", ("tract", "patch")), ("psf_snr_g", ("tract",))] * 4
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda c: repo.aggregate(c[0], list(c[1])), calls))
    for (name, by), result in zip(calls, results, strict=True):
        pd.testing.assert_frame_equal(result, repo.aggregate(name, list(by)))


CASES = [
    ("psf_size_residual_i", ["tract", "patch"], None, None),
    ("psf_cmodel_mag_diff_r", ["tract"], {"mag": Range(18, 22)}, "sigma_mad"),
    ("visit_psf_cmodel_mag_diff_i", ["visit", "detector"], None, None),
    ("visit_psf_size_residual_i", ["tract"], None, "p90"),
    ("stellar_locus_width", ["tract"], None, None),
    ("stellar_locus_width", ["tract", "patch"], None, None),
    ("star_count_g", [], {"tract": 9814}, None),
    ("psf_cmodel_mag_diff_i", ["band"], None, "outlier_fraction"),
]


@pytest.mark.parametrize(("name", "by", "where", "stat"), CASES)
def test_dask_engine_equals_duckdb(
    repo: Repository,
    bare: Path,
    name: str,
    by: list[str],
    where: dict[str, Any] | None,
    stat: str | None,
) -> None:
    expected = repo.aggregate(name, by, where, stat=stat)
    for root in (repo.path, bare):  # stored values, and computed from the catalogue
        dask = Repository(root, engine="dask").aggregate(name, by, where, stat=stat)
        pd.testing.assert_frame_equal(dask, expected, check_exact=False, rtol=1e-9)


def test_dask_on_a_distributed_cluster(repo: Repository) -> None:
    distributed = pytest.importorskip("distributed")
    with (
        distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False) as cluster,
        distributed.Client(cluster) as client,
    ):
        dask = Repository(repo.path, engine="dask", dask_client=client)
        result = dask.aggregate("psf_size_residual_i", ["tract", "patch"])
    pd.testing.assert_frame_equal(result, repo.aggregate("psf_size_residual_i", ["tract", "patch"]))
