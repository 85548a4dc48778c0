"""Outlines on the explorer's sky map, and from a patch to the visits behind it and back."""

from __future__ import annotations

from typing import Any

import holoviews as hv
import panel as pn
import pytest
from bokeh.models import HoverTool

from vigil.demo.catalog import DemoCatalog, generate_catalog
from vigil.explorer._outline_views import visit_metric
from vigil.explorer._outlines import visits_behind
from vigil.explorer.app import ALL, Explorer
from vigil.explorer.query import Repository


@pytest.fixture(scope="module")
def catalog(tmp_path_factory: pytest.TempPathFactory) -> DemoCatalog:
    """Two tracts of 2,000 objects and six visits (no stored metrics)."""
    root = tmp_path_factory.mktemp("outline-app") / "demo"
    return generate_catalog(root, tracts=2, objects_per_tract=2000, visits=6, seed=11)


@pytest.fixture(scope="module")
def explorer(catalog: DemoCatalog) -> Explorer:
    hv.extension("bokeh", logo=False)
    return Explorer(Repository(catalog.root))


def _rectangles(view: Any) -> hv.Rectangles:
    assert isinstance(view, hv.Overlay)
    found = [part for part in view if isinstance(part, hv.Rectangles)]
    assert len(found) == 1
    return found[0]


def test_outlines_are_off_by_default_and_drawn_when_on(explorer: Explorer) -> None:
    explorer.open_metric("psf_size_residual_i", {"tract": 9813})
    assert explorer.outlines is False
    assert isinstance(explorer.sky_map(), hv.Points)
    explorer.outlines = True
    try:
        shapes = _rectangles(explorer.sky_map())
        frame = shapes.dframe()
        # The demo's visits alternate between the two tracts.
        assert sorted(frame["visit"]) == [1228, 1232, 1236]
        assert set(frame["band"]) == {"g", "r", "i"}
        assert (frame["ra_min"] < frame["ra_max"]).all()
        assert (frame["detectors"] > 1).all()
        plot = hv.renderer("bokeh").get_plot(shapes).state
        hovers = [tool for tool in plot.tools if isinstance(tool, HoverTool)]
        tooltips = [
            tuple(tip)
            for hover in hovers
            if isinstance(hover.tooltips, list)
            for tip in hover.tooltips
        ]
        assert ("band", "@{band}") in tooltips  # Bokeh escapes the value it shows
        assert all("{safe}" not in tip[1] for tip in tooltips)
        # A visit metric with a visit chosen: that visit's detectors.
        explorer.open_metric("visit_psf_size_residual_i", {"visit": 1236})
        detectors = _rectangles(explorer.sky_map()).dframe()
        assert set(detectors["visit"]) == {1236}
        assert len(detectors) == detectors["detector"].nunique() > 1
    finally:
        explorer.outlines = False


def test_from_a_patch_to_a_visit_behind_it_and_back(explorer: Explorer) -> None:
    explorer.open_metric("psf_size_residual_i", {"tract": 9814, "patch": 40})
    assert (explorer.tract, explorer.patch) == (9814, 40)
    behind = visits_behind(explorer.repo, 9814, 40)
    assert len(behind) and all(behind["count"] > 0)
    view: Any = explorer.behind_view()
    assert isinstance(view, pn.Column)
    tables = [part for part in view if isinstance(part, pn.widgets.Tabulator)]
    assert tables and len(tables[0].value) == len(behind)
    row = behind[behind["band"] == "g"].iloc[0]
    explorer.open_visit(row)
    assert explorer.metric == "visit_psf_size_residual_g"
    assert explorer.visit == int(row["visit"]) and explorer.detector == ALL
    # The visit's detectors are listed, those behind the patch among them.
    assert explorer.list_level() == ("visit", "detector")
    assert set(row["detectors"]) <= set(explorer.param.detector.objects)
    assert explorer.came_from == ("psf_size_residual_i", 9814, 40)
    path: Any = explorer.path_view()
    labels = [part.label for part in path if isinstance(part, pn.widgets.Button)]
    assert "Back to tract 9814 / patch 40" in labels
    explorer.back()
    assert (explorer.metric, explorer.tract, explorer.patch) == ("psf_size_residual_i", 9814, 40)
    assert explorer.came_from is None
    explorer.tract = ALL
    empty: Any = explorer.behind_view()
    assert empty.object == ""


def test_the_visit_metric_opened_for_a_band(explorer: Explorer) -> None:
    infos = explorer.infos
    assert visit_metric(infos, "psf_size_residual_i", "g") == "visit_psf_size_residual_g"
    assert visit_metric(infos, "visit_psf_size_residual_i", "r") == "visit_psf_size_residual_r"
    assert visit_metric(infos, "stellar_locus_width", "i") == "visit_psf_cmodel_mag_diff_i"
    assert visit_metric(infos, None, "z") is None
    objects_only = {name: info for name, info in infos.items() if info.table == "objects"}
    assert visit_metric(objects_only, "psf_snr_i", "i") is None
