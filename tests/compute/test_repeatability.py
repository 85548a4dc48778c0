"""PA1 and AM1 from visit sources: known truth on synthetic visits, and the demo catalogue."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from scipy import stats
from typer.testing import CliRunner

from vigil.cli import app as cli_app
from vigil.compute.errors import MissingColumnsError
from vigil.compute.quantities import mag_to_flux
from vigil.compute.repeatability import RepeatabilityError, am1, pa1
from vigil.demo.catalog import DemoCatalog, generate_catalog
from vigil.explorer import Repository

ARCSEC = 1.0 / 3600.0


def write_visits(
    root: Path,
    *,
    stars: int = 2000,
    visits: int = 4,
    mag_sigma: float = 0.0,
    position_sigma: float = 0.0,
    snr: float = 200.0,
    extendedness: float = 0.0,
    band: str = "i",
    seed: int = 1,
    drop: tuple[str, ...] = (),
) -> Path:
    """Visit tables of *stars* stars on a 1-degree field, each seen in every visit with
    magnitudes scattered by *mag_sigma* (mag) and positions by *position_sigma* (degrees,
    per coordinate)."""
    rng = np.random.default_rng(seed)
    ra_scale = 1.0 / np.cos(np.radians(2.5))
    ra0 = rng.uniform(150.0, 151.0, stars)
    dec0 = rng.uniform(2.0, 3.0, stars)
    mag0 = rng.uniform(18.0, 21.0, stars)
    folder = root / "sources"
    folder.mkdir(parents=True)
    for visit in range(visits):
        mag = mag0 + rng.normal(0.0, 1.0, stars) * mag_sigma
        flux = mag_to_flux(mag)
        columns = {
            "sourceId": np.arange(stars, dtype=np.int64) + visit * stars,
            "visit": np.full(stars, 1000 + visit, dtype=np.int32),
            "detector": np.zeros(stars, dtype=np.int32),
            "band": np.full(stars, band, dtype=object),
            "objectId": np.arange(stars, dtype=np.int64) + 10**12,
            "coord_ra": ra0 + rng.normal(0.0, 1.0, stars) * position_sigma * ra_scale,
            "coord_dec": dec0 + rng.normal(0.0, 1.0, stars) * position_sigma,
            "psfFlux": flux.astype(np.float32),
            "psfFluxErr": (flux / snr).astype(np.float32),
            "psfFlux_flag": np.zeros(stars, dtype=bool),
            "extendedness": np.full(stars, extendedness, dtype=np.float32),
        }
        table = pa.table({k: v for k, v in columns.items() if k not in drop})
        pq.write_table(table, folder / f"visit={1000 + visit}.parquet")
    return root


def test_pa1_recovers_the_magnitude_scatter(tmp_path: Path) -> None:
    sigma, stars = 0.02, 2000
    root = write_visits(tmp_path, stars=stars, mag_sigma=sigma)
    result = pa1(root, "i", seed=3)
    assert result.metric == "PA1" and result.unit == "mmag" and result.band == "i"
    assert result.stars == stars and result.visits == 4
    # The RMS of n normal draws has a relative standard error near 1 / sqrt(2 n).
    tolerance = 4 / np.sqrt(2 * stars)
    assert result.value == pytest.approx(sigma * 1000, rel=tolerance)
    # Per-star sample standard deviations of 4 visits: sigma * sqrt(chi2(3) / 3), whose
    # median is below sigma.
    median = sigma * 1000 * np.sqrt(stats.chi2.median(3) / 3)
    assert result.details["median_star_rms"] == pytest.approx(median, rel=0.05)
    assert pa1(root, "i", seed=3) == result


def test_pa1_of_identical_visits_is_zero(tmp_path: Path) -> None:
    result = pa1(write_visits(tmp_path, mag_sigma=0.0), "i")
    assert result.value == pytest.approx(0.0, abs=1e-3)


def test_one_visit_is_a_clear_error(tmp_path: Path) -> None:
    root = write_visits(tmp_path, visits=1)
    with pytest.raises(RepeatabilityError, match="1 visit.*at least 2"):
        pa1(root, "i")
    with pytest.raises(RepeatabilityError, match="1 visit.*at least 2"):
        am1(root, "i")


def test_no_star_passing_the_cuts_is_a_clear_error(tmp_path: Path) -> None:
    faint = write_visits(tmp_path / "faint", snr=20.0)
    with pytest.raises(RepeatabilityError, match="no object.*S/N below 50: 2,000"):
        pa1(faint, "i")
    extended = write_visits(tmp_path / "extended", extendedness=1.0)
    with pytest.raises(RepeatabilityError, match="extendedness 1 or more: 2,000"):
        pa1(extended, "i")
    # The cuts are parameters.
    assert pa1(faint, "i", snr_min=10).stars == 2000


def test_a_band_without_sources_and_missing_columns(tmp_path: Path) -> None:
    root = write_visits(tmp_path / "a")
    with pytest.raises(RepeatabilityError, match="band 'g'.*bands: i"):
        pa1(root, "g")
    bare = write_visits(tmp_path / "b", drop=("objectId",))
    with pytest.raises(MissingColumnsError, match="objectId"):
        pa1(bare, "i")


def test_am1_recovers_the_positional_jitter(tmp_path: Path) -> None:
    jitter_mas, visits = 20.0, 20
    root = write_visits(
        tmp_path, stars=1500, visits=visits, position_sigma=jitter_mas / 1000 * ARCSEC
    )
    result = am1(root, "i", seed=5)
    assert result.metric == "AM1" and result.unit == "mas"
    assert result.pairs > 1000
    assert result.details["median_visits_per_pair"] == visits
    # Each star moves by the jitter along the pair's direction: the separation by
    # sqrt(2) times it. The population standard deviation over n visits is about
    # sqrt((n - 1) / n) of that, and the median of those a little lower still.
    expected = jitter_mas * np.sqrt(2) * np.sqrt((visits - 1) / visits)
    assert result.value == pytest.approx(expected, rel=0.05)
    assert am1(root, "i", seed=5) == result


def test_am1_of_fixed_positions_is_zero_and_work_is_bounded(tmp_path: Path) -> None:
    root = write_visits(tmp_path, stars=1500)
    assert am1(root, "i").value == pytest.approx(0.0, abs=0.01)
    bounded = am1(root, "i", max_stars=500, max_pairs=100)
    assert bounded.stars == 500 and bounded.pairs == 100
    assert bounded.cuts["stars not sampled"] == 1000 and bounded.cuts["pairs not sampled"] > 0


def test_am1_without_pairs_in_the_annulus(tmp_path: Path) -> None:
    root = write_visits(tmp_path, stars=3)
    with pytest.raises(RepeatabilityError, match="no pair of stars"):
        am1(root, "i", distance=0.01, width=0.001)


@pytest.fixture(scope="module")
def demo_visits(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One demo tract seen twice in each band (the demo's default visits)."""
    root = tmp_path_factory.mktemp("repeatability") / "demo"
    return generate_catalog(root, tracts=1, objects_per_tract=4000, seed=5).root


