"""The explorer in Chromium: a box selection on one metric's plot highlights the same
objects on the other metrics' plots and on the sky map, and a live cut redraws them."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from vigil.explorer.query import Repository

from .test_explorer import explore_url, repo_root

__all__ = ["explore_url", "repo_root"]  # the fixtures this module uses

SELECTED = """() => {
    const out = {};
    for (const doc of Bokeh.documents) for (const m of doc.all_models) {
        if (m.type !== 'GlyphRenderer' || !m.name || !m.name.startsWith('linked-')) continue;
        out[m.name] = [...m.data_source.selected.indices].sort((a, b) => a - b);
    }
    return out;
}"""
"""The selected row indices of each linked plot's renderer, by renderer name."""

PLOTS = """() => {
    const out = [];
    const walk = view => {
        const linked = r => r.name && r.name.startsWith('linked-');
        if (view.model.type === 'Figure' && view.model.renderers.some(linked)) {
            const box = view.el.getBoundingClientRect();
            const frame = view.frame.bbox;
            out.push({title: view.model.title.text, x: box.x + frame.left, y: box.y + frame.top,
                      width: frame.width, height: frame.height});
        }
        for (const child of view.child_views ?? []) walk(child);
    };
    for (const root of Bokeh.index.roots ?? Object.values(Bokeh.index)) walk(root);
    return out;
}"""
"""The linked figures drawn (those of the linked renderers; the metric tab's are drawn
too): title and plot area in page coordinates."""


def _figures(page: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = page.evaluate(PLOTS)
    return found


def _selected(page: Any) -> dict[str, list[int]]:
    found: dict[str, list[int]] = page.evaluate(SELECTED)
    return found


def _drag(page: Any, plot: dict[str, Any], start: float, end: float) -> None:
    """Drag the box-select tool across *plot* from *start* to *end* (fractions of its area)."""
    x0, y0 = plot["x"] + plot["width"] * start, plot["y"] + plot["height"] * start
    x1, y1 = plot["x"] + plot["width"] * end, plot["y"] + plot["height"] * end
    page.mouse.move(x0, y0)
    page.mouse.down()
    page.mouse.move(x1, y1, steps=8)
    page.mouse.up()


def test_box_selection_is_linked_and_cuts_redraw(
    checked_page: Any,
    explore_url: str,
    repo_root: Path,
    screenshot: Callable[[Any, str], Path],
) -> None:
    page = checked_page
    where = {"tract": 9813, "patch": 40}
    with Repository(repo_root / "demo") as repo:
        ids = {str(i) for i in repo.values("psf_snr_i", where, limit=None)["objectId"]}
    page.goto(f"{explore_url}?metric=psf_snr_i&tract=9813&patch=40")
    page.get_by_text("psf_snr_i / tract 9813 / patch 40").first.wait_for(timeout=120_000)
    page.locator(".bk-tab", has_text="Linked").first.click()
    summary = page.get_by_text(re.compile(r"rows of psf_snr_i, .* in tract 9813, patch 40"))
    summary.first.wait_for(timeout=60_000)
    page.wait_for_function(f"() => ({PLOTS})().length === 4")
    figures = _figures(page)
    titles = [f["title"] for f in figures]
    assert titles[0] == f"psf_snr_i: {len(ids)} sources"
    assert titles[-1] == f"{len(ids)} sources on the sky"
    assert _selected(page) == {
        "linked-0": [],
        "linked-1": [],
        "linked-2": [],
        "linked-sky": [],
    }

    # A box over the whole of the first plot's area selects all its points: the same
    # rows are then selected on the other metrics' plots and on the sky map.
    _drag(page, figures[0], 0.02, 0.98)
    page.wait_for_function(f"() => ({SELECTED})()['linked-0'].length > 0")
    selected = _selected(page)
    chosen = selected["linked-0"]
    assert selected["linked-1"] == chosen
    assert selected["linked-2"] == chosen
    assert selected["linked-sky"] == chosen
    # The server heard it: the count and the rows' ids, exact 64-bit ids as text.
    count = page.get_by_text(re.compile(r"^\d[\d,]* selected of \d+"))
    count.first.wait_for()
    assert count.first.inner_text().startswith(f"{len(chosen)} selected of {len(ids)}")
    cells = page.locator('.tabulator-cell[tabulator-field="objectId"]')
    cells.first.wait_for()
    listed = {text.strip() for text in cells.all_inner_texts()}
    assert listed and listed <= ids
    page.wait_for_timeout(300)
    screenshot(page, "explorer-linked-selected")

    # A smaller box on the sky map: fewer rows, selected on every metric's plot too.
    _drag(page, figures[-1], 0.3, 0.7)
    page.wait_for_function(
        f"() => {{ const s = ({SELECTED})(); return s['linked-sky'].length > 0"
        f" && s['linked-sky'].length < {len(chosen)}; }}"
    )
    selected = _selected(page)
    assert selected["linked-0"] == selected["linked-1"] == selected["linked-sky"]

    # A live cut: stars only. The plots are redrawn with fewer rows, and say so.
    extendedness = page.locator("select", has=page.locator("option", has_text="galaxies"))
    extendedness.select_option("stars")
    page.get_by_text("cuts: stars").first.wait_for(timeout=60_000)
    page.wait_for_function(
        f"() => ({PLOTS})().some(f => f.title.startsWith('psf_snr_i: ')"
        f" && f.title !== 'psf_snr_i: {len(ids)} sources')"
    )
    title = next(f["title"] for f in _figures(page) if f["title"].startswith("psf_snr_i: "))
    stars = int(re.findall(r"\d+", title.removeprefix("psf_snr_i"))[0])
    assert 0 < stars < len(ids)
    page.get_by_text(f"0 selected of {stars}").first.wait_for()
    screenshot(page, "explorer-linked-stars")

    # The metric tab follows the same cut: its plots' titles and its source table say so.
    page.locator(".bk-tab", has_text="Metric").first.click()
    kept = f"Cuts: stars ({stars} of {len(ids)} sources kept)"
    page.get_by_text(kept).first.wait_for()
    page.wait_for_function(
        """text => [...Bokeh.documents].some(doc => [...doc.all_models].filter(
            m => m.type === 'Title' && m.text === text).length >= 2)""",
        arg=kept,
    )
    page.get_by_text(f"Sources of tract 9813, patch 40: {stars} (all)").first.wait_for()
    screenshot(page, "explorer-metric-stars")
