"""The explorer's "PSF & repeatability" tab: computed on demand, kept per band, drawn with
what it was computed on, and every failure said in its place."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import holoviews as hv
import panel as pn
import pytest
from bokeh.models import LogScale

from vigil.compute.mapping import import_catalog
from vigil.compute.psf import psf_report
from vigil.compute.repeatability import RepeatabilityResult, pa1
from vigil.demo.catalog import DemoCatalog, generate_catalog
from vigil.explorer._psf_views import TAB_NAME, PsfView, psf_tab, rho_plot, whisker_map
from vigil.explorer.app import Explorer
from vigil.explorer.query import Repository


@pytest.fixture(scope="module")
def catalog(tmp_path_factory: pytest.TempPathFactory) -> DemoCatalog:
    """One tract seen twice per band (PA1 and AM1 need two visits of each star)."""
    root = tmp_path_factory.mktemp("psf-views") / "demo"
    return generate_catalog(root, tracts=1, objects_per_tract=5000, seed=5)


@pytest.fixture(scope="module")
def repo(catalog: DemoCatalog) -> Repository:
    hv.extension("bokeh", logo=False)
    return Repository(catalog.root)


def _parts(view: Any, kind: type) -> list[Any]:
    """The Panel objects of *kind* under *view*."""
    return list(view.select(kind))


def _markdown(view: Any) -> str:
    """Every Markdown text under *view*."""
    return "\n".join(str(part.object) for part in _parts(view, pn.pane.Markdown))


def test_the_tab_is_in_the_app_on_the_current_band(repo: Repository) -> None:
    explorer = Explorer(repo)
    explorer.open_metric("visit_psf_size_residual_r")
    app = explorer.panel()
    assert explorer.tabs is not None and TAB_NAME in explorer.tabs._names
    tab = psf_tab(explorer)
    selects = _parts(tab, pn.widgets.Select)
    assert selects and selects[0].value == "r" and selects[0].options == ["g", "r", "i"]
    # Nothing is computed before it is asked for.
    assert "Press **Compute**" in _markdown(tab)
    assert app is not None


def test_compute_shows_pa1_am1_and_the_psf_plots_and_keeps_them(repo: Repository) -> None:
    view = PsfView(repo, "i")
    results = view.compute()
    assert results is not None and results.band == "i"
    assert isinstance(results.pa1, RepeatabilityResult)
    assert isinstance(results.am1, RepeatabilityResult)
    assert results.pa1 == pa1(repo, "i")
    text = _markdown(view.output)
    assert f"**PA1** = {results.pa1.value:.2f} mmag" in text
    assert f"**AM1** = {results.am1.value:.2f} mas" in text
    report = psf_report(repo, "i")
    assert report.describe() in text and "size residual dT/T" in text
    names = {pane.name for pane in _parts(view.output, pn.pane.HoloViews)}
    assert names == {"rho-plot", "residual-map"}
    # Kept per band: the same answer again, and shown at once on coming back.
    assert view.compute() is results
    view.band.value = "g"
    assert "Press **Compute**" in _markdown(view.output)
    view.band.value = "i"
    assert f"**PA1** = {results.pa1.value:.2f} mmag" in _markdown(view.output)
    assert set(view.results) == {"i"}


def test_the_plots_say_what_they_were_computed_on(repo: Repository) -> None:
    report = psf_report(repo, "g")
    renderer = hv.renderer("bokeh")
    rho = renderer.get_plot(rho_plot(report)).state
    assert isinstance(rho.x_scale, LogScale)
    assert rho.title.text == f"Rho statistics (xi+), {report.describe()}"
    assert "stars from 2 visits, band g" in rho.title.text
    # Each rho has its error bars.
    overlay = rho_plot(report)
    assert sum(isinstance(layer, hv.ErrorBars) for layer in overlay) == 5
    whiskers = renderer.get_plot(whisker_map(report)).state
    assert whiskers.title.text.endswith(report.describe())
    assert whiskers.x_range.start > whiskers.x_range.end  # RA increases to the left
    fields = whisker_map(report).get(1)
    assert isinstance(fields, hv.VectorField) and len(fields) == len(report.map.ra)


def test_a_part_that_cannot_be_computed_says_why(tmp_path_factory: pytest.TempPathFactory) -> None:
    # Six visits over two tracts: each tract is seen once per band, so no star has two
    # visits (no PA1 or AM1), but the PSF residuals are there.
    root = tmp_path_factory.mktemp("psf-once") / "demo"
    generate_catalog(root, tracts=2, objects_per_tract=2000, visits=6, seed=11)
    with Repository(root) as repo:
        view = PsfView(repo, "i")
        results = view.compute()
    assert results is not None
    assert isinstance(results.pa1, str) and "fewer than 2 visits" in results.pa1
    text = _markdown(view.output)
    assert "**PA1**: not available:" in text and "**AM1**: not available:" in text
    assert "PSF residuals (star - model)" in text
    assert {pane.name for pane in _parts(view.output, pn.pane.HoloViews)} == {
        "rho-plot",
        "residual-map",
    }


def test_a_repository_without_visit_sources(tmp_path: Path, conformance: Path) -> None:
    # The real HSC coadd sample: objects only, so nothing for the tab to compute on.
    sample = conformance / "catalogs" / "hsc_coadd_tract9615_sample.parq"
    import_catalog(sample, tmp_path / "repo", mapping="auto", band="i")
    with Repository(tmp_path / "repo") as repo:
        view = PsfView(repo, "i")
        assert view.band.options == [] and view.compute() is None
    assert "no visit sources" in _markdown(view.output)
