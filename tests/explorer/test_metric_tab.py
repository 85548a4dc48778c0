"""The metric tab redraws in place: opening a metric or drilling keeps the figures and
tables in the page and gives them the new selection, and a click on a table redrawn in
place acts on the rows it shows. In a served page the metric tab is filled once the
browser has drawn the quick look, or when it is shown before that, and only once."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import holoviews as hv
import pandas as pd
import panel as pn
import pytest
from bokeh.document import Document
from bokeh.models import Plot
from panel.io.state import set_curdoc
from panel.models.tabulator import CellClickEvent

from vigil.demo.catalog import DemoCatalog, generate_catalog
from vigil.explorer import _live, _views
from vigil.explorer.app import ALL, Explorer, create_explorer


@pytest.fixture(scope="module")
def catalog(tmp_path_factory: pytest.TempPathFactory) -> DemoCatalog:
    """Two tracts of 6,000 objects (metrics computed from the tables)."""
    root = tmp_path_factory.mktemp("metric-tab") / "demo"
    return generate_catalog(root, tracts=2, objects_per_tract=6000, visits=6, seed=11)


def _page(catalog: DemoCatalog) -> tuple[pn.viewable.Viewable, Document]:
    """The app of the catalogue and the Bokeh document it is drawn in."""
    hv.extension("bokeh", logo=False)
    view = create_explorer(catalog.root)
    document = Document()
    view.server_doc(document)
    return view, document


def _served_page(
    catalog: DemoCatalog, selection: dict[str, str] | None = None
) -> tuple[pn.viewable.Viewable, Document]:
    """The app of the catalogue made as a served session makes it (in its document, which
    the browser has not said it has drawn yet), and that document."""
    hv.extension("bokeh", logo=False)
    document = Document()
    pn.state._loaded[document] = False  # as for a session whose page is on its way
    with set_curdoc(document):
        view = create_explorer(catalog.root, selection=selection)
        view.server_doc(document)
    return view, document


def _page_drawn(document: Document) -> None:
    """What Panel does when the browser says it has drawn the page of *document*."""
    pn.state._on_load(document)


def _metric_tab(view: pn.viewable.Viewable) -> pn.Column:
    """What the metric tab holds."""
    explorer: Explorer = view.explorer  # type: ignore[attr-defined]
    assert explorer.tabs is not None
    tab = explorer.tabs[1]
    assert isinstance(tab, pn.Column)
    return tab


@contextmanager
def _frames_computed() -> Iterator[list[str]]:
    """The names of the `LivePlot` panes that compute a frame while inside, once a frame."""
    computed: list[str] = []
    framed = _live.LivePlot._framed

    def counted(plot: _live.LivePlot, element: Any) -> Any:
        computed.append(str(plot.pane.name))
        return framed(plot, element)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(_live.LivePlot, "_framed", counted)
        yield computed


def _titles(document: Document) -> dict[str, Any]:
    """The figures of *document* by title."""
    plots: list[Any] = list(document.select({"type": Plot}))
    return {p.title.text: p for p in plots if p.title is not None}


def _click(table: pn.widgets.Tabulator, row: int) -> None:
    """A click on the cell of *row* in the group column, as the browser sends it."""
    click: Callable[..., Any] = CellClickEvent
    table._process_event(click(model=None, column="group", row=row))


def _groups(view: pn.viewable.Viewable) -> pn.widgets.Tabulator:
    """The metric tab's table of groups."""
    (table,) = (
        t
        for t in view.select(pn.widgets.Tabulator)
        if isinstance(t, pn.widgets.Tabulator) and "group" in t.value.columns
    )
    return table


@pytest.mark.parametrize("datashade_rows", [1000, 10**9], ids=["rasterised", "points"])
def test_opening_a_metric_redraws_the_figures_already_drawn(
    catalog: DemoCatalog, monkeypatch: pytest.MonkeyPatch, datashade_rows: int
) -> None:
    import vigil.explorer.app as app

    monkeypatch.setattr(app, "DATASHADE_ROWS", datashade_rows)
    view, document = _page(catalog)
    explorer: Explorer = view.explorer  # type: ignore[attr-defined]
    first = explorer.metric
    figures = set(document.select({"type": Plot}))
    table = _groups(view)
    explorer.open_metric("psf_size_residual_i")
    assert explorer.metric != first
    assert set(document.select({"type": Plot})) == figures  # the same figures
    titles = _titles(document)
    count = len(explorer.values_frame())
    assert f"psf_size_residual_i ({count:,} sources)" in titles
    assert "psf_size_residual_i on the sky" in titles
    assert titles["psf_size_residual_i per tract / patch"] in figures
    assert _groups(view) is table
    assert list(table.value["group"]) == list(explorer.groups_frame()["group"])


def test_a_click_on_the_redrawn_groups_drills_into_the_group_shown(catalog: DemoCatalog) -> None:
    view, _ = _page(catalog)
    explorer: Explorer = view.explorer  # type: ignore[attr-defined]
    explorer.open_metric("psf_size_residual_i")
    tracts = explorer.groups_frame()
    table = _groups(view)
    _click(table, 1)
    assert explorer.tract == int(tracts["tract"].iloc[1])
    patches = explorer.groups_frame()
    assert list(table.value["group"]) == list(patches["group"])  # the same table, redrawn
    _click(table, 0)
    first: pd.Series = patches.iloc[0]
    assert (explorer.tract, explorer.patch) == (int(first["tract"]), int(first["patch"]))
    assert not table.visible  # the finest level: no groups left to list
    explorer.up()
    assert explorer.patch == ALL and table.visible


