"""Every HTML page of the application opens, with its security headers.

The pages are read from the application itself (every GET route of class `PageRoute`),
so a new page is opened here as soon as it exists. Its path parameters are filled from a
small seeded database (jobs and metrics, a regression, one monitor processing with its
log run, one explorer repository); a page whose parameters cannot be filled fails the
test until it gets a value in `seed` or is listed in `UNFILLED` with the reason.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from fastapi.testclient import TestClient

from vigil.demo.catalog import generate_catalog
from vigil.server.factory import Factory
from vigil.server.handlers.web import PageRoute
from vigil.server.middleware import BOKEH_POLICY, EXPLORER_PAGE_POLICY, PAGE_POLICY

from ..conftest import login
from ..regressions._support import history as regression_history
from ..regressions._support import ingest
from ._web_data import HTML, store_history

UNFILLED: dict[str, str] = {}
"""Pages this test does not open, with the reason (none so far)."""

STATUS: dict[str, int] = {}
"""Pages that answer a logged-in reader with a status other than 200 (none so far)."""

_PARAMETER = re.compile(r"\{(\w+)(?::\w+)?\}")


def page_paths(app: FastAPI) -> list[str]:
    """The path of every HTML page of *app* (GET routes of class `PageRoute`)."""
    return sorted(
        {
            str(context.path)
            for context in iter_route_contexts(app.routes)
            if isinstance(context.original_route, PageRoute)
            and "GET" in (getattr(context, "methods", None) or ())
        }
    )


def fill(path: str, seed: dict[tuple[str, str], str]) -> str:
    """*path* with each parameter replaced by the seeded value of its section and name."""
    section = path.strip("/").split("/")[0]

    def value(match: re.Match[str]) -> str:
        key = (section, match.group(1))
        if key not in seed:
            pytest.fail(f"{path}: no seeded value for {match.group(1)!r}; seed one or list it")
        return seed[key]

    return _PARAMETER.sub(value, path)


def _monitor_batch() -> dict[str, Any]:
    """One pipeline, one exposure and one processing of one unit, with a log line."""
    base = {"processing": "p-every-page", "unit": "b0"}
    step = {"name": "CHECK", "start": "Starting", "end": "Done", "qa": []}
    events: list[dict[str, Any]] = [
        {
            "type": "pipeline",
            "pipeline": "ql",
            "description": {"units": ["b0"], "flavors": {}, "trends": []},
        },
        {"type": "exposure", "pipeline": "ql", "exposure": "00000001", "flavor": "science"},
        {
            "type": "processing_started",
            "pipeline": "ql",
            "processing": "p-every-page",
            "exposure": "00000001",
            "flavor": "science",
            "units": ["b0"],
            "steps": [step],
        },
        {"type": "unit_started", **base, "command": ["ql", "b0"]},
        {"type": "log", **base, "level": 20, "message": "Starting", "checkpoint": "CHECK"},
        {"type": "step", **base, "step": "CHECK", "state": "succeeded"},
        {"type": "unit_ended", **base, "status": "succeeded", "exit_status": 0},
        {"type": "processing_ended", "processing": "p-every-page", "status": "succeeded"},
    ]
    for second, event in enumerate(events):
        event["time"] = f"2026-05-01T03:00:{second:02d}Z"
    return {"source": "every-page", "sequence": 1, "events": events}


@pytest.fixture(scope="module")
def roots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A root with one small demo repository, ``demo``."""
    root = tmp_path_factory.mktemp("every-page")
    generate_catalog(root / "demo", tracts=1, objects_per_tract=200, visits=2, seed=5)
    return root


@pytest.fixture
def explore_app(make_app: Callable[..., FastAPI], roots: Path) -> Iterator[FastAPI]:
    """The application, with the explorer's root and without its background worker."""
    app = make_app(explore_roots=[roots], background_worker=False)
    yield app
    server = getattr(app.state, "explorer_server", None)
    if server is not None:
        server.stop()


@pytest.fixture
def seed(
    explore_app: FastAPI, factory: Factory, token: str
) -> Iterator[tuple[TestClient, dict[tuple[str, str], str]]]:
    """A logged-in client and the values of the pages' path parameters."""
    history = store_history(factory)
    ingest(factory, regression_history())
    factory.create_worker_service().run_once()
    with TestClient(explore_app) as client:
        headers = {"Authorization": f"Bearer {token}"}
        stored = client.post("/api/monitor/events", json=_monitor_batch(), headers=headers)
        assert stored.status_code == 200, stored.text[:300]
        regressions = client.get("/api/regressions", headers=headers).json()["items"]
        assert regressions, "the seeded history raised no regression"
        [processing] = client.get("/api/monitor/processings").json()["items"]
        login(client, token)
        yield (
            client,
            {
                ("jobs", "job_id"): str(history.main[-1]),
                ("metrics", "name"): "demo.rms",
                ("regressions", "regression_id"): str(regressions[0]["id"]),
                ("monitor", "processing_id"): str(processing["id"]),
                ("monitor", "run_id"): str(processing["log_run_id"]),
                ("explore", "name"): "demo",
            },
        )


def test_every_page_opens_with_its_security_headers(
    explore_app: FastAPI, seed: tuple[TestClient, dict[tuple[str, str], str]]
) -> None:
    client, values = seed
    paths = page_paths(explore_app)
    assert set(UNFILLED) <= set(paths), "a listed page no longer exists"
    opened = []
    for path in paths:
        if path in UNFILLED:
            continue
        url = fill(path, values)
        page = client.get(url, headers=HTML)
        assert page.status_code == STATUS.get(path, 200), (url, page.text[:500])
        assert page.headers["content-type"].startswith("text/html"), url
        assert page.headers["x-content-type-options"] == "nosniff", url
        assert page.headers["referrer-policy"] == "same-origin", url
        assert page.headers["x-frame-options"] == "DENY", url
        policy = page.headers["content-security-policy"]
        assert policy in {PAGE_POLICY, BOKEH_POLICY, EXPLORER_PAGE_POLICY}, (url, policy)
        opened.append(path)
    # The pages of every part of the dashboard are among them.
    for path in ("/", "/jobs/{job_id}", "/regressions/{regression_id}", "/monitor", "/explore"):
        assert path in opened
