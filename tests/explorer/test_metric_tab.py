"""The metric tab redraws in place: opening a metric or drilling keeps the figures and
tables in the page and gives them the new selection, and a click on a table redrawn in
place acts on the rows it shows."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import holoviews as hv
import pandas as pd
import panel as pn
import pytest
from bokeh.document import Document
from bokeh.models import Plot
from panel.models.tabulator import CellClickEvent

from vigil.demo.catalog import DemoCatalog, generate_catalog
from vigil.explorer import _views
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
