"""vigil demo catalog: an HSC-like repository with realistic columns and planted problems."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from vigil.cli import app
from vigil.compute import RepoConfig, compute_repository
from vigil.compute.quantities import flux_to_mag
from vigil.compute.repository import RepoLayout
from vigil.demo.catalog import DETECTORS, DemoCatalog, generate_catalog
from vigil.explorer import Repository

runner = CliRunner()


@pytest.fixture(scope="module")
def catalog(tmp_path_factory: pytest.TempPathFactory) -> DemoCatalog:
    root = tmp_path_factory.mktemp("catalog") / "demo"
    return generate_catalog(root, tracts=3, objects_per_tract=15000, visits=9, seed=5)


def test_layout_and_counts(catalog: DemoCatalog) -> None:
    layout = RepoLayout(catalog.root)
    assert list(layout.table_files("objects")) == [9813, 9814, 9815]
    assert list(layout.table_files("sources")) == list(catalog.visits) == list(range(1228, 1246, 2))
    assert catalog.objects == 3 * 15000
    assert [band for band, _ in catalog.visits.values()] == ["g"] * 3 + ["r"] * 3 + ["i"] * 3


def test_object_columns_are_realistic(catalog: DemoCatalog) -> None:
    table = pq.read_table(RepoLayout(catalog.root).table_file("objects", 9813)).to_pandas()
    for band in catalog.bands:
        for suffix in (
            "psfFlux",
            "psfFluxErr",
            "cModelFlux",
            "cModelFluxErr",
            "extendedness",
            "ixx",
            "iyy",
            "ixy",
            "ixxPSF",
            "iyyPSF",
            "ixyPSF",
            "psfFlux_flag",
            "cModel_flag",
            "pixelFlags_saturated",
            "pixelFlags_edge",
        ):
            assert f"{band}_{suffix}" in table
    assert table["tract"].eq(9813).all()
    assert table["patch"].between(0, 80).all() and table["patch"].nunique() == 81
    assert table["coord_ra"].between(149, 151).all() and table["coord_dec"].between(1, 3).all()
    assert ((table["objectId"].to_numpy() >> 42) == 9813).all()
    mag = flux_to_mag(table["i_psfFlux"].to_numpy(dtype=float))
    assert 16 < np.nanpercentile(mag, 1) < 19 and 22 < np.nanmedian(mag) < 26
    snr = table["i_psfFlux"] / table["i_psfFluxErr"]
    assert (snr > 5).mean() > 0.5
    assert set(np.unique(table["i_extendedness"].dropna())) == {0.0, 1.0}
    bright = mag < 23
    assert 0.2 < table["i_extendedness"][bright].eq(0).mean() < 0.8
    assert table["i_ixxPSF"].between(1.5, 4.0).all()
    assert 0 < table["i_pixelFlags_saturated"].mean() < 0.1


def test_source_columns(catalog: DemoCatalog) -> None:
    visit = next(iter(catalog.visits))
    table = pq.read_table(RepoLayout(catalog.root).table_file("sources", visit)).to_pandas()
    assert table["visit"].eq(visit).all() and table["band"].eq(catalog.visits[visit][0]).all()
    assert table["detector"].between(0, DETECTORS - 1).all() and table["detector"].nunique() > 95
    assert table["tract"].eq(catalog.visits[visit][1]).all()
    assert {"psfFlux", "ixxPSF", "extendedness", "sourceId", "objectId"} <= set(table.columns)
    assert table["sourceId"].is_unique
    assert (table["psfFlux"] / table["psfFluxErr"] > 5).all()


def test_ground_truth_is_in_the_yaml(catalog: DemoCatalog) -> None:
    config = RepoConfig.load(RepoLayout(catalog.root).config_path)
    assert config.truth == [p.to_dict() for p in catalog.problems]
    kinds = {p.kind: p for p in catalog.problems}
    assert set(kinds) == {"bad_patch", "bad_visit", "bad_ccd"}
    assert kinds["bad_visit"].data_id["visit"] != kinds["bad_ccd"].data_id["visit"]
    assert config.provenance.configuration["seed"] == 5


def test_aggregates_find_every_planted_problem(catalog: DemoCatalog) -> None:
    compute_repository(catalog.root)
    repo = Repository(catalog.root)
    for problem in catalog.problems:
        table = repo.aggregate(problem.metric, list(problem.by))
        measured = table[table["count"] >= 5]  # a median of fewer stars is noise
        flagged = measured[measured["acceptable"] == False]  # noqa: E712
        assert len(flagged) == 1, problem.kind
        assert {k: int(flagged.iloc[0][k]) for k in problem.by} == problem.data_id


def test_same_seed_same_files(tmp_path: Path) -> None:
    a = generate_catalog(tmp_path / "a", tracts=1, objects_per_tract=500, visits=2, seed=1)
    b = generate_catalog(tmp_path / "b", tracts=1, objects_per_tract=500, visits=2, seed=1)
    for table, key in (("objects", 9813), ("sources", 1228)):
        left = pq.read_table(RepoLayout(a.root).table_file(table, key))  # type: ignore[arg-type]
        right = pq.read_table(RepoLayout(b.root).table_file(table, key))  # type: ignore[arg-type]
        assert left.to_pandas().equals(right.to_pandas())  # NaN in the same places


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (dict(visits=1), "--visits is at least 2"),
        (dict(bands=("g", "q")), "bands are among"),
        (dict(tracts=0), "--tracts is between 1 and 1000"),
        (dict(objects_per_tract=10), "at least 100"),
    ],
)
def test_bad_arguments(tmp_path: Path, arguments: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        generate_catalog(tmp_path / "x", **arguments)
    assert not (tmp_path / "x").exists()


def test_cli_writes_and_computes(tmp_path: Path) -> None:
    out = tmp_path / "cli"
    result = runner.invoke(
        app,
        [
            "demo",
            "catalog",
            "--out",
            str(out),
            "--tracts",
            "1",
            "--objects-per-tract",
            "2000",
            "--visits",
            "2",
            "--bands",
            "r,i",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "planted bad_ccd" in result.output
    assert (out / "metrics" / "psf_size_residual_i" / "tract=9813.parquet").exists()
    again = runner.invoke(app, ["compute", str(out), "--metric", "psf_snr_{band}"])
    assert again.exit_code == 0, again.output
    assert "2 metrics" in again.output
    bad = runner.invoke(app, ["compute", str(out), "--metric", "no_such_metric"])
    assert bad.exit_code == 1 and "unknown metric 'no_such_metric'" in bad.output
    wrong = runner.invoke(app, ["demo", "catalog", "--out", str(tmp_path / "y"), "--bands", "q"])
    assert wrong.exit_code == 1 and "bands are among" in wrong.output


def test_cli_loads_a_real_catalogue(conformance: Path, tmp_path: Path) -> None:
    out = tmp_path / "real"
    source = conformance / "catalogs" / "hsc_tract9813_patches55to72_gri.fits.gz"
    result = runner.invoke(app, ["compute", str(out), "--input", str(source)])
    assert result.exit_code == 0, result.output
    assert "hsc-faro" in result.output
    assert (out / "metrics" / "stellar_locus_width" / "tract=9813.parquet").exists()
