"""The explorer app over a small demo repository: quick look, drill-down, comparison, notebook."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, TypeVar

import holoviews as hv
import nbformat
import panel as pn
import pytest

import vigil.explorer.app as app_module
from vigil.compute import compute_repository
from vigil.demo.catalog import DemoCatalog, generate_catalog
from vigil.explorer.app import ALL, Explorer, create_explorer, selection_from_args
from vigil.explorer.notebook import make_notebook
from vigil.explorer.query import Repository

T = TypeVar("T")


def select(view: Any, kind: type[T]) -> list[T]:
    """The parts of *view* of type *kind*, in the order Panel finds them."""
    return [part for part in view.select(kind) if isinstance(part, kind)]


@pytest.fixture(scope="module")
def catalog(tmp_path_factory: pytest.TempPathFactory) -> DemoCatalog:
    """Two tracts of 8,000 objects and six visits, metrics computed."""
    root = tmp_path_factory.mktemp("explorer") / "demo"
    made = generate_catalog(root, tracts=2, objects_per_tract=8000, visits=6, seed=11)
    compute_repository(root)
    return made


@pytest.fixture(scope="module")
def view(catalog: DemoCatalog) -> pn.viewable.Viewable:
    return create_explorer(catalog.root, catalog.root)


@pytest.fixture
def explorer(view: pn.viewable.Viewable) -> Explorer:
    found: Explorer = view.explorer  # type: ignore[attr-defined]
    found.param.update(tract=ALL, patch=ALL, visit=ALL, detector=ALL)
    return found


def test_the_app_is_a_panel_object_with_its_parts(view: pn.viewable.Viewable) -> None:
    assert isinstance(view, pn.Column)
    names = {obj.name for obj in select(view, pn.pane.PaneBase)}
    assert "header" in names
    assert select(view, pn.widgets.Tabulator)  # the quick look
    tabs = select(view, pn.Tabs)[0]
    assert tabs._names == ["Quick look", "Metric", "Linked", "PSF & repeatability", "Compare"]
    assert any(isinstance(w, pn.widgets.FileDownload) for w in select(view, pn.widgets.Widget))


def test_header_figures(explorer: Explorer, catalog: DemoCatalog) -> None:
    text = explorer.header().object
    assert "**2** tracts" in text
    assert "g: 2, r: 2, i: 2" in text
    assert f"**{catalog.sources:,}** sources" in text


def test_quick_look_flags_every_planted_problem(explorer: Explorer, catalog: DemoCatalog) -> None:
    table = explorer.quicklook().value.set_index("metric")
    patch = catalog.problem("bad_patch")
    visit = catalog.problem("bad_visit")
    ccd = catalog.problem("bad_ccd")
    assert table.loc[patch.metric, "status"] == "bad"
    assert (
        table.loc[patch.metric, "worst"]
        == "tract 9814, patch 40"
        == (f"tract {patch.data_id['tract']}, patch {patch.data_id['patch']}")
    )
    assert table.loc[visit.metric, "worst"] == f"visit {visit.data_id['visit']}"
    assert table.loc[ccd.metric, "worst"] == (
        f"visit {ccd.data_id['visit']}, detector {ccd.data_id['detector']}"
    )
    # Metrics without a planted problem in range stay ok; no range is not a failure.
    assert table.loc["visit_psf_size_residual_g", "status"] == "ok"
    assert table.loc["psf_snr_i", "status"] == "no range"


def test_tapping_the_sky_map_drills_tract_to_patch(
    explorer: Explorer, catalog: DemoCatalog
) -> None:
    patch = catalog.problem("bad_patch")
    explorer.metric = patch.metric
    frame = explorer.group_frame()
    assert list(explorer.level()) == ["tract", "patch"]
    row = frame[(frame["tract"] == 9814) & (frame["patch"] == 40)].index[0]
    points = explorer.sky_map()
    assert isinstance(points, hv.Points)
    assert points.data["value"].max() == pytest.approx(frame["value"].max())
    stream = hv.streams.Selection1D.registry[points][0]
    stream.event(index=[int(row)])
    assert (explorer.tract, explorer.patch) == (9814, 40)
    assert explorer.where() == {"tract": 9814, "patch": 40}
    values = explorer.values_frame()
    assert len(values) > 0
    assert values["value"].median() == pytest.approx(patch.shift, abs=1.5)
    row_view = explorer.metric_view()
    assert isinstance(row_view, pn.Row) and len(row_view) == 2


def test_visit_metric_drills_visit_to_detector(explorer: Explorer, catalog: DemoCatalog) -> None:
    ccd = catalog.problem("bad_ccd")
    explorer.metric = ccd.metric
    assert explorer.level() == ("visit",)
    explorer.visit = ccd.data_id["visit"]
    assert explorer.level() == ("visit", "detector")
    assert ccd.data_id["detector"] in explorer.param.detector.objects
    frame = explorer.group_frame()
    assert set(frame["visit"]) == {ccd.data_id["visit"]}
    worst = frame.loc[frame["value"].abs().idxmax()]
    assert int(worst["detector"]) == ccd.data_id["detector"]
    explorer.detector = ccd.data_id["detector"]
    assert explorer.where() == ccd.data_id


def test_large_selections_are_datashaded(
    explorer: Explorer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from holoviews.core import DynamicMap

    import vigil.explorer.app as app

    explorer.metric = "psf_snr_i"
    small: Any = explorer.metric_view()
    assert isinstance(small[0].object, hv.Points)
    monkeypatch.setattr(app, "DATASHADE_ROWS", 100)
    large: Any = explorer.metric_view()
    assert isinstance(large[0].object, DynamicMap)
    assert isinstance(large[1].object, DynamicMap)


def _compared(explorer: Explorer) -> Any:
    """The table of the comparison tab (a DataFrame)."""
    column: Any = explorer.comparison()
    return next(part for part in column if part.name == "comparison").object


def test_comparison_of_a_repository_with_itself_is_zero(explorer: Explorer) -> None:
    explorer.metric = "psf_size_residual_i"
    frame = _compared(explorer)
    assert len(frame) == 162
    assert frame["delta"].abs().max() == 0
    assert (frame["missing"] == "").all()


def test_notebook_reproduces_the_selection(explorer: Explorer, catalog: DemoCatalog) -> None:
    explorer.metric = "psf_size_residual_i"
    explorer.tract = 9814
    explorer.patch = 40
    text = explorer.notebook_bytes().getvalue().decode()
    notebook = nbformat.reads(text, as_version=4)  # type: ignore[no-untyped-call]
    nbformat.validate(notebook)
    source = "\n".join(cell.source for cell in notebook.cells)
    assert "metric = 'psf_size_residual_i'" in source
    assert "where = {'tract': 9814, 'patch': 40}" in source
    assert str(catalog.root) in source
    # Its query cells run and give what the app shows.
    code = [cell.source for cell in notebook.cells if cell.cell_type == "code"]
    scope: dict[str, object] = {}
    exec("\n".join(code[:2]), scope)
    aggregates = scope["aggregates"]
    assert list(aggregates["patch"]) == [40]  # type: ignore[index]
    with Repository(catalog.root) as repo:
        assert aggregates["value"].iloc[0] == pytest.approx(  # type: ignore[index]
            repo.aggregate("psf_size_residual_i", ["tract", "patch"], {"tract": 9814, "patch": 40})[
                "value"
            ].iloc[0]
        )


def test_notebook_without_metric_lists_metrics(tmp_path: Path) -> None:
    notebook = make_notebook(tmp_path)
    nbformat.validate(notebook)
    assert "repo.metrics()" in notebook.cells[-1].source
    json.dumps(notebook)


def test_repository_without_config_says_metrics_are_inferred(
    catalog: DemoCatalog, tmp_path: Path
) -> None:
    import shutil

    root = tmp_path / "bare"
    shutil.copytree(catalog.root / "objects", root / "objects")
    view = create_explorer(root)
    header = view.explorer.header().object  # type: ignore[attr-defined]
    assert "metrics are inferred" in header


def _click(table: pn.widgets.Tabulator, row: int, column: str) -> None:
    """A click on a cell, as the browser sends it."""
    from panel.models.tabulator import CellClickEvent

    event = CellClickEvent(model=None, column=column, row=row)  # type: ignore[no-untyped-call]
    table._process_event(event)


def test_quick_look_click_on_the_worst_group_drills_to_it(
    view: pn.viewable.Viewable, explorer: Explorer, catalog: DemoCatalog
) -> None:
    tabs = select(view, pn.Tabs)[0]
    table = next(t for t in select(view, pn.widgets.Tabulator) if "worst" in t.value.columns)
    for kind in ("bad_patch", "bad_visit", "bad_ccd"):
        tabs.active = 0
        problem = catalog.problem(kind)
        row = int(table.value.index[table.value["metric"] == problem.metric][0])
        _click(table, row, "worst")
        assert tabs.active == 1
        assert explorer.metric == problem.metric
        assert {k: getattr(explorer, k) for k in problem.data_id} == problem.data_id
    # A click elsewhere in a row opens the metric at the top level.
    _click(table, 0, "metric")
    assert explorer.metric == table.value["metric"].iloc[0]
    assert explorer.where() == {}


def test_groups_lead_from_tract_to_patch_to_sources(
    explorer: Explorer, catalog: DemoCatalog
) -> None:
    patch = catalog.problem("bad_patch")
    explorer.open_metric(patch.metric)
    assert explorer.list_level() == ("tract",)
    tracts = explorer.groups_frame()
    # No tract is out of range, but the one holding the bad patch comes first.
    assert tracts["acceptable"].all()
    assert int(tracts["tract"].iloc[0]) == patch.data_id["tract"]
    assert tracts["bad_below"].iloc[0] == 1
    explorer.select_group(tracts.iloc[0])
    assert explorer.list_level() == ("tract", "patch")
    patches = explorer.groups_frame()
    assert int(patches["patch"].iloc[0]) == patch.data_id["patch"]
    assert patches["status"].iloc[0] == "bad" and (patches["status"].iloc[1:] == "ok").all()
    explorer.select_group(patches.iloc[0])
    assert explorer.list_level() is None
    assert explorer.where() == patch.data_id
    sources = explorer.sources_frame()
    count = int(patches["count"].iloc[0])
    assert sources.attrs["total"] == count
    assert len(sources) == min(count, app_module.SOURCE_ROWS)
    assert sources.attrs["truncated"] == (count > app_module.SOURCE_ROWS)
    assert sources["value"].median() == pytest.approx(patch.shift, abs=1.5)
    shown: Any = explorer.sources_view()
    assert "Sources of tract 9814, patch 40" in shown[0].object
    explorer.up()
    assert explorer.list_level() == ("tract", "patch") and explorer.patch == ALL


def test_sources_table_is_truncated(
    explorer: Explorer, catalog: DemoCatalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(app_module, "SOURCE_ROWS", 5)
    ccd = catalog.problem("bad_ccd")
    explorer.open_metric("psf_snr_i", {"tract": 9814, "patch": 40})
    sources = explorer.sources_frame()
    assert len(sources) == 5 and sources.attrs["truncated"] and sources.attrs["total"] > 5
    # The sources farthest from the group's median come first.
    everything = explorer.repo.values("psf_snr_i", {"tract": 9814, "patch": 40}, limit=None)
    centre = everything["value"].median()
    deviation = (sources["value"] - centre).abs()
    assert deviation.is_monotonic_decreasing
    assert deviation.min() >= (everything["value"] - centre).abs().nlargest(5).min()
    shown: Any = explorer.sources_view()
    assert "truncated" in shown[0].object
    explorer.open_metric(ccd.metric, ccd.data_id)
    assert explorer.list_level() is None and len(explorer.sources_frame()) <= 5


def test_a_link_opens_a_metric_at_a_data_id(catalog: DemoCatalog) -> None:
    args = {
        "metric": [b"pipe_analysis.psf_size_residual"],
        "band": [b"i"],
        "tract": [b"9814"],
        "patch": [b"40"],
        "other": [b"ignored"],
    }
    selection = selection_from_args(args)
    assert selection == {
        "metric": "pipe_analysis.psf_size_residual",
        "band": "i",
        "tract": "9814",
        "patch": "40",
    }
    view = create_explorer(catalog.root, selection=selection)
    opened: Explorer = view.explorer  # type: ignore[attr-defined]
    assert opened.metric == "psf_size_residual_i"
    assert opened.where() == {"tract": 9814, "patch": 40}
    assert select(view, pn.Tabs)[0].active == 1
    unknown = create_explorer(catalog.root, selection={"metric": "nope", "tract": "9814"})
    assert select(unknown, pn.Tabs)[0].active == 0
    assert unknown.explorer.where() == {}  # type: ignore[attr-defined]


def test_corrupt_file_is_named_in_a_banner_and_the_rest_shown(
    catalog: DemoCatalog, tmp_path: Path
) -> None:
    import shutil

    root = tmp_path / "corrupt"
    shutil.copytree(catalog.root, root)
    broken = root / "objects" / "tract=9815.parquet"
    broken.write_bytes(b"not parquet at all")
    view = create_explorer(root)
    banners = [a for a in select(view, pn.pane.Alert) if a.name == "problems"]
    assert len(banners) == 1 and str(broken) in banners[0].object
    assert banners[0].alert_type == "warning"
    table = next(t for t in select(view, pn.widgets.Tabulator) if "worst" in t.value.columns)
    assert (table.value["status"] == "bad").sum() >= 3
    assert "**2** tracts" in view.explorer.header().object  # type: ignore[attr-defined]


def test_comparison_shows_a_missing_metric_as_missing(catalog: DemoCatalog, tmp_path: Path) -> None:
    import shutil

    other = tmp_path / "objects-only"
    shutil.copytree(catalog.root / "objects", other / "objects")
    view = create_explorer(catalog.root, other)
    explorer: Explorer = view.explorer  # type: ignore[attr-defined]
    explorer.open_metric("visit_psf_size_residual_i")
    column: Any = explorer.comparison()
    frame = _compared(explorer)
    assert len(frame) == 2  # the two i-band visits
    assert frame["value_other"].isna().all()
    assert (frame["missing"] == "missing in objects-only").all()
    assert frame["value"].notna().all() and frame["delta"].isna().all()
    title = next(part for part in column if part.name == "comparison-title").object
    assert "is missing in objects\\-only" in title  # Markdown-escaped name
