"""Outlines on the explorer's sky map, and from a patch to the visits behind it and back."""

from __future__ import annotations

from typing import Any

import holoviews as hv
import panel as pn
import pytest
from bokeh.models import HoverTool

from vigil.demo.catalog import DemoCatalog, generate_catalog
from vigil.explorer._focal_plane import detector_medians
from vigil.explorer._outline_views import tract_outlines, visit_metric
from vigil.explorer._outlines import overlapping, patch_boxes, visits_behind
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


def _tooltips(element: Any) -> list[tuple[str, str]]:
    plot = hv.renderer("bokeh").get_plot(element).state
    hovers = [tool for tool in plot.tools if isinstance(tool, HoverTool)]
    return [
        (str(tip[0]), str(tip[1]))
        for hover in hovers
        if isinstance(hover.tooltips, list)
        for tip in hover.tooltips
    ]


def test_detector_outlines_over_a_tract(explorer: Explorer) -> None:
    explorer.open_metric("psf_size_residual_i", {"tract": 9813})
    explorer.outlines = True
    explorer.outline_level = "detectors"
    try:
        shapes = _rectangles(explorer.sky_map())
        frame = shapes.dframe()
        assert sorted(frame["visit"].unique()) == [1228, 1232, 1236]
        assert frame.groupby("visit")["detector"].nunique().gt(50).all()
        # Only the detectors over the tract, each coloured by its visit.
        patches = patch_boxes(explorer.repo, 9813)
        area = (
            float(patches["ra_min"].min()),
            float(patches["ra_max"].max()),
            float(patches["dec_min"].min()),
            float(patches["dec_max"].max()),
        )
        assert overlapping(frame, area).all()
        assert (frame["group"] == frame["visit"].astype(str)).all()
        assert shapes.opts.get("style").kwargs["fill_color"] == "group"
        assert ("detector", "@{detector}") in _tooltips(shapes)
        assert "detectors of the visits over tract 9813" in str(shapes.opts.get("plot").kwargs)
    finally:
        explorer.outlines = False
        explorer.outline_level = "visits"
    cut, title = tract_outlines(explorer.repo, 9813, "detectors", limit=150)
    assert cut["visit"].unique().tolist() == [1228]
    assert f"the first {len(cut)} of " in title
    whole, title = tract_outlines(explorer.repo, 9813, "visits")
    assert "detector" not in whole.columns and title == "visits over tract 9813"


def _focal(view: Any) -> tuple[str, hv.Rectangles, str]:
    """The focal-plane view's caption, its detector boxes and its plot's title."""
    assert isinstance(view, pn.Column)
    text: str = view.objects[0].object
    overlay: Any = view.objects[1].object
    boxes = [part for part in overlay if isinstance(part, hv.Rectangles)]
    title = hv.renderer("bokeh").get_plot(overlay).state.title.text
    return text, boxes[0], title


def test_the_focal_plane_of_a_visit_metric(explorer: Explorer) -> None:
    metric = "visit_psf_size_residual_i"
    explorer.open_metric(metric)
    text, boxes, title = _focal(explorer.focal_view())
    frame = boxes.dframe()
    per_visit = explorer.repo.aggregate(metric, ["visit", "detector"])
    medians = detector_medians(per_visit).set_index("detector")["value"]
    # Every detector, at its median place, with its median over the band's visits; one
    # without a value of the metric (no bright star on it) is drawn without one.
    assert frame["detector"].is_monotonic_increasing
    assert set(medians.index) <= set(frame["detector"])
    valued = frame[frame["detector"].isin(medians.index)]
    assert valued["value"].to_numpy() == pytest.approx(medians.loc[valued["detector"]].to_numpy())
    bare = frame[~frame["detector"].isin(medians.index)]
    assert bare["value"].isna().all() and (bare["status"] == "no value").all()
    assert (frame["x_min"] < frame["x_max"]).all() and (frame["y_min"] < frame["y_max"]).all()
    assert title == f"{metric}: median per detector over the 2 visits in i"
    assert text.startswith(f"**Focal plane**: {len(frame)} detectors,")
    assert ("detector", "@{detector}") in _tooltips(boxes)
    # Detectors are laid out in rows of 13 (the demo camera): columns grow east.
    first_row = frame.set_index("detector").loc[range(13)]
    assert (first_row["x_min"] + first_row["x_max"]).is_monotonic_increasing
    assert (first_row["y_min"] + first_row["y_max"]).std() < 0.04
    # A tap with no visit chosen opens the detector in its worst visit: the bad PSF visit.
    hv.streams.Selection1D.registry[boxes][0].event(index=[5])
    assert (explorer.visit, explorer.detector) == (1236, int(frame["detector"].iloc[5]))
    # With a visit chosen: that visit's values, and a tap keeps the visit.
    explorer.open_metric(metric, {"visit": 1238})
    text, boxes, title = _focal(explorer.focal_view())
    frame = boxes.dframe()
    own = explorer.repo.aggregate(metric, ["visit", "detector"], {"visit": 1238})
    values = own.set_index("detector")["value"]
    valued = frame[frame["detector"].isin(values.index)]
    assert valued["value"].to_numpy() == pytest.approx(values.loc[valued["detector"]].to_numpy())
    assert frame["value"].notna().sum() == own["value"].notna().sum()
    assert "tap one to open it." in text
    assert title == f"{metric} per detector, visit 1238"
    hv.streams.Selection1D.registry[boxes][0].event(index=[7])
    assert (explorer.visit, explorer.detector) == (1238, int(frame["detector"].iloc[7]))
    # A coadd metric has no focal plane.
    explorer.open_metric("psf_size_residual_i")
    empty: Any = explorer.focal_view()
    assert empty.object == ""
