"""PSF residuals of a repository's visit sources: synthetic visits with known residuals,
the demo catalogue's planted visit, and ``vigil compute --psf``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from vigil.cli import app as cli_app
from vigil.compute.errors import MissingColumnsError
from vigil.compute.psf import PsfError, psf_report
from vigil.demo.catalog import DemoCatalog, generate_catalog
from vigil.explorer import Repository


def write_visits(
    root: Path,
    *,
    stars: int = 800,
    visits: int = 2,
    de1: float = 0.01,
    size_ratio: float = 1.0,
    galaxies: int = 0,
    faint: int = 0,
    flagged: int = 0,
    drop: tuple[str, ...] = (),
    band: str = "i",
) -> Path:
    """Visit tables of stars whose ellipticity is the PSF model's plus (*de1*, 0) and
    whose trace is *size_ratio* times the model's, with *galaxies*, *faint* and *flagged*
    sources beside them (none of which is a usable star)."""
    rng = np.random.default_rng(2)
    n = stars + galaxies + faint + flagged
    folder = root / "sources"
    folder.mkdir(parents=True)
    for visit in range(visits):
        e1_psf = rng.normal(0, 0.02, n)
        e2_psf = rng.normal(0, 0.02, n)
        trace_psf = rng.uniform(2.0, 3.0, n)
        trace = trace_psf * size_ratio
        flux = np.full(n, 1e5)
        error = np.full(n, 1e2)  # S/N 1000
        error[stars + galaxies : stars + galaxies + faint] = 1e4  # S/N 10
        columns = {
            "sourceId": np.arange(n, dtype=np.int64) + visit * n,
            "visit": np.full(n, 100 + visit, dtype=np.int32),
            "detector": np.zeros(n, dtype=np.int32),
            "band": np.full(n, band, dtype=object),
            "objectId": np.arange(n, dtype=np.int64),
            "coord_ra": rng.uniform(150.0, 151.0, n),
            "coord_dec": rng.uniform(2.0, 3.0, n),
            "psfFlux": flux.astype(np.float32),
            "psfFluxErr": error.astype(np.float32),
            "psfFlux_flag": np.arange(n) >= stars + galaxies + faint,
            "extendedness": np.where(
                (np.arange(n) >= stars) & (np.arange(n) < stars + galaxies), 1.0, 0.0
            ).astype(np.float32),
            "ixx": trace / 2 * (1 + e1_psf + de1),
            "iyy": trace / 2 * (1 - e1_psf - de1),
            "ixy": trace / 2 * e2_psf,
            "ixxPSF": trace_psf / 2 * (1 + e1_psf),
            "iyyPSF": trace_psf / 2 * (1 - e1_psf),
            "ixyPSF": trace_psf / 2 * e2_psf,
        }
        table = pa.table({k: v for k, v in columns.items() if k not in drop})
        pq.write_table(table, folder / f"visit={100 + visit}.parquet")
    return root


def test_a_known_residual_is_recovered(tmp_path: Path) -> None:
    root = write_visits(tmp_path, de1=0.01, size_ratio=1.05, galaxies=50, faint=30, flagged=20)
    report = psf_report(root, "i")
    assert (report.stars, report.visits, report.band) == (1600, 2, "i")
    assert report.describe() == "1,600 stars from 2 visits, band i"
    summary = report.summary
    assert summary.mean_de1 == pytest.approx(0.01, abs=1e-9)
    assert summary.rms_de1 == pytest.approx(0.01, abs=1e-9)
    assert summary.mean_de2 == pytest.approx(0.0, abs=1e-12)
    assert summary.median_dsize == pytest.approx(0.05, rel=1e-9)
    # A constant residual: rho1 = 0.01^2 at every separation, pairs within each visit.
    assert report.rho.groups == 2
    np.testing.assert_allclose(report.rho.rho["rho1"], 1e-4, rtol=1e-6)
    assert report.cuts == {
        "sources flagged or without positive flux": 40,
        "sources not stars (extendedness not 0)": 100,
        "stars with S/N below 50": 60,
        "stars without usable moments or position": 0,
    }
    assert len(report.map.ra) > 0 and np.allclose(report.map.de1, 0.01)


def test_the_cuts_are_parameters(tmp_path: Path) -> None:
    root = write_visits(tmp_path, faint=30)
    assert psf_report(root, "i", snr_min=5).stars == 2 * 830
    bounded = psf_report(root, "i", max_stars=300, seed=2)
    assert bounded.rho.stars == 300 and bounded.rho.available == 1600
    assert bounded.summary.stars == 1600  # the summary uses every star


def test_clear_errors(tmp_path: Path) -> None:
    root = write_visits(tmp_path / "a")
    with pytest.raises(PsfError, match="band 'g'.*bands: i"):
        psf_report(root, "g")
    bare = write_visits(tmp_path / "b", drop=("ixxPSF", "ixy"))
    with pytest.raises(MissingColumnsError, match="ixxPSF") as caught:
        psf_report(bare, "i")
    assert caught.value.missing == ["ixxPSF", "ixy"]
    printed = CliRunner().invoke(cli_app, ["compute", str(bare), "--psf", "i"])
    assert printed.exit_code == 1 and "Traceback" not in printed.output
    assert "needs column(s) ixxPSF, ixy, absent from sources" in printed.output
    galaxies = write_visits(tmp_path / "c", stars=0, galaxies=40)
    with pytest.raises(
        PsfError, match=r"no star of band 'i'.*not stars \(extendedness not 0\): 80"
    ):
        psf_report(galaxies, "i")


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> DemoCatalog:
    """One demo tract seen twice per band, with its planted bad visit."""
    root = tmp_path_factory.mktemp("psf") / "demo"
    return generate_catalog(root, tracts=1, objects_per_tract=6000, seed=5)


def test_the_planted_visit_shows_in_its_band(demo: DemoCatalog) -> None:
    bad = demo.problem("bad_visit").data_id["visit"]
    bad_band = demo.visits[bad][0]
    with Repository(demo.root) as repo:
        reports = {band: psf_report(repo, band) for band in demo.bands}
    for band, report in reports.items():
        assert report.visits == 2 and report.stars > 100, band
        # The demo's PSF model has the stars' ellipticity: residuals are noise.
        assert abs(report.summary.mean_de1) < 0.003 and abs(report.summary.mean_de2) < 0.003
        if band == bad_band:
            # One of the two visits has a model 12% too small: T/T_psf - 1 = 0.136 there.
            assert 0.03 < report.summary.mean_dsize < 0.136
        else:
            assert abs(report.summary.mean_dsize) < 0.01


def test_compute_command_prints_the_tables(demo: DemoCatalog) -> None:
    runner = CliRunner()
    wide = {"COLUMNS": "200"}  # a table's headers unbroken
    result = runner.invoke(cli_app, ["compute", str(demo.root), "--psf", "r"], env=wide)
    assert result.exit_code == 0, result.output
    assert "PSF residuals:" in result.output and "stars from 2 visits, band r" in result.output
    for text in ("e1 residual", "size residual dT/T", "rho1", "rho5", "theta (arcmin)"):
        assert text in result.output
    assert not (demo.root / "metrics").exists()
    wrong = runner.invoke(cli_app, ["compute", str(demo.root), "--psf", "y"])
    assert wrong.exit_code == 1
    assert "band 'y'" in wrong.output and "Traceback" not in wrong.output
