"""The linked view's rows, joined on the id, sampled and cut; the views follow the cuts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import holoviews as hv
import numpy as np
import pandas as pd
import panel as pn
import pytest
from bokeh.models import ColumnDataSource

from vigil.compute import compute_repository
from vigil.demo.catalog import DemoCatalog, generate_catalog
from vigil.explorer._cuts import Cuts
from vigil.explorer._linked import (
    SELECTED_ROWS,
    LinkedView,
    cut_values,
    linked_choices,
    linked_frame,
    linked_plots,
)
from vigil.explorer._panel import plain
from vigil.explorer.app import ALL, Explorer, create_explorer
from vigil.explorer.query import Repository

PATCH = {"tract": 9813, "patch": 40}
METRICS = ["psf_snr_i", "psf_size_residual_i", "psf_cmodel_mag_diff_i"]


@pytest.fixture(scope="module")
def catalog(tmp_path_factory: pytest.TempPathFactory) -> DemoCatalog:
    """One tract of 4,000 objects and two visits, metrics computed."""
    root = tmp_path_factory.mktemp("linked") / "demo"
    made = generate_catalog(root, tracts=1, objects_per_tract=4000, visits=2, seed=5)
    compute_repository(root)
    return made


@pytest.fixture(scope="module")
def repo(catalog: DemoCatalog) -> Repository:
    return Repository(catalog.root)


@pytest.fixture
def explorer(catalog: DemoCatalog) -> Explorer:
    view = create_explorer(catalog.root)
    found: Explorer = view.explorer  # type: ignore[attr-defined]
    return found


def subtitles(pane: Any) -> list[str]:
    """The lines under the title of a plot of the metric view, drawn by Bokeh."""
    plot = hv.render(pane.object)
    # Bokeh draws the last of `above` highest: the first line is the last.
    return [part.text for part in reversed(plot.above) if part.name == "cuts"]


def values_by_id(repo: Repository, metric: str, where: dict[str, int]) -> pd.Series:
    frame = repo.values(metric, where, limit=None)
    return frame.set_index("objectId")["value"].sort_index()


def test_choices_are_the_per_source_metrics_of_one_table_and_band(repo: Repository) -> None:
    infos = {info.name: info for info in repo.metrics()}
    choices = linked_choices(infos, "psf_snr_i")
    assert "psf_size_residual_i" in choices and "psf_snr_i" in choices
    assert all(infos[c].table == "objects" and infos[c].band == "i" for c in choices)
    assert all(infos[c].granularity == "source" for c in choices)
    assert "stellar_locus_width" not in choices and "psf_snr_g" not in choices
    visit = linked_choices(infos, "visit_psf_size_residual_r")
    assert visit and all(infos[c].table == "sources" for c in visit)
    assert linked_choices(infos, None) == []


def test_rows_are_joined_on_the_exact_id(repo: Repository) -> None:
    frame = linked_frame(repo, METRICS, PATCH, Cuts())
    assert frame["objectId"].dtype == np.dtype("int64")
    assert frame["objectId"].is_unique
    union: set[int] = set()
    for metric in METRICS:
        expected = values_by_id(repo, metric, PATCH)
        union |= set(expected.index)
        got = frame.set_index("objectId")[metric].dropna().sort_index()
        pd.testing.assert_series_equal(got, expected, check_names=False)
        assert frame.attrs["totals"][metric] == len(expected)
    assert set(frame["objectId"]) == union
    assert frame.attrs["sampled"] == []
    assert frame.attrs["cuts"] == "no cuts"


def test_above_the_budget_each_metric_is_a_uniform_sample(repo: Repository) -> None:
    where = {"tract": 9813}
    full = {metric: len(values_by_id(repo, metric, where)) for metric in METRICS}
    assert full["psf_snr_i"] > 500  # the case under test
    frame = linked_frame(repo, METRICS, where, Cuts(), rows=500)
    assert "psf_snr_i" in frame.attrs["sampled"]
    for metric in METRICS:
        drawn = int(frame[metric].notna().sum())
        assert drawn <= 500
        assert frame.attrs["totals"][metric] == full[metric]
    # A sample, not the first rows: it spans the whole tract's patches.
    patches = frame.loc[frame["psf_snr_i"].notna(), "patch"].nunique()
    assert patches > 20
    grid, _ = linked_plots(frame, METRICS)
    titles = [child[0].title.text for child in grid.children]
    drawn = int(frame["psf_snr_i"].notna().sum())
    assert f"psf_snr_i: sample of {drawn:,} of {full['psf_snr_i']:,} sources" in titles


def test_cuts_apply_to_the_joined_rows(repo: Repository) -> None:
    cuts = Cuts(snr_min=20, extendedness="stars")
    everything = linked_frame(repo, METRICS, PATCH, Cuts())
    cut = linked_frame(repo, METRICS, PATCH, cuts)
    columns = ["i_psfFlux", "i_psfFluxErr", "i_extendedness"]
    rows = pd.concat([repo.values(m, PATCH, columns=columns, limit=None) for m in METRICS])
    rows = rows.drop_duplicates("objectId")
    wanted = (rows["i_psfFlux"] / rows["i_psfFluxErr"] >= 20) & (rows["i_extendedness"] < 0.5)
    assert set(cut["objectId"]) == set(rows.loc[wanted, "objectId"])
    assert 0 < len(cut) < len(everything)
    assert cut.attrs["before"] == len(everything)
    assert cut.attrs["cuts"] == "S/N ≥ 20, stars"
    snr = cut["i_psfFlux"] / cut["i_psfFluxErr"]
    assert (snr >= 20).all() and (cut["i_extendedness"] < 0.5).all()


def test_a_selection_lists_the_selected_rows_with_exact_ids(
    explorer: Explorer, repo: Repository
) -> None:
    explorer.open_metric("psf_snr_i", PATCH)
    view = LinkedView(explorer)
    assert view.choice.value[0] == "psf_snr_i" and len(view.choice.value) == 3
    drawn = view._plots(view.choice.value)
    assert isinstance(drawn, pn.Column)
    pane: Any = drawn[1]  # the Bokeh pane under the summary
    grid = pane.object
    source = grid.select_one({"type": ColumnDataSource})
    assert "objectId" not in source.data  # ids never reach JavaScript numbers
    source.selected.indices = [2, 0, 5]
    assert view.count.object == f"**3 selected** of {len(view.frame):,}"
    listed = view.rows.value
    expected = view.frame.iloc[[0, 2, 5]]["objectId"]
    assert listed["objectId"].tolist() == [str(i) for i in expected]
    source.selected.indices = list(range(len(view.frame)))
    assert len(view.rows.value) == min(SELECTED_ROWS, len(view.frame))


def test_fewer_than_two_metrics_ask_for_more(explorer: Explorer) -> None:
    explorer.open_metric("psf_snr_i", PATCH)
    view = LinkedView(explorer)
    shown = view._plots(["psf_snr_i"])
    assert isinstance(shown, pn.pane.Markdown)
    assert "at least two metrics" in shown.object


def test_metric_view_and_source_table_follow_the_cuts(explorer: Explorer) -> None:
    explorer.open_metric("psf_snr_i", PATCH)
    everything = len(explorer.values_frame())
    explorer.param.update(extendedness="stars", mag_max=24.0)
    values = explorer.values_frame()
    assert 0 < len(values) < everything
    assert (values["mag"] <= 24.0).all()
    assert list(values.columns) == ["coord_ra", "coord_dec", "mag", "value"]
    kept = f"Cuts: mag ≤ 24, stars ({len(values):,} of {everything:,} sources kept)"
    view = explorer.metric_view()
    assert isinstance(view, pn.Row) and len(view) == 2
    for pane in view:
        lines = subtitles(pane)
        assert lines == [kept]
    sources = explorer.sources_frame()
    assert sources.attrs["total"] == len(values)
    assert (sources["i_extendedness"] < 0.5).all()
    table: Any = explorer.sources_view()
    assert "Sources of tract 9813, patch 40" in table[0].object
    assert table[1].object.startswith(plain(kept))
    assert "sky map per group count every source, before the cuts" in table[1].object


def test_contradicting_cuts_are_reported_not_applied(explorer: Explorer) -> None:
    explorer.open_metric("psf_snr_i", PATCH)
    explorer.param.update(mag_min=24.0, mag_max=20.0)
    frame = cut_values(explorer, ["mag", "value"])
    assert frame.attrs["not_applied"] == [
        "magnitude cut from 24.0 to 20.0: the lower end is above the upper one"
    ]
    assert "the lower end is above the upper one" in subtitles(explorer.metric_view()[0])[0]


def test_visit_metrics_cut_on_unprefixed_columns_and_band(explorer: Explorer) -> None:
    explorer.open_metric("visit_psf_size_residual_r")  # visits in g and r
    everything = len(explorer.values_frame())
    explorer.param.update(snr_min=100.0)
    kept = cut_values(explorer)
    assert 0 < len(kept) < everything
    assert (kept["psfFlux"] / kept["psfFluxErr"] >= 100).all()
    explorer.param.update(snr_min=None, cut_band="g")  # an r-band metric has no g rows
    assert len(cut_values(explorer)) == 0
    assert explorer.param.cut_band.objects == [ALL, "g", "r", "i"]


def test_a_fit_says_the_cuts_do_not_apply(explorer: Explorer) -> None:
    explorer.open_metric("stellar_locus_width")
    explorer.extendedness = "galaxies"
    assert "apply to per-source values only" in subtitles(explorer.metric_view()[0])[0]


def test_the_app_has_a_linked_tab(catalog: DemoCatalog) -> None:
    view: Any = create_explorer(Path(catalog.root))
    tabs = next(part for part in view.select(pn.Tabs) if isinstance(part, pn.Tabs))
    assert "Linked" in tabs._names


def test_a_cut_that_keeps_nothing_draws_empty_plots(explorer: Explorer) -> None:
    explorer.open_metric("psf_snr_i", PATCH)
    explorer.mag_min = 99.0
    view = LinkedView(explorer)
    drawn: Any = view._plots(view.choice.value)
    assert isinstance(drawn, pn.Column)
    assert len(view.frame) == 0
    summary: Any = drawn[0]
    assert summary.object.startswith("**0** of ")
    assert view.count.object == "No rows to select."
