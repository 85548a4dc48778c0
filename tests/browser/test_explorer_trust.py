"""The explorer in Chromium tells the truth: exact 64-bit ids, "unknown" for a metric
whose file cannot be read, the band's visits only (and no traceback), the comparison of
the chosen tract ranked by change, and large plots with their titles and axes."""

from __future__ import annotations

import re
import shutil
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
import pytest
from playwright.sync_api import expect

from vigil.compute import compute_repository
from vigil.demo.catalog import generate_catalog
from vigil.explorer.app import DATASHADE_ROWS
from vigil.explorer.query import Repository

from .conftest import free_port
from .test_explorer import _env, _plots_drawn, _start, _stop

BROKEN_METRIC = "psf_size_residual_i"
"""The metric whose file of tract 9814 (the planted bad patch's) is made unreadable."""


@pytest.fixture(scope="module")
def roots(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """``broken``: a demo repository of more than `DATASHADE_ROWS` objects whose
    `BROKEN_METRIC` file of tract 9814 is cut short; ``rerun``: the same drawn again."""
    base = tmp_path_factory.mktemp("explore-trust")
    demo, rerun = base / "demo", base / "rerun"
    generate_catalog(demo, tracts=2, objects_per_tract=12_000, visits=6, seed=11)
    compute_repository(demo)
    generate_catalog(rerun, tracts=2, objects_per_tract=12_000, visits=6, seed=12)
    compute_repository(rerun)
    broken = base / "broken"
    shutil.copytree(demo, broken)
    cut = broken / "metrics" / BROKEN_METRIC / "tract=9814.parquet"
    cut.write_bytes(cut.read_bytes()[:100])
    return {"broken": broken, "rerun": rerun, "base": base}


@pytest.fixture(scope="module")
def trust_url(roots: dict[str, Path], chromium: Path) -> Iterator[str]:
    """``vigil explore BROKEN --compare RERUN``."""
    port = free_port()
    command = [sys.executable, "-m", "vigil", "explore", str(roots["broken"])]
    command += ["--compare", str(roots["rerun"]), "--port", str(port), "--no-show"]
    url = f"http://127.0.0.1:{port}/explorer"
    process = _start(command, url, _env(), roots["base"] / "explore.log")
    try:
        yield url
    finally:
        _stop(process)


@pytest.fixture
def server_log(roots: dict[str, Path]) -> Callable[[], str]:
    """The explore server's output so far."""
    return lambda: (roots["base"] / "explore.log").read_text(errors="replace")


def _figures(page: Any) -> list[dict[str, Any]]:
    """Every Bokeh figure of the page: title, axis labels, x range, colour limits."""
    found: list[dict[str, Any]] = page.evaluate(
        """() => {
        const out = [];
        for (const doc of Bokeh.documents) for (const m of doc.all_models) {
            if (m.type !== 'Figure') continue;
            const bars = [...m.right, ...m.center].filter(r => r.color_mapper);
            out.push({
                title: m.title ? m.title.text : null,
                x: m.below.map(a => a.axis_label),
                y: m.left.map(a => a.axis_label),
                start: m.x_range.start, end: m.x_range.end,
                flipped: m.x_range.flipped === undefined ? null : m.x_range.flipped,
                clim: bars.length ? [bars[0].color_mapper.low, bars[0].color_mapper.high] : null,
            });
        }
        return out;
    }"""
    )
    return found


def _select(page: Any, label: str) -> Any:
    """The ``<select>`` of the widget labelled *label* (Metric, Tract, Visit, ...)."""
    return (
        page.locator(".bk-input-group").filter(has_text=re.compile(f"^{label}")).locator("select")
    )


def test_object_ids_shown_are_the_catalogue_ids(
    checked_page: Any, trust_url: str, roots: dict[str, Path], screenshot: Callable[..., Path]
) -> None:
    page = checked_page
    page.goto(f"{trust_url}?metric=psf_snr_i&tract=9813&patch=40")
    page.get_by_text("Sources of tract 9813, patch 40").first.wait_for(timeout=120_000)
    cells = page.locator('.tabulator-cell[tabulator-field="objectId"]:visible')
    expect(cells.first).to_be_visible()
    shown = [text.strip() for text in cells.all_inner_texts()]
    stored = pq.read_table(roots["broken"] / "metrics" / "psf_snr_i" / "tract=9813.parquet")
    ids = {str(i) for i in stored.column("objectId").to_pylist()}
    assert len(shown) >= 10 and set(shown) <= ids, [s for s in shown if s not in ids]
    assert max(int(s) for s in shown) > 2**53  # beyond what a JavaScript number holds
    screenshot(page, "explorer-trust-ids")


def test_an_unreadable_metric_file_shows_unknown(
    checked_page: Any, trust_url: str, screenshot: Callable[..., Path]
) -> None:
    page = checked_page
    page.goto(trust_url)
    row = page.locator(".tabulator-row:visible").filter(
        has=page.locator('.tabulator-cell[tabulator-field="metric"]').filter(
            has_text=re.compile(f"^{BROKEN_METRIC}$")
        )
    )
    expect(row.locator('.tabulator-cell[tabulator-field="status"]')).to_have_text(
        "unknown", timeout=120_000
    )
    reason = row.locator('.tabulator-cell[tabulator-field="reason"]')
    expect(reason).to_contain_text("tract=9814.parquet")
    colour = row.evaluate("r => getComputedStyle(r.querySelector('.tabulator-cell')).background")
    assert "212, 237, 218" not in colour  # not the green of ok
    screenshot(page, "explorer-trust-unknown")


def test_the_visit_list_follows_the_band_without_a_traceback(
    checked_page: Any, trust_url: str, server_log: Callable[[], str]
) -> None:
    page = checked_page
    # A link to a g-band visit of an i-band metric: the metric opens, the visit is not taken.
    page.goto(f"{trust_url}?metric=visit_psf_size_residual_i&visit=1228")
    page.get_by_text("visit_psf_size_residual_i / every group").first.wait_for(timeout=120_000)
    visits = _select(page, "Visit")
    options = [o.strip() for o in visits.locator("option").all_inner_texts()]
    assert options == ["all", "1236", "1238"]
    # A g-band visit chosen for a g-band metric, then an i-band metric.
    _select(page, "Metric").select_option("visit_psf_size_residual_g")
    expect(visits.locator("option").nth(1)).to_have_text("1228")
    assert visits.locator("option").all_inner_texts()[1:] == ["1228", "1230"]
    visits.select_option("1228")
    page.get_by_text("visit_psf_size_residual_g / visit 1228").first.wait_for()
    _select(page, "Metric").select_option("visit_psf_size_residual_i")
    page.get_by_text("visit_psf_size_residual_i / every group").first.wait_for()
    expect(visits).to_have_value(re.compile("all"))
    _plots_drawn(page, 3)
    titles = [f["title"] for f in _figures(page)]
    assert any(t and t.startswith("visit_psf_size_residual_i (") for t in titles), titles
    assert "Traceback" not in server_log()


def test_the_comparison_of_the_chosen_tract_is_ranked_by_change(
    checked_page: Any, trust_url: str, screenshot: Callable[..., Path]
) -> None:
    page = checked_page
    page.goto(f"{trust_url}?metric=psf_cmodel_mag_diff_i&tract=9814")
    page.get_by_text("psf_cmodel_mag_diff_i / tract 9814").first.wait_for(timeout=120_000)
    page.locator(".bk-tab", has_text="Compare").first.click()
    page.get_by_text("tract 9814, largest change first").first.wait_for(timeout=60_000)
    table = page.locator("table.dataframe").first
    header = [h.strip() for h in table.locator("thead th").all_inner_texts()]
    rows = table.locator("tbody tr")
    expect(rows).to_have_count(81)
    texts = (rows.nth(i).locator("td").all_inner_texts() for i in range(81))
    cells = [[cell.strip() for cell in row] for row in texts]
    tracts = {row[header.index("tract")] for row in cells}
    assert tracts == {"9814"}
    deltas = np.array([float(row[header.index("delta")]) for row in cells])
    assert (np.diff(np.abs(deltas)) <= 1e-9).all()  # largest change first
    screenshot(page, "explorer-trust-compare")


def test_large_plots_keep_titles_axes_and_robust_colours(
    checked_page: Any, trust_url: str, roots: dict[str, Path], screenshot: Callable[..., Path]
) -> None:
    page = checked_page
    page.goto(f"{trust_url}?metric=psf_snr_i")
    page.get_by_text("psf_snr_i / every group").first.wait_for(timeout=120_000)
    _plots_drawn(page, 3)
    page.wait_for_function(
        """() => Bokeh.documents.some(d => [...d.all_models].some(
            m => m.type === 'Figure' && m.title && m.title.text === 'psf_snr_i on the sky'))"""
    )
    figures = {f["title"]: f for f in _figures(page)}
    scatter = next(f for t, f in figures.items() if t and t.startswith("psf_snr_i ("))
    rows = int(re.sub(r"\D", "", scatter["title"].split("(")[1]))
    assert rows > DATASHADE_ROWS  # rasterised
    assert (scatter["x"], scatter["y"]) == (["magnitude"], ["psf_snr_i"])
    sky = figures["psf_snr_i on the sky"]
    assert (sky["x"], sky["y"]) == (["RA (deg)"], ["Dec (deg)"])
    assert sky["flipped"] or sky["start"] > sky["end"]  # RA grows to the left
    with Repository(roots["broken"]) as repo:
        values = repo.values("psf_snr_i", limit=None)["value"].to_numpy()
    assert len(values) == rows
    assert sky["clim"] == pytest.approx(list(np.percentile(values, [1, 99])))
    assert sky["clim"][1] < values.max()  # the brightest stars do not stretch the scale
    screenshot(page, "explorer-trust-large")
