"""Fixtures of the compute tests: a small demo repository, written and computed once."""

from __future__ import annotations

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
