"""Real catalogues from ../shared/conformance load through column mappings and compute."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from astropy.table import Table

from vigil.compute import (
    MagDiff,
    MappingError,
    MetricDefinition,
    MetricRegistry,
    compute_repository,
    default_registry,
)
from vigil.compute.mapping import detect_mapping, hsc_tract_patch, import_catalog, read_catalog
from vigil.compute.repository import RepoConfig, RepoLayout
from vigil.explorer import Repository
from vigil.explorer._rollup import rollup

LEGACY = "catalogs/hsc_coadd_tract9615_sample.parq"
FARO = "catalogs/hsc_tract9813_patches55to72_gri.fits.gz"


def test_mappings_are_detected_from_columns(conformance: Path) -> None:
    assert detect_mapping(read_catalog(conformance / LEGACY).columns).name == "hsc-legacy"
    assert detect_mapping(read_catalog(conformance / FARO).columns).name == "hsc-faro"
    with pytest.raises(MappingError, match="no column mapping recognises"):
        detect_mapping(["a", "b"])


def test_hsc_ids_hold_tract_and_patch(conformance: Path) -> None:
    ids = np.asarray(Table.read(conformance / FARO)["id"], dtype=np.int64)
    tracts, patches = hsc_tract_patch(ids)
    assert set(tracts) == {9813}
    assert set(patches) <= set(range(55, 73))  # the file's name: patches 55 to 72


def test_legacy_parquet_loads_and_computes(conformance: Path, tmp_path: Path) -> None:
    root = tmp_path / "legacy"
    with pytest.raises(MappingError, match="give it with --band"):
        import_catalog(conformance / LEGACY, root)
    report = import_catalog(conformance / LEGACY, root, band="i")
    assert (report.mapping, report.rows, report.tracts) == ("hsc-legacy", 100, [9615])
    objects = pq.read_table(RepoLayout(root).table_file("objects", 9615)).to_pandas()
    raw = pq.read_table(conformance / LEGACY).to_pandas()
    assert list(objects["objectId"]) == list(raw.index)
    assert set(objects["patch"]) == {40}
    np.testing.assert_allclose(objects["coord_ra"], np.degrees(raw["coord_ra"]))
    np.testing.assert_allclose(  # counts at zero point 27 into nJy
        objects["i_psfFlux"], raw["base_PsfFlux_flux"] * 10 ** ((31.4 - 27.0) / 2.5)
    )
    # Every row of the sample is a non-primary detection: coadd metrics count none.
    assert not raw["detect_isPrimary"].any()
    primary = compute_repository(root)
    assert {m.name: m.rows for m in primary.computed}["psf_snr_i"] == 0
    assert "stellar_locus_width" in primary.skipped  # one band only
    with Repository(root) as only_primary:
        assert only_primary.aggregate("psf_snr_i")["count"].iloc[0] == 0
        status = rollup(only_primary).set_index("metric")["status"]
        assert status["psf_snr_i"] == "no data"
    # Told to count every row, they count the sample's clean rows.
    computed = compute_repository(root, registry=default_registry(primary_only=False))
    rows = {m.name: m.rows for m in computed.computed}
    clean = raw[(raw["base_PsfFlux_flag"] == False) & (raw["base_PsfFlux_fluxSigma"] > 0)]  # noqa: E712
    assert rows["psf_snr_i"] == len(clean) > 0
    repo = Repository(root)
    median = repo.aggregate("psf_snr_i")["value"].iloc[0]
    expected = np.median(clean["base_PsfFlux_flux"] / clean["base_PsfFlux_fluxSigma"])
    assert median == pytest.approx(expected)
    assert RepoConfig.load(root / "vigil-repo.yaml").provenance.mapping == "hsc-legacy"


def test_legacy_magnitude_difference_on_real_values(conformance: Path, tmp_path: Path) -> None:
    root = tmp_path / "legacy"
    import_catalog(conformance / LEGACY, root, band="i")
    everything = MetricDefinition(
        name="psf_cmodel_all_{band}", description="no selection", quantity=MagDiff()
    )
    repo = Repository(root, registry=MetricRegistry([everything]))
    values = repo.values("psf_cmodel_all_i")
    raw = pq.read_table(conformance / LEGACY).to_pandas()
    ok = raw[(raw["base_PsfFlux_flux"] > 0) & (raw["modelfit_CModel_flux"] > 0)]
    assert len(values) == len(ok) > 30
    expected = -2.5 * np.log10(ok["base_PsfFlux_flux"] / ok["modelfit_CModel_flux"]) * 1000
    np.testing.assert_allclose(
        values.set_index("objectId").loc[ok.index, "value"], expected, rtol=1e-9
    )


def test_faro_fits_loads_and_fits_the_stellar_locus(conformance: Path, tmp_path: Path) -> None:
    root = tmp_path / "faro"
    report = import_catalog(conformance / FARO, root, mapping="auto")
    assert (report.mapping, report.bands, report.rows) == ("hsc-faro", ["g", "r", "i"], 209)
    objects = pq.read_table(RepoLayout(root).table_file("objects", 9813)).to_pandas()
    raw = Table.read(conformance / FARO)
    mag = 31.4 - 2.5 * np.log10(objects["r_psfFlux"].astype(float))
    np.testing.assert_allclose(mag, np.asarray(raw["base_PsfFlux_mag_r"]), atol=1e-5)
    assert objects["coord_dec"].between(2.5, 2.9).all()  # radians became degrees
    computed = compute_repository(root)
    assert [m.name for m in computed.computed] == ["stellar_locus_width"]
    repo = Repository(root)
    per_patch = repo.aggregate("stellar_locus_width", ["tract", "patch"])
    assert sorted(per_patch["patch"]) == sorted(set(objects["patch"]))
    assert per_patch["value"].notna().sum() >= 1  # patches with few stars are NaN
    tract = repo.aggregate("stellar_locus_width", ["tract"])
    assert tract["count"].iloc[0] == 209
    assert 5 < tract["value"].iloc[0] < 60  # mmag: a real locus is a few hundredths wide


def test_two_catalogues_of_different_columns_in_one_repository(
    conformance: Path, tmp_path: Path
) -> None:
    """The legacy i-band tract beside faro's g, r, i tract: only what both have counts."""
    root = tmp_path / "both"
    import_catalog(conformance / LEGACY, root, band="i")
    compute_repository(root)
    import_catalog(conformance / FARO, root, mapping="auto")
    report = compute_repository(root)  # once a BinderException on the faro file
    assert report.skipped["psf_snr_i"] == "missing detect_isPrimary, i_psfFluxErr, i_psfFlux_flag"
    assert not report.computed  # neither tract has a column every tract's file has
    repo = Repository(root)
    assert repo.summary().tracts == [9615, 9813]
    assert "i_psfFluxErr" not in repo.tables()["objects"].columns