def test_the_groups_table_keeps_its_columns_from_level_to_level(catalog: DemoCatalog) -> None:
    # The browser then gets new rows, not a table built again; the keys a level lacks
    # are hidden and empty, and a click drills with the row's own keys.
    view, _ = _page(catalog)
    explorer: Explorer = view.explorer  # type: ignore[attr-defined]
    explorer.open_metric("psf_size_residual_i")
    table = _groups(view)
    columns, hidden = list(table.value.columns), list(table.hidden_columns)
    assert {"tract", "patch"} <= set(hidden)
    assert table.value["patch"].isna().all()  # every tract: no patch yet
    tracts = explorer.groups_frame()
    _click(table, 1)
    assert explorer.tract == int(tracts["tract"].iloc[1])
    assert (list(table.value.columns), list(table.hidden_columns)) == (columns, hidden)
    patches = explorer.groups_frame()
    _click(table, 0)
    first: pd.Series = patches.iloc[0]
    assert (explorer.tract, explorer.patch) == (int(first["tract"]), int(first["patch"]))


def test_the_path_bar_is_redrawn_in_place() -> None:
    calls: list[str] = []
    bar = _views.PathBar(lambda: calls.append("up"))
    shown = bar.show("psf_snr_i", [], None)
    assert bar.up.disabled and "every group" in bar.text.object
    assert bar.show("psf_snr_i", ["tract 9813"], None) is shown
    assert not bar.up.disabled and "tract 9813" in bar.text.object
    bar.up.clicks += 1
    assert calls == ["up"]
    back = pn.widgets.Button(label="Back to tract 9813 / patch 40")
    assert list(bar.show("visit_psf_snr_i", ["visit 1228"], back)) == [bar.text, bar.up, back]


def test_the_page_is_sent_with_the_quick_look_and_the_metric_tab_filled_once_drawn(
    catalog: DemoCatalog,
) -> None:
    view, document = _served_page(catalog)
    explorer: Explorer = view.explorer  # type: ignore[attr-defined]
    assert list(_metric_tab(view)) == []
    assert not _titles(document)  # no metric figure travels with the page
    tables = [t for t in view.select(pn.widgets.Tabulator) if isinstance(t, pn.widgets.Tabulator)]
    assert [list(t.value.columns)[:1] for t in tables] == [["metric"]]  # the quick look
    _page_drawn(document)
    (content,) = _metric_tab(view)
    assert _groups(view).visible
    titles = _titles(document)
    assert f"{explorer.metric} per tract / patch" in titles
    figures = set(document.select({"type": Plot}))
    explorer.open_metric("psf_size_residual_i")
    assert _metric_tab(view)[0] is content  # built once, then redrawn in place
    assert set(document.select({"type": Plot})) == figures
    assert "psf_size_residual_i on the sky" in _titles(document)


def test_a_metric_opened_before_the_page_is_drawn_fills_the_tab_once_with_it(
    catalog: DemoCatalog,
) -> None:
    view, document = _served_page(catalog)
    explorer: Explorer = view.explorer  # type: ignore[attr-defined]
    explorer.open_metric("psf_size_residual_i", {"tract": catalog.tracts[0]})
    assert explorer.tabs is not None and explorer.tabs.active == 1
    (content,) = _metric_tab(view)
    titles = _titles(document)
    count = len(explorer.values_frame())
    assert f"psf_size_residual_i ({count:,} sources)" in titles
    assert list(_groups(view).value["group"]) == list(explorer.groups_frame()["group"])
    figures = set(document.select({"type": Plot}))
    with _frames_computed() as computed:
        _page_drawn(document)
    assert computed == []  # nothing drawn again
    assert _metric_tab(view)[0] is content
    assert set(document.select({"type": Plot})) == figures


def test_a_page_opened_on_a_metric_is_sent_with_the_metric_tab(catalog: DemoCatalog) -> None:
    view, document = _served_page(catalog, {"metric": "psf_size_residual_i"})
    explorer: Explorer = view.explorer  # type: ignore[attr-defined]
    assert explorer.opened and explorer.tabs is not None and explorer.tabs.active == 1
    assert "psf_size_residual_i on the sky" in _titles(document)
    (content,) = _metric_tab(view)
    _page_drawn(document)
    assert _metric_tab(view)[0] is content


def test_each_rasterised_plot_is_aggregated_once_when_drawn(
    catalog: DemoCatalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    import vigil.explorer.app as app

    monkeypatch.setattr(app, "DATASHADE_ROWS", 1000)
    with _frames_computed() as computed:
        _page(catalog)
    # The sky map and the two rasterised metric plots: one frame each, not a second one
    # when the drawn plot reports the ranges it shows (the data's extent).
    assert sorted(computed) == sorted(["sky", "scatter", "skymap"])