def test_on_the_demo_catalogue(demo_catalog: DemoCatalog, demo_visits: Path) -> None:
    # The shared demo sees each tract once per band: no object has two visits in a band.
    with pytest.raises(RepeatabilityError, match="objects in fewer than 2 visits"):
        pa1(demo_catalog.root, "i")
    with Repository(demo_visits) as repo:
        precision = pa1(repo, "i")
        astrometry = am1(repo, "i")
    assert precision.stars > 100 and precision.visits == 2
    # Bright stars of the demo (S/N >= 50) scatter by a few to some tens of mmag.
    assert 1.0 < precision.value < 50.0
    # The demo jitters every source by 50 mas per coordinate: separations by 71 mas.
    # With two visits per pair the RMS is half their difference, median near 34 mas.
    assert 20.0 < astrometry.value < 50.0
    assert "PA1 i:" in precision.describe() and "mas" in astrometry.describe()


def test_compute_command_prints_the_figures(demo_visits: Path) -> None:
    result = CliRunner().invoke(cli_app, ["compute", str(demo_visits), "--repeatability", "r"])
    assert result.exit_code == 0, result.output
    assert "PA1 r:" in result.output and "AM1 r:" in result.output
    assert not (demo_visits / "metrics").exists()
    wrong = CliRunner().invoke(cli_app, ["compute", str(demo_visits), "--repeatability", "y"])
    assert wrong.exit_code != 0
    assert "band 'y'" in wrong.output
