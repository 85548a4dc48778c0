"""Every dashboard page in Chromium, and the metric page's filters, x axis and branches."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import httpx
import pytest

Page = Any

# Waits for every Bokeh plot of the page to be drawn: the page says so on <html> (pages
# without plots: nothing to wait for).
PLOTS_DRAWN = """() => !document.querySelector('[data-bokeh-item]')
  || document.documentElement.dataset.plotsDrawn === 'true'"""

# What the plots show: per data source, its columns, length and sums of x and value.
PLOT_FINGERPRINT = """() => {
  const parts = [];
  for (const doc of Bokeh.documents) {
    for (const model of doc._all_models.values()) {
      const data = model.data;
      if (!data || typeof data !== 'object' || !('x' in data)) continue;
      const sum = (column) => column ? Array.from(column).reduce(
        (s, v) => s + (typeof v === 'number' && isFinite(v) ? v : 0), 0) : 0;
      parts.push(Object.keys(data).sort().join(',') + ':' + data.x.length + ':' +
        sum(data.x).toPrecision(12) + ':' + sum(data.value || data.y).toPrecision(12));
    }
  }
  return parts.sort().join('|');
}"""

METRIC = "validate_drp.PA1"
BRANCH_METRIC = "deblend.runtime"


def query(page: Page) -> dict[str, list[str]]:
    return parse_qs(urlsplit(page.url).query)


def goto(page: Page, path: str) -> Any:
    response = page.goto(path)
    page.wait_for_function(PLOTS_DRAWN)
    return response


def fingerprint(page: Page) -> str:
    return str(page.evaluate(PLOT_FINGERPRINT))


@pytest.fixture(scope="session")
def pages(server: str) -> dict[str, str]:
    """A path of every dashboard page, with real ids from the demo."""
    jobs = httpx.get(f"{server}/jobs", params={"format": "json"}).json()["jobs"]
    branches = httpx.get(f"{server}/compare", params={"format": "json"}).json()["branches"]
    found = {
        "overview": "/",
        "metrics": "/metrics",
        "metric": f"/metrics/{METRIC}",
        "metric-by-branch": f"/metrics/{BRANCH_METRIC}?view=branch",
        "jobs": "/jobs",
        "job": f"/jobs/{jobs[0]['id']}",
        "dataids": f"/metrics/{METRIC}/dataids?dataset=validation_data_hsc&band=i",
        "compare": f"/compare?branch={quote(branches[0]['name'])}",
        "compare-index": "/compare",
        "regressions": "/regressions",
    }
    return found


PAGE_NAMES = [
    "overview",
    "metrics",
    "metric",
    "metric-by-branch",
    "jobs",
    "job",
    "dataids",
    "compare",
    "compare-index",
    "regressions",
]


@pytest.mark.parametrize("name", PAGE_NAMES)
def test_page_loads_without_errors(
    page: Page, pages: dict[str, str], name: str, screenshot: Callable[[Page, str], Path]
) -> None:
    response = goto(page, pages[name])
    assert response is not None and response.status == 200
    assert page.locator("main h1").count() >= 1
    # The JSON twin of the page answers too.
    twin = page.request.get(pages[name], params={"format": "json"})
    assert twin.status == 200 and twin.headers["content-type"].startswith("application/json")
    screenshot(page, f"page-{name}")
    if name == "regressions":
        # And the first regression's own page, when the detector found one.
        link = page.locator('main a[href^="/regressions/"]').first
        if link.count():
            goto(page, str(link.get_attribute("href")))
            screenshot(page, "page-regression")


def test_metric_filters_change_the_plot_and_the_permalink(page: Page, browser: Any) -> None:
    goto(page, f"/metrics/{METRIC}")
    before = fingerprint(page)
    points_before = page.get_by_test_id("metric-plot").get_attribute("data-points")
    filters = page.get_by_test_id("filters")
    filters.locator('select[name="dataset"]').select_option("validation_data_cfht")
    page.wait_for_url(re.compile(r"dataset=validation_data_cfht"))
    page.wait_for_function(PLOTS_DRAWN)
    filters.locator('select[name="band"]').select_option("i")
    page.wait_for_url(re.compile(r"band=i"))
    page.wait_for_function(PLOTS_DRAWN)
    after = fingerprint(page)
    assert after and after != before
    assert page.get_by_test_id("metric-plot").get_attribute("data-points") != points_before or (
        after != before
    )
    state = query(page)
    assert state["dataset"] == ["validation_data_cfht"] and state["band"] == ["i"]

    # The URL is the permalink: a new page opened on it shows the same plot.
    permalink = page.url
    other = page.context.new_page()
    try:
        other.goto(permalink)
        other.wait_for_function(PLOTS_DRAWN)
        assert fingerprint(other) == after
        selected = other.get_by_test_id("filters").locator('select[name="dataset"]')
        assert selected.input_value() == "validation_data_cfht"
    finally:
        other.close()


def test_x_axis_switches_between_time_and_commit(page: Page) -> None:
    goto(page, f"/metrics/{METRIC}")
    time_view = fingerprint(page)
    page.get_by_test_id("xaxis-commit").click()
    page.wait_for_url(re.compile(r"x=commit"))
    page.wait_for_function(PLOTS_DRAWN)
    assert "on" in (page.get_by_test_id("xaxis-commit").get_attribute("class") or "")
    commit_view = fingerprint(page)
    assert commit_view != time_view
    page.get_by_test_id("xaxis-time").click()
    page.wait_for_url(lambda url: "x=commit" not in url)
    page.wait_for_function(PLOTS_DRAWN)
    assert "on" in (page.get_by_test_id("xaxis-time").get_attribute("class") or "")
    assert fingerprint(page) == time_view


def test_branch_overlay_toggles(page: Page) -> None:
    goto(page, f"/metrics/{BRANCH_METRIC}")
    overlay = page.get_by_test_id("branch-overlay")
    boxes = overlay.locator('input[name="branch"]')
    assert boxes.count() >= 2
    both = fingerprint(page)
    overlay.locator("summary").click()
    branch = next(
        boxes.nth(i).get_attribute("value")
        for i in range(boxes.count())
        if boxes.nth(i).get_attribute("value") != "main"
    )
    overlay.locator(f'input[name="branch"][value="{branch}"]').uncheck()
    page.get_by_test_id("filters").get_by_role("button", name="Apply").click()
    page.wait_for_url(re.compile(r"branch=main"))
    page.wait_for_function(PLOTS_DRAWN)
    assert branch not in query(page).get("branch", [])
    main_only = fingerprint(page)
    assert main_only != both
    page.get_by_test_id("branch-overlay").locator("summary").click()
    page.get_by_test_id("branch-overlay").locator(f'input[name="branch"][value="{branch}"]').check()
    page.get_by_test_id("filters").get_by_role("button", name="Apply").click()
    page.wait_for_url(lambda url: quote(branch, safe="") in url or branch in url)
    page.wait_for_function(PLOTS_DRAWN)
    assert fingerprint(page) == both


def test_a_dense_series_shows_its_markers_once_zoomed_in(page: Page, server: str) -> None:
    import json

    import numpy as np
    import pandas as pd
    from bokeh.embed import json_item

    from vigil import plots

    n = 3 * plots.DENSE_POINTS
    df = pd.DataFrame(
        {
            "job_id": np.arange(n),
            "time": pd.date_range("2026-01-01", periods=n, freq="h", tz="UTC"),
            "value": np.sin(np.arange(n) / 50.0),
            "branch": ["main"] * n,
        }
    )
    fig = plots.series_plot(df, thresholds=[plots.Threshold("design", 0.5, "<=", "design")])
    # BokehJS from the server, as the pages load it (Bokeh's INLINE resources would bring
    # the CDN links that Panel, imported by other tests, registers).
    page.set_content(
        f'<div id="plot"></div><script src="{server}/static/bokeh/js/bokeh.min.js"></script>'
        f"<script>Bokeh.embed.embed_item({json.dumps(json_item(fig))}, 'plot')</script>"
    )
    page.wait_for_function("() => window.Bokeh && Bokeh.documents.length === 1")
    visible = """() => {
      const renderers = [...Bokeh.documents[0]._all_models.values()].filter(
        m => m.type === 'GlyphRenderer' && m.glyph.type === 'Scatter');
      const named = name => renderers.find(m => m.name === name).visible;
      return [named('main'), named('failing')];
    }"""
    assert page.evaluate(visible) == [False, False]
    # Zoom to a tenth of the points: the markers and failing circles appear.
    page.evaluate(
        """() => {
      const plot = Bokeh.documents[0].roots()[0];
      const x = plot.x_range, width = (x.end - x.start) / 10;
      x.have_updated_interactively = true;  // as the zoom tools do
      x.setv({start: x.start, end: x.start + width});
    }"""
    )
    assert page.evaluate(visible) == [True, True]
