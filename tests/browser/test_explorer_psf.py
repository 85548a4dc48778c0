"""The explorer in Chromium: the "PSF & repeatability" tab computes PA1, AM1 and the rho
statistics of the current band on demand and draws them."""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from vigil.compute import compute_repository
from vigil.compute.psf import psf_report
from vigil.compute.repeatability import am1, pa1
from vigil.demo.catalog import generate_catalog
from vigil.explorer.query import Repository

from .conftest import free_port
from .test_explorer import _env, _plots_drawn, _start, _stop

PLOTS = """() => {
    const out = [];
    for (const doc of Bokeh.documents) for (const m of doc.all_models) {
        if (!['Plot', 'Figure'].includes(m.type) || !m.title || !m.title.text) continue;
        const drawn = m.renderers.filter(r => r.type === 'GlyphRenderer'
            && r.data_source && Object.values(r.data_source.data).some(c => c.length > 0));
        const bars = m.center.filter(a => a.type === 'Whisker'
            && Object.values(a.source.data).some(c => c.length > 0));
        out.push({title: m.title.text, x: m.x_scale.type, drawn: drawn.length,
                  bars: bars.length});
    }
    return out;
}"""
"""The titled Bokeh plots: title, x scale, renderers and error bars with data."""


@pytest.fixture(scope="module")
def psf_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One tract seen twice per band (PA1 and AM1 need two visits of a star)."""
    root = tmp_path_factory.mktemp("explore-psf") / "demo"
    generate_catalog(root, tracts=1, objects_per_tract=6000, seed=5)
    compute_repository(root)
    return root


@pytest.fixture(scope="module")
def psf_url(psf_repo: Path, chromium: Path) -> Iterator[str]:
    """``vigil explore`` of that repository."""
    port = free_port()
    command = [sys.executable, "-m", "vigil", "explore", str(psf_repo)]
    command += ["--port", str(port), "--no-show"]
    url = f"http://127.0.0.1:{port}/explorer"
    process = _start(command, url, _env(), psf_repo.parent / "explore.log")
    try:
        yield url
    finally:
        _stop(process)


def test_the_psf_tab_draws_pa1_am1_and_rho(
    checked_page: Any, psf_url: str, psf_repo: Path, screenshot: Callable[[Any, str], Path]
) -> None:
    with Repository(psf_repo) as repo:
        precision, astrometry = pa1(repo, "i"), am1(repo, "i")
        report = psf_report(repo, "i")
    page = checked_page
    page.goto(f"{psf_url}?metric=visit_psf_size_residual_i")
    page.locator(".bk-tab", has_text="PSF & repeatability").first.click()
    hint = page.get_by_text(re.compile(r"Press Compute for PA1, AM1.* of band i"))
    hint.first.wait_for(timeout=120_000)
    page.get_by_role("button", name="Compute").click()
    expect(page.get_by_text(f"= {precision.value:.2f} mmag").first).to_be_visible(timeout=120_000)
    expect(page.get_by_text(f"= {astrometry.value:.2f} mas").first).to_be_visible()
    expect(page.get_by_text(report.describe()).first).to_be_visible()
    rho_title = f"Rho statistics (xi+), {report.describe()}"
    page.wait_for_function(
        f"() => ({PLOTS})().some(p => p.title === {rho_title!r} && p.drawn >= 5)"
    )
    _plots_drawn(page, 2)
    plots = {plot["title"]: plot for plot in page.evaluate(PLOTS)}
    assert plots[rho_title]["x"] == "LogScale"
    assert plots[rho_title]["bars"] == 5  # each rho with its error bars
    residual_title = f"Mean ellipticity residual per cell, {report.describe()}"
    assert plots[residual_title]["drawn"] >= 2  # the cells and their whiskers
    page.wait_for_timeout(500)
    screenshot(page, "explorer-psf")
