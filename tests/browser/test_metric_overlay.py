"""The overlay page in Chromium: several bands on one plot, each with its legend entry."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

Page = Any

PLOTS_DRAWN = """() => !document.querySelector('[data-bokeh-item]')
  || document.documentElement.dataset.plotsDrawn === 'true'"""

# The drawn legend of the page's plot: its labels, and the box BokehJS laid it out in
# (a legend that was not drawn has no view).
LEGEND = """() => {
  const doc = Bokeh.documents[0];
  const legend = [...doc._all_models.values()].find(m => m.type === 'Legend');
  const view = doc.views_manager.find_one(legend);
  const box = view ? view.bbox : null;
  return {
    labels: legend.items.map(item => item.label.value),
    drawn: Boolean(box && box.width > 0 && box.height > 0),
    visible: legend.items.map(item => item.renderers.every(r => r.visible)),
    box: box ? {x: box.x, y: box.y, width: box.width, height: box.height} : null,
  };
}"""

# Each band's strip: its line's colour and its range.
BANDS = """() => [...Bokeh.documents[0]._all_models.values()]
  .filter(m => m.type === 'GlyphRenderer' && m.glyph.type === 'Quad')
  .map(r => ({name: r.name, low: r.data_source.data.low[0], high: r.data_source.data.high[0]}))
  .sort((a, b) => a.name.localeCompare(b.name))"""

METRIC = "validate_drp.PA1"
DATASET = "validation_data_hsc"


def overlay_path(**params: str) -> str:
    query = "&".join(f"{k}={quote(v)}" for k, v in params.items())
    return f"/metrics/{METRIC}/overlay?{query}"


def test_overlay_of_three_bands_draws_three_legend_entries(
    page: Page, screenshot: Callable[[Page, str], Path]
) -> None:
    page.goto(overlay_path(dataset=DATASET, by="band"))
    page.wait_for_function(PLOTS_DRAWN)
    legend = page.evaluate(LEGEND)
    assert legend["labels"] == ["g", "r", "i"]
    assert legend["drawn"]
    assert legend["visible"] == [True, True, True]
    # One band per line, each the range its table row gives.
    twin = page.request.get(overlay_path(dataset=DATASET, by="band", format="json")).json()
    bands = page.evaluate(BANDS)
    assert [b["name"] for b in bands] == ["band:0", "band:1", "band:2"]
    for band, line in zip(bands, twin["lines"], strict=True):
        assert band["low"] == line["expected"]["low"]
        assert band["high"] == line["expected"]["high"]
        assert line["expected"]["low"] < line["expected"]["centre"] < line["expected"]["high"]
    rows = page.locator('[data-testid="overlay-lines"] tbody tr')
    assert rows.count() == 3
    screenshot(page, "metric-overlay-bands")

    # A click on the first legend entry hides that line and its band.
    box = legend["box"]
    canvas = page.locator('[data-testid="overlay-plot"] .bk-Canvas, [data-testid="overlay-plot"]')
    origin = canvas.first.bounding_box()
    assert origin is not None
    page.mouse.click(origin["x"] + box["x"] + 20, origin["y"] + box["y"] + box["height"] / 6)
    page.wait_for_function(
        "() => [...Bokeh.documents[0]._all_models.values()].find(m => m.type === 'Legend')"
        ".items[0].renderers.every(r => !r.visible)"
    )
    assert page.evaluate(LEGEND)["visible"] == [False, True, True]


def test_a_partial_data_id_overlays_one_patch_in_every_band(page: Page) -> None:
    page.goto(f"/metrics/{METRIC}?dataset={DATASET}")
    page.wait_for_function(PLOTS_DRAWN)
    page.get_by_test_id("overlay-link").click()
    page.wait_for_url("**/overlay?*")
    page.wait_for_function(PLOTS_DRAWN)
    page.get_by_test_id("overlay-data-id").fill('{"patch": 40}')
    page.get_by_test_id("overlay-filters").get_by_role("button", name="Apply").click()
    page.wait_for_url("**data_id=*")
    page.wait_for_function(PLOTS_DRAWN)
    assert json.loads(parse_qs(urlsplit(page.url).query)["data_id"][0]) == {"patch": 40}
    assert page.evaluate(LEGEND)["labels"] == ["g", "r", "i"]
    cells = page.locator('[data-testid="overlay-lines"] tbody tr td:nth-child(3)')
    texts = cells.all_inner_texts()
    assert len(texts) == 3 and all("patch=40" in t for t in texts), texts
    # Commit order keeps the three lines.
    page.get_by_test_id("xaxis-commit").click()
    page.wait_for_url("**x=commit*")
    page.wait_for_function(PLOTS_DRAWN)
    assert page.evaluate(LEGEND)["labels"] == ["g", "r", "i"]
