"""docs/squash.md documents every SQuaSH endpoint the server has, and nothing else."""

from __future__ import annotations

import re
from pathlib import Path

from fastapi.routing import APIRoute

from vigil.server.handlers.squash import ENDPOINTS, definitions, jobs

DOC = Path(__file__).resolve().parents[3] / "docs" / "squash.md"


def _served() -> set[tuple[str, str]]:
    return {
        (method, route.path)
        for module in (jobs, definitions)
        for route in module.router.routes
        if isinstance(route, APIRoute)
        for method in route.methods or ()
    }


def test_the_endpoint_table_matches_the_routes() -> None:
    rows = set(
        re.findall(r"^\| (GET|POST|PUT|DELETE) \| `([^`?]+)[^`]*` \|", DOC.read_text(), re.M)
    )
    assert rows == _served()


def test_the_root_map_names_only_served_endpoints() -> None:
    first_segments = {path.strip("/").split("/")[0] for _, path in _served()}
    assert set(ENDPOINTS) == first_segments - {""}
