"""A job that names its data repository links each measurement to its dataId in the explorer."""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from pathlib import Path

from fastapi import FastAPI
from fastapi.testclient import TestClient

from vigil.server.factory import Factory

from ._web_data import HTML, make_job

LINK = re.compile(r'data-testid="drill-down" href="([^"]+)"')


def _job(factory: Factory, repository: str | None, night: int = 0) -> int:
    document = make_job(night, rms=5.0).to_dict()  # one identifier per night
    if repository is not None:
        document["meta"]["data_repository"] = repository
    return factory.create_job_service().ingest(document, None).id


def _links(client: TestClient, job_id: int) -> list[str]:
    page = client.get(f"/jobs/{job_id}", headers=HTML)
    assert page.status_code == 200
    return [html.unescape(link) for link in LINK.findall(page.text)]


def test_measurements_link_to_the_explorer(
    make_app: Callable[..., FastAPI], factory: Factory, tmp_path: Path
) -> None:
    root = tmp_path / "roots"
    (root / "hsc-run" / "objects").mkdir(parents=True)
    named = _job(factory, "/data/runs/hsc-run")  # a path: the explorer names it by folder
    app = make_app(explore_roots=[root])
    with TestClient(app) as client:
        links = _links(client, named)
        measurements = client.get(f"/jobs/{named}?format=json").json()["measurements"]
        assert len(links) == len(measurements)
        assert "/explore/hsc-run?metric=demo.rms&band=r" in links
        patch = "/explore/hsc-run?metric=demo.patch_rms&band=r&tract=9813&patch=5"
        assert patch in links
        # The link opens the explorer's page with that metric and dataId.
        page = client.get(patch, headers=HTML)
        assert page.status_code == 200
        (frame,) = re.findall(r"src='([^']+)'", page.text)
        frame = html.unescape(frame)
        assert "repo=hsc-run" in frame and "metric=demo.patch_rms" in frame
        assert "tract=9813" in frame and "patch=5" in frame
        app.state.process_context.explorer_server.stop()


def test_no_link_without_a_repository_under_the_roots(
    make_app: Callable[..., FastAPI], factory: Factory, tmp_path: Path
) -> None:
    root = tmp_path / "roots"
    (root / "hsc-run" / "objects").mkdir(parents=True)
    plain = _job(factory, None, 0)
    elsewhere = _job(factory, "other-run", 1)
    escaping = _job(factory, "../hsc-run", 2)
    with TestClient(make_app(explore_roots=[root])) as client:
        for job_id in (plain, elsewhere):
            assert _links(client, job_id) == []
        # A path is named by its last folder: "../hsc-run" is "hsc-run", under the root.
        assert _links(client, escaping)
    named = _job(factory, "hsc-run", 3)
    with TestClient(make_app()) as client:  # no roots configured
        assert _links(client, named) == []
