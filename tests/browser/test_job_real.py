"""The job page of the real validate_drp job in Chromium: its plots drawn, its twin plain."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

Page = Any

PLOTS_DRAWN = """() => !document.querySelector('[data-bokeh-item]')
  || document.documentElement.dataset.plotsDrawn === 'true'"""

# Per Bokeh document: its plots' views, each laid out with a size and painted.
DRAWN_PLOTS = """() => Bokeh.documents.map(doc => [...doc.views_manager].map(view => {
  const box = view.el.getBoundingClientRect();
  return {model: view.model.type, width: box.width, height: box.height, idle: doc.is_idle};
}))"""


@pytest.fixture(scope="module")
def real_job(server: str, demo_dir: Path, conformance: Path) -> int:
    """The id of the real ``verify_job.json``, posted to the demo server."""
    from vigil.demo.loader import demo_settings
    from vigil.server.factory import Factory

    with Factory.standalone(demo_settings(demo_dir)) as factory:
        users = factory.create_user_service()
        users.create_user("job-real-poster")
        token = users.create_token("job-real-poster").text
    posted = httpx.post(
        f"{server}/api/jobs",
        content=(conformance / "squash" / "verify_job.json").read_bytes(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        timeout=60,
    )
    assert posted.status_code in (200, 201), posted.text
    return int(posted.json()["id"])


def test_the_real_job_page_draws_its_plots(
    page: Page, real_job: int, screenshot: Callable[[Any, str], Path]
) -> None:
    response = page.goto(f"/jobs/{real_job}")
    assert response is not None and response.status == 200
    page.wait_for_function(PLOTS_DRAWN, timeout=30_000)
    assert page.locator("[data-bokeh-item]").count() == 6
    documents = page.evaluate(DRAWN_PLOTS)
    assert len(documents) == 6, documents
    for views in documents:
        figures = [v for v in views if v["model"] == "Figure"]
        assert figures and all(v["idle"] and v["width"] > 0 and v["height"] > 0 for v in figures)
    assert page.get_by_test_id("blobs-not-drawn").is_visible()
    screenshot(page, "job-real")


def test_the_real_job_twin_holds_no_figure(server: str, real_job: int) -> None:
    answer = httpx.get(f"{server}/jobs/{real_job}", params={"format": "json"}, timeout=60)
    assert answer.status_code == 200
    body = answer.json()
    assert set(body) >= {"blobs", "arrays", "truncated_arrays"}

    def keys(node: Any) -> set[str]:
        if isinstance(node, dict):
            return set(node).union(*(keys(v) for v in node.values()))
        if isinstance(node, list):
            return set().union(*(keys(v) for v in node)) if node else set()
        return set()

    found = keys({k: v for k, v in body.items() if k != "arrays"})
    assert not found & {"doc", "root_id", "plot_json", "target_id"}
