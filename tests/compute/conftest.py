"""Fixtures of the compute tests: a small demo repository, written and computed once, and
a Dask cluster in this process."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from vigil.compute import compute_repository
from vigil.demo.catalog import DemoCatalog, generate_catalog


@pytest.fixture(scope="session")
def demo_catalog(tmp_path_factory: pytest.TempPathFactory) -> DemoCatalog:
    """Two tracts of 8,000 objects in g, r, i and six visits, metrics computed."""
    root = tmp_path_factory.mktemp("repo") / "demo"
    catalog = generate_catalog(root, tracts=2, objects_per_tract=8000, visits=6, seed=7)
    compute_repository(root)
    return catalog


@pytest.fixture(scope="module")
def client() -> Iterator[Any]:
    """A Dask client of two workers in threads of this process."""
    distributed = pytest.importorskip("distributed")
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster, set_as_default=False) as connected,
    ):
        yield connected
