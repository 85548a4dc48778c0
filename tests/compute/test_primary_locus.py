"""The primary cut where the column exists: the stellar-locus fit keeps primary rows of a
table that says which rows are primary, every row of one that does not (and says so),
and the quick look says why a coadd metric of a table without primary rows is empty."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from vigil.compute import compute_repository
from vigil.compute.errors import MissingColumnsError
from vigil.compute.fits import StellarLocusWidth
from vigil.compute.mapping import import_catalog
from vigil.compute.quantities import flux_to_mag
from vigil.compute.registry import default_registry
from vigil.compute.repository import RepoConfig, RepoLayout
from vigil.compute.selectors import PrimarySelector
from vigil.demo.catalog import generate_catalog
from vigil.explorer import Repository
from vigil.explorer._rollup import rollup

LEGACY = "catalogs/hsc_coadd_tract9615_sample.parq"
FARO = "catalogs/hsc_tract9813_patches55to72_gri.fits.gz"
ABSENT = "detect_isPrimary not in the objects table: every row kept"


def _locus(frame: pd.DataFrame) -> float:
    """The stellar-locus width of *frame*'s stars with 17 <= r <= 23, selected here."""
    r = flux_to_mag(frame["r_psfFlux"].to_numpy(dtype="float64"))
    stars = frame[(frame["i_extendedness"] < 0.5) & (r >= 17.0) & (r <= 23.0)]
    return StellarLocusWidth().reduce(lambda name: stars[name].to_numpy(), None)


# -- the selector ---------------------------------------------------------------------------


def _resolver(names: set[str]) -> object:
    def col(wide: str) -> str:
        if wide not in names:
            raise MissingColumnsError("m", "objects", [wide])
        return f'"{wide}"'

    return col


def test_an_optional_primary_cut_keeps_every_row_without_its_column() -> None:
    optional, required = PrimarySelector(optional=True), PrimarySelector()
    with_flag, without = _resolver({"detect_isPrimary"}), _resolver(set())
    assert optional.sql(with_flag, None) == '("detect_isPrimary" = true)'  # type: ignore[arg-type]
    assert optional.sql(without, None) == "TRUE"  # type: ignore[arg-type]
    with pytest.raises(MissingColumnsError, match="detect_isPrimary"):
        required.sql(without, None)  # type: ignore[arg-type]
    flags = {"detect_isPrimary": np.array([True, False, None], dtype=object)}
    assert optional.mask(flags.__getitem__, None).tolist() == [True, False, False]
    keep = np.ones(3, dtype=bool)
    absent: dict[str, np.ndarray] = {}
    keep &= optional.mask(absent.__getitem__, None)  # absent: every row kept
    assert keep.tolist() == [True, True, True]
    with pytest.raises(KeyError):
        required.mask(absent.__getitem__, None)
    assert optional.columns(None) == frozenset()
    assert optional.optional_columns(None) == {"detect_isPrimary"}
    assert required.columns(None) == {"detect_isPrimary"}


# -- the stellar locus ----------------------------------------------------------------------


def test_the_faro_locus_keeps_every_row_and_says_why(conformance: Path, tmp_path: Path) -> None:
    root = tmp_path / "faro"
    import_catalog(conformance / FARO, root, mapping="auto")
    report = compute_repository(root)
    assert report.notes == {"stellar_locus_width": ABSENT}
    config = RepoConfig.load(root / "vigil-repo.yaml")
    assert ABSENT in config.metrics["stellar_locus_width"].selection
    objects = pq.read_table(RepoLayout(root).table_file("objects", 9813)).to_pandas()
    assert "detect_isPrimary" not in objects
    with Repository(root) as repo:
        tract = repo.aggregate("stellar_locus_width", ["tract"])
        assert repo.metric("stellar_locus_width").selection[-1] == ABSENT
    assert tract["value"].iloc[0] == pytest.approx(_locus(objects))
    # Computing again does not repeat the note.
    compute_repository(root)
    again = RepoConfig.load(root / "vigil-repo.yaml").metrics["stellar_locus_width"]
    assert again.selection.count(ABSENT) == 1


@pytest.fixture(scope="module")
def half_primary(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A demo repository whose odd rows are not primary (as patch overlaps are)."""
    root = tmp_path_factory.mktemp("half-primary") / "demo"
    generate_catalog(root, tracts=1, objects_per_tract=6000, visits=2, seed=3)
    for path in sorted((root / "objects").rglob("*.parquet")):
        table = pq.read_table(path).to_pandas()
        table["detect_isPrimary"] = np.arange(len(table)) % 2 == 0
        table.to_parquet(path, index=False)
    return root


def test_the_locus_of_a_table_with_the_flag_keeps_primary_rows(half_primary: Path) -> None:
    report = compute_repository(half_primary, names=["stellar_locus_width"])
    assert report.notes == {}
    objects = pd.concat(
        pq.read_table(path).to_pandas()
        for path in sorted((half_primary / "objects").rglob("*.parquet"))
    )
    primary = objects[objects["detect_isPrimary"]]
    with Repository(half_primary) as repo:
        whole = repo.aggregate("stellar_locus_width")["value"].iloc[0]
        stored = repo.aggregate("stellar_locus_width", ["tract", "patch"])
    assert whole == pytest.approx(_locus(primary))
    assert whole != pytest.approx(_locus(objects))  # the cut changes the fit
    patch = int(stored["patch"].iloc[0])
    expected = _locus(primary[primary["patch"] == patch])
    assert stored["value"].iloc[0] == pytest.approx(expected, nan_ok=True)
    # Told to count every row, the fit uses them all.
    with Repository(half_primary, registry=default_registry(primary_only=False)) as every:
        assert every.aggregate("stellar_locus_width")["value"].iloc[0] == pytest.approx(
            _locus(objects)
        )


# -- the quick look -------------------------------------------------------------------------


def test_the_quick_look_says_no_row_is_primary(conformance: Path, tmp_path: Path) -> None:
    root = tmp_path / "legacy"
    import_catalog(conformance / LEGACY, root, band="i")
    compute_repository(root)
    with Repository(root) as repo:
        rows = rollup(repo).set_index("metric")
    assert rows.loc["psf_snr_i", "status"] == "no data"
    assert rows.loc["psf_snr_i", "reason"] == (
        "no primary objects: 0 of 100 rows have detect_isPrimary"
    )


def test_a_metric_empty_for_another_reason_gives_no_primary_reason(tmp_path: Path) -> None:
    root = tmp_path / "demo"
    generate_catalog(root, tracts=1, objects_per_tract=2000, visits=2, seed=3)
    for path in sorted((root / "objects").rglob("*.parquet")):
        table = pq.read_table(path).to_pandas()
        table["i_psfFlux_flag"] = True  # every i-band flux flagged: no S/N value
        table.to_parquet(path, index=False)
    compute_repository(root)
    with Repository(root) as repo:
        row = rollup(repo).set_index("metric").loc["psf_snr_i"]
    assert (row["status"], row["reason"]) == ("no data", "")