def test_bad_inputs_are_refused(tmp_path: Path) -> None:
    with pytest.raises(MappingError, match="no such file"):
        import_catalog(tmp_path / "absent.parq", tmp_path / "r")
    text = tmp_path / "notes.txt"
    text.write_text("x")
    with pytest.raises(MappingError, match="unknown catalogue format"):
        import_catalog(text, tmp_path / "r")
    broken = tmp_path / "broken.parq"
    broken.write_bytes(b"PAR1 nonsense")
    with pytest.raises(MappingError, match="cannot be read"):
        import_catalog(broken, tmp_path / "r")
    assert not (tmp_path / "r").exists()


def test_coadd_metrics_leave_out_non_primary_rows_of_a_real_catalogue(
    conformance: Path, tmp_path: Path
) -> None:
    """The real legacy table with its ``detect_isPrimary`` set on half of its rows, as a
    coadd with patch overlaps has it: only those rows count, on demand and stored."""
    raw = pq.read_table(conformance / LEGACY).to_pandas()
    source = tmp_path / "half-primary.parq"
    raw.assign(detect_isPrimary=np.arange(len(raw)) % 2 == 0).to_parquet(source)
    root = tmp_path / "repo"
    import_catalog(source, root, band="i")
    clean = (raw["base_PsfFlux_flag"] == False) & (raw["base_PsfFlux_fluxSigma"] > 0)  # noqa: E712
    primary = clean & (np.arange(len(raw)) % 2 == 0)
    snr = raw["base_PsfFlux_flux"] / raw["base_PsfFlux_fluxSigma"]
    with Repository(root) as on_demand:
        values = on_demand.values("psf_snr_i", limit=None)
        assert sorted(values["objectId"]) == sorted(raw.index[primary])
        median = on_demand.aggregate("psf_snr_i")["value"].iloc[0]
        assert median == pytest.approx(np.median(snr[primary]))
    with Repository(root, registry=default_registry(primary_only=False)) as every_row:
        assert len(every_row.values("psf_snr_i", limit=None)) == clean.sum() > primary.sum()
    report = compute_repository(root)
    assert {m.name: m.rows for m in report.computed}["psf_snr_i"] == primary.sum() > 0
