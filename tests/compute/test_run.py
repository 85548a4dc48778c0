"""vigil compute: values at full granularity, read through the declared columns only."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow.parquet as pq
import pytest

from vigil.compute import (
    MissingColumnsError,
    RepoConfig,
    RepositoryError,
    compute_repository,
    default_registry,
)
from vigil.compute.engine import connect
from vigil.compute.plan import AggregatePlan, ValuesPlan, physical_columns
from vigil.compute.repository import RepoLayout
from vigil.compute.run import RepositoryTables
from vigil.demo.catalog import DemoCatalog


def _scanned_columns(query: str, params: list[object]) -> set[str]:
    """The columns DuckDB's Parquet scans read for *query* (from its JSON plan).

    Filter pushdown is turned off so that filtered columns appear among the projections
    instead of inside the scan's filter expressions.
    """
    con = duckdb.connect()
    con.execute("SET disabled_optimizers = 'filter_pushdown'")
    (row,) = con.execute(f"EXPLAIN (FORMAT json) {query}", params).fetchall()
    found: set[str] = set()

    def walk(node: dict[str, Any]) -> None:
        if "READ_PARQUET" in str(node.get("name", "")) or "PARQUET" in str(
            node.get("extra_info", {}).get("Function", "")
        ):
            projections = node["extra_info"].get("Projections", [])
            found.update([projections] if isinstance(projections, str) else projections)
        for child in node.get("children", []):
            walk(child)

    for node in json.loads(row[1]):
        walk(node)
    return found


@pytest.mark.parametrize(
    "name",
    ["psf_cmodel_mag_diff_i", "psf_size_residual_g", "visit_psf_size_residual_i", "star_count_r"],
)
def test_compute_reads_only_declared_columns(demo_catalog: DemoCatalog, name: str) -> None:
    metric = default_registry().resolve(name)
    tables = RepositoryTables.scan(RepoLayout(demo_catalog.root))
    index = tables.tables[metric.table]
    files = tuple(info.path for info in index.files.values())
    plan = ValuesPlan(metric, "catalogue", files, index.columns)
    read = _scanned_columns(*plan.sql())
    declared = physical_columns(metric.table, metric.band, metric.columns())
    ids = {"objectId"} if metric.table == "objects" else {"sourceId", "visit", "detector", "band"}
    assert read == declared | ids | {"tract", "patch", "coord_ra", "coord_dec"}
    assert set(index.columns) - read  # the tables have other columns, left unread


def test_aggregating_stored_values_reads_key_and_value(demo_catalog: DemoCatalog) -> None:
    metric = default_registry().resolve("psf_size_residual_i")
    layout = RepoLayout(demo_catalog.root)
    files = tuple(layout.metric_files(metric.name, "objects").values())
    columns = tuple(pq.read_schema(files[0]).names)
    plan = AggregatePlan(metric, "stored", files, columns, ("tract",))
    assert _scanned_columns(*plan.sql()) == {"tract", "value"}
    assert plan.read_columns() == sorted(
        {"tract", "patch", "band", "objectId", "coord_ra", "coord_dec", "mag", "value"}
    )


def test_values_match_an_independent_numpy_computation(demo_catalog: DemoCatalog) -> None:
    layout = RepoLayout(demo_catalog.root)
    objects = pq.read_table(layout.table_file("objects", 9813)).to_pandas()
    stored = pq.read_table(layout.metric_file("psf_cmodel_mag_diff_r", "objects", 9813)).to_pandas()
    keep = (
        objects["detect_isPrimary"]
        & (objects["r_extendedness"] < 0.5)
        & (objects["r_psfFlux"] / objects["r_psfFluxErr"] >= 50)
        & ~objects["r_psfFlux_flag"]
        & ~objects["r_cModel_flag"]
        & ~objects["r_pixelFlags_saturated"]
        & ~objects["r_pixelFlags_edge"]
    )
    chosen = objects[keep]
    expected = -2.5 * np.log10(chosen["r_psfFlux"].astype(float) / chosen["r_cModelFlux"]) * 1000
    assert sorted(stored["objectId"]) == sorted(chosen["objectId"])
    merged = stored.set_index("objectId").loc[chosen["objectId"]]
    np.testing.assert_allclose(merged["value"], expected.to_numpy(), rtol=1e-9)
    assert (stored["band"] == "r").all()
    assert set(stored.columns) == {
        "tract",
        "patch",
        "band",
        "objectId",
        "coord_ra",
        "coord_dec",
        "mag",
        "value",
    }


def test_yaml_records_what_was_computed(demo_catalog: DemoCatalog) -> None:
    config = RepoConfig.load(RepoLayout(demo_catalog.root).config_path)
    entry = config.metrics["visit_psf_size_residual_i"]
    assert entry.table == "sources"
    assert entry.selection[0] == "i_extendedness < 0.5"
    assert entry.rows and entry.rows > 0
    assert entry.files == sum(1 for band, _ in demo_catalog.visits.values() if band == "i")
    assert config.metrics["stellar_locus_width"].granularity == "patch"
    assert "duckdb" in config.provenance.software
    assert [t["kind"] for t in config.truth] == ["bad_patch", "bad_visit", "bad_ccd"]


def test_named_metrics_and_kept_acceptable_ranges(
    demo_catalog: DemoCatalog, tmp_path: Path
) -> None:
    root = tmp_path / "copy"
    shutil.copytree(demo_catalog.root / "objects", root / "objects")
    (root / "vigil-repo.yaml").write_text(
        "format: 1\nmetrics:\n  psf_snr_{band}:\n    acceptable: {min: 5}\n"
    )
    report = compute_repository(root)
    assert [m.name for m in report.computed] == ["psf_snr_g", "psf_snr_r", "psf_snr_i"]
    config = RepoConfig.load(root / "vigil-repo.yaml")
    assert set(config.metrics) == {"psf_snr_g", "psf_snr_r", "psf_snr_i"}
    assert config.metrics["psf_snr_r"].acceptable.min == 5  # type: ignore[union-attr]
    again = compute_repository(root, names=["star_count_i"])
    assert [m.name for m in again.computed] == ["star_count_i"]
    assert "psf_snr_g" in RepoConfig.load(root / "vigil-repo.yaml").metrics


def test_missing_columns_fail_a_named_metric_and_skip_the_others(
    demo_catalog: DemoCatalog, tmp_path: Path
) -> None:
    root = tmp_path / "thin"
    (root / "objects").mkdir(parents=True)
    source = pq.read_table(RepoLayout(demo_catalog.root).table_file("objects", 9813))
    keep = [c for c in source.column_names if not c.endswith(("ixx", "ixxPSF"))]
    pq.write_table(source.select(keep), root / "objects" / "tract=9813.parquet")
    with pytest.raises(MissingColumnsError, match="i_ixx, i_ixxPSF"):
        compute_repository(root, names=["psf_size_residual_i"])
    assert not (root / "metrics").exists()
    report = compute_repository(root)
    assert "psf_size_residual_g" in report.skipped
    assert "psf_cmodel_mag_diff_g" in [m.name for m in report.computed]


def test_not_a_repository(tmp_path: Path) -> None:
    with pytest.raises(RepositoryError, match="not a folder"):
        compute_repository(tmp_path / "absent")
    with pytest.raises(RepositoryError, match="not a Vigil data repository"):
        compute_repository(tmp_path)


def test_a_corrupt_table_file_stops_compute_with_its_name(
    demo_catalog: DemoCatalog, tmp_path: Path
) -> None:
    root = tmp_path / "corrupt"
    shutil.copytree(demo_catalog.root / "objects", root / "objects")
    bad = root / "objects" / "tract=9999.parquet"
    bad.write_bytes(b"not parquet")
    with pytest.raises(Exception, match=r"tract=9999\.parquet"):
        compute_repository(root)
    assert not (root / "metrics").exists()


def test_connect_caches_footers() -> None:
    con = connect(threads=1)
    assert con.execute("SELECT current_setting('enable_object_cache')").fetchone() == (True,)
