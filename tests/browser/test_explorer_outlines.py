"""The explorer in Chromium: visit outlines on a tract's sky map, and from a patch to the
visits behind it (with their detectors) and back."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from playwright.sync_api import expect

from vigil.explorer._outlines import visits_behind
from vigil.explorer.query import Repository

from .test_explorer import _plots_drawn, explore_url, repo_root

__all__ = ["explore_url", "repo_root"]  # the fixtures this module uses

OUTLINES = """() => {
    const out = [];
    for (const doc of Bokeh.documents) for (const m of doc.all_models) {
        if (m.type !== 'GlyphRenderer' || !m.glyph || m.glyph.type !== 'Quad') continue;
        const data = m.data_source.data;
        if (!data.visit) continue;
        out.push({visits: [...data.visit].map(Number), bands: [...data.band].map(String),
                  detectors: data.detector ? [...data.detector].map(Number) : null});
    }
    return out;
}"""
"""The outlines drawn: the visits (and detectors) of each rectangle glyph."""


def _outlines(page: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = page.evaluate(OUTLINES)
    return found


def test_outlines_and_the_visits_behind_a_patch(
    checked_page: Any,
    explore_url: str,
    repo_root: Path,
    screenshot: Callable[[Any, str], Path],
) -> None:
    page = checked_page
    with Repository(repo_root / "demo") as repo:
        behind = visits_behind(repo, 9814, 40)
    assert len(behind)
    page.goto(f"{explore_url}?metric=psf_size_residual_i&tract=9814&patch=40")
    page.get_by_text("Visits behind tract 9814, patch 40").first.wait_for(timeout=120_000)
    _plots_drawn(page, 3)
    assert _outlines(page) == []  # off by default

    # Toggle the outlines: the visits over tract 9814 are drawn on its sky map.
    page.locator("input[type=checkbox]").check()  # the only one: Outlines
    page.wait_for_function(f"() => ({OUTLINES})().length > 0")
    drawn = _outlines(page)
    assert len(drawn) == 1 and drawn[0]["detectors"] is None
    assert set(behind["visit"]) <= set(drawn[0]["visits"])
    page.wait_for_timeout(500)
    screenshot(page, "explorer-outlines-tract")

    # A visit behind the patch: its visit view lists its detectors.
    row = behind.iloc[0]
    visit, band = int(row["visit"]), str(row["band"])
    table = page.locator(".tabulator").filter(has=page.locator('[tabulator-field="detectors"]'))
    cell = table.locator('.tabulator-cell[tabulator-field="visit"]').filter(
        has_text=re.compile(f"^{visit}$")
    )
    cell.first.click()
    metric = f"visit_psf_size_residual_{band}"
    page.get_by_text(f"{metric} / visit {visit}").first.wait_for(timeout=60_000)
    first = page.locator('.tabulator-cell[tabulator-field="group"]:visible').first
    expect(first).to_have_text(re.compile(f"^visit {visit}, detector \\d+$"), timeout=60_000)
    # The outlines now are that visit's detectors.
    page.wait_for_function(
        f"() => ({OUTLINES})().some(o => o.detectors && o.visits.every(v => v === {visit}))"
    )
    detectors = next(o for o in _outlines(page) if o["detectors"])["detectors"]
    assert set(row["detectors"]) <= set(detectors)
    page.wait_for_timeout(500)
    screenshot(page, "explorer-outlines-visit")

    # And back to the patch.
    page.get_by_role("button", name="Back to tract 9814 / patch 40").click()
    page.get_by_text("psf_size_residual_i / tract 9814 / patch 40").first.wait_for(timeout=60_000)
    page.get_by_text("Visits behind tract 9814, patch 40").first.wait_for()
    expect(page.get_by_role("button", name="Back to tract 9814 / patch 40")).to_have_count(0)
