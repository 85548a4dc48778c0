"""Fixtures of the LSST tests: real Gen3 Butler repositories made with lsst-daf-butler in
temporary folders (on SQLite), a small computed demo repository, and the lsst.verify
``metricvalue_*`` Measurement files of the conformance data ingested as Gen3 datasets."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from client.conftest import dead_url, live_server  # noqa: F401  (shared fixtures)
from server.conftest import (  # noqa: F401  (the server's database fixtures)
    _postgres_url,
    _sqlite_template,
    db_url,
    factory,
    make_settings,
    settings,
    token,
)
from vigil.compute import compute_repository
from vigil.demo.catalog import generate_catalog

MEASUREMENT_RUN = "u/qa/DM-1/20240102T030405Z"
"""The run collection the conformance measurements go in (pipetask's naming)."""


@pytest.fixture(scope="session")
def catalog(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small computed demo repository (two tracts, six visits); do not modify it."""
    root = tmp_path_factory.mktemp("lsst-catalog") / "catalog"
    generate_catalog(root, tracts=2, objects_per_tract=3000, visits=6, seed=5)
    compute_repository(root)
    return root


@pytest.fixture
def make_butler(tmp_path: Path) -> Callable[[str], Path]:
    """``make_butler(name)``: a new, empty Gen3 repository under the test's folder."""

    def make(name: str = "repo") -> Path:
        from lsst.daf.butler import Butler

        root = tmp_path / name
        Butler.makeRepo(str(root))
        return root

    return make


def ingest_measurements(repo: Path, conformance: Path, run: str = MEASUREMENT_RUN) -> list[Any]:
    """Put the conformance ``metricvalue_*`` files of ``metricvalue_repo2`` into *repo*.

    The files sit as lsst.verify's Gen3 tests wrote them: one folder per dataset type, the
    detector in the file name (``..._<visit>_<detector>_testrun.yaml``); an instrument-level
    one (``metricvalue_verify_instrumentTest``) has the instrument alone.
    """
    import lsst.daf.butler as daf_butler

    butler = daf_butler.Butler.from_config(str(repo), writeable=True)
    registry = butler.registry
    registry.insertDimensionData(
        "instrument",
        {"name": "TestCam", "visit_max": 10**6, "detector_max": 100, "class_name": "TestCam"},
        skip_existing=True,
    )
    registry.insertDimensionData(
        "detector",
        {"instrument": "TestCam", "id": 12, "full_name": "S12"},
        {"instrument": "TestCam", "id": 25, "full_name": "S25"},
        skip_existing=True,
    )
    registry.registerRun(run)
    source = conformance / "lsst-verify" / "verify-tests" / "metricvalue_repo2" / "testrun"
    datasets: dict[tuple[str, int | None], Any] = {}
    for path in sorted(source.rglob("*.yaml")):
        name = path.relative_to(source).parts[0]
        if name == "metricvalue_verify_instrumentTest":
            dimensions: tuple[str, ...] = ("instrument",)
            data_id: dict[str, Any] = {"instrument": "TestCam"}
            detector = None
        else:
            detector = int(path.stem.split("_")[-2])
            dimensions = ("instrument", "detector")
            data_id = {"instrument": "TestCam", "detector": detector}
        if (name, detector) in datasets:
            continue  # one dataset per dataId (the tree holds two visits' worth)
        dataset_type = daf_butler.DatasetType(
            name, dimensions, "MetricValue", universe=butler.dimensions
        )
        registry.registerDatasetType(dataset_type)
        coordinate = daf_butler.DataCoordinate.standardize(
            data_id, dimensions=dataset_type.dimensions
        )
        ref = daf_butler.DatasetRef(dataset_type, coordinate, run=run)
        datasets[(name, detector)] = daf_butler.FileDataset(path=str(path), refs=[ref])
    butler.ingest(*datasets.values(), transfer="copy")
    return [d.refs[0] for d in datasets.values()]


def ingest_bundle(
    repo: Path,
    text: str,
    run: str,
    dataset_type: str = "objectTableCore_metrics",
    tract: int = 9813,
) -> Any:
    """Put an analysis_tools metric bundle (its JSON *text*) into *repo* for one tract."""
    import lsst.daf.butler as daf_butler

    butler = daf_butler.Butler.from_config(str(repo), writeable=True)
    registry = butler.registry
    registry.insertDimensionData(
        "skymap",
        {
            "name": "hsc_rings_v1",
            "hash": b"rings",
            "tract_max": 20000,
            "patch_nx_max": 9,
            "patch_ny_max": 9,
        },
        skip_existing=True,
    )
    registry.insertDimensionData(
        "tract", {"skymap": "hsc_rings_v1", "id": tract}, skip_existing=True
    )
    registry.registerRun(run)
    bundle_type = daf_butler.DatasetType(
        dataset_type, ("skymap", "tract"), "MetricMeasurementBundle", universe=butler.dimensions
    )
    registry.registerDatasetType(bundle_type)
    coordinate = daf_butler.DataCoordinate.standardize(
        {"skymap": "hsc_rings_v1", "tract": tract}, dimensions=bundle_type.dimensions
    )
    ref = daf_butler.DatasetRef(bundle_type, coordinate, run=run)
    path = repo.parent / f"{dataset_type}-{tract}.json"
    path.write_text(text, encoding="utf-8")
    butler.ingest(daf_butler.FileDataset(path=str(path), refs=[ref]), transfer="copy")
    return ref
