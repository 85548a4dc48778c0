"""The metric page on six months of nightly CI plus the real dispatched ``verify_job.json``:
the richest series by default, clicks that open jobs beside regression markers, a
shift+click that shows a point's code changes, stale filters dropped."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import httpx
import pytest

from .conftest import serve

Page = Any

PA1 = "validate_drp.PA1"
PLOTS_DRAWN = "() => document.documentElement.dataset.plotsDrawn === 'true'"

# Where on the screen the main line's first point from position *start* on that is not
# under a regression marker is drawn, and its job.
POINT = """(start) => {
  const doc = Bokeh.documents[0]
  const plot = doc.roots()[0]
  const view = Object.values(Bokeh.index).find((v) => v.model === plot)
  const sources = [...doc._all_models.values()].filter((m) => m.type === "ColumnDataSource")
  const main = sources.find((m) => m.name === "branch:main").data
  const markers = sources.find((m) => m.name === "markers")
  const marked = new Set(markers ? Array.from(markers.data.x) : [])
  const free = (x, k) => k >= start && !marked.has(x) && Number.isFinite(main.value[k])
  const i = Array.from(main.x).findIndex(free)
  const rect = view.canvas_view.el.getBoundingClientRect()
  return {
    job: main.job_id[i],
    markers: marked.size,
    x: rect.left + view.frame.x_scale.compute(main.x[i]),
    y: rect.top + view.frame.y_scale.compute(main.value[i]),
  }
}"""


# Where the first regression marker is drawn, and its record.
MARKER = """() => {
  const doc = Bokeh.documents[0]
  const plot = doc.roots()[0]
  const view = Object.values(Bokeh.index).find((v) => v.model === plot)
  const models = [...doc._all_models.values()]
  const markers = models.find((m) => m.type === "ColumnDataSource" && m.name === "markers").data
  const rect = view.canvas_view.el.getBoundingClientRect()
  return {
    id: markers.id[0],
    x: rect.left + view.frame.x_scale.compute(markers.x[0]),
    y: rect.top + view.frame.y_scale.compute(markers.value[0]),
  }
}"""


@pytest.fixture(scope="module")
def hsc_server(tmp_path_factory: pytest.TempPathFactory, chromium: Path) -> Iterator[str]:
    """``vigil serve`` on the full demo history (180 nights: 177 HSC jobs per band on
    the main line) with the conformance ``verify_job.json`` stored as
    ``dispatch_verify.py`` sent it, and its regressions found."""
    from vigil.demo import DemoHistory
    from vigil.demo.loader import demo_settings, load_history, prepare_database
    from vigil.server.factory import Factory

    folder = tmp_path_factory.mktemp("metric-hsc")
    settings = demo_settings(folder)
    prepare_database(settings)
    load_history(settings, DemoHistory())
    conformance = Path(__file__).resolve().parents[3] / "shared" / "conformance"
    verify_job = json.loads((conformance / "squash" / "verify_job.json").read_text())
    with Factory.standalone(settings) as factory:
        factory.create_job_service().ingest(verify_job, None)
        factory.create_worker_service().run_once()
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIGIL_")}
    env.update(
        VIGIL_DATA_DIR=str(folder),
        VIGIL_DATABASE_URL=f"sqlite:///{folder / 'vigil.sqlite3'}",
        VIGIL_ARTIFACT_URL=str(folder / "artifacts"),
        VIGIL_BACKGROUND_WORKER="false",
    )
    with serve(env, folder / "server.log") as base:
        yield base


def goto(page: Page, url: str) -> None:
    page.goto(url)
    page.wait_for_function(PLOTS_DRAWN)


def query(page: Page) -> dict[str, list[str]]:
    return parse_qs(urlsplit(page.url).query)


def test_the_pa1_page_opens_on_the_177_point_hsc_series(page: Page, hsc_server: str) -> None:
    goto(page, f"{hsc_server}/metrics/validate_drp.PA1")
    assert page.get_by_test_id("metric-plot").get_attribute("data-points") == "177"
    body = httpx.get(f"{hsc_server}/metrics/validate_drp.PA1?format=json").json()
    assert body["series"]["dataset"] == "validation_data_hsc"
    assert body["point_count"] == 177
    # The one-point aggregate of verify_job.json is one click away in the picker.
    picker = page.get_by_test_id("series-picker")
    picker.locator("summary").click()
    aggregate = picker.get_by_role("link", name=re.compile(r"validation_data_cfht \(all\)"))
    assert aggregate.count() == 1 and "1 point" in aggregate.inner_text()


def test_a_click_on_a_point_of_a_series_with_a_marker_opens_its_job(
    page: Page, hsc_server: str
) -> None:
    found = httpx.get(f"{hsc_server}/regressions", params={"format": "json"}).json()
    series = next(r["series"] for r in found["items"] if r["series"]["metric"] == PA1)
    data_id = quote(json.dumps(series["data_id"]))
    url = f"{hsc_server}/metrics/{PA1}?dataset={series['dataset']}&data_id={data_id}&period=all"
    goto(page, url)
    point = page.evaluate(POINT, 5)
    assert point["markers"] >= 1

    # A click opens the job.
    page.mouse.click(point["x"], point["y"])
    page.wait_for_url(re.compile(rf"/jobs/{point['job']}$"))

    # A click on the marker opens its regression.
    goto(page, url)
    marker = page.evaluate(MARKER)
    page.mouse.click(marker["x"], marker["y"])
    page.wait_for_url(re.compile(rf"/regressions/{marker['id']}$"))

    # A shift+click shows the point's job, value and code changes under the plot.
    # (Each gesture on a fresh page: Bokeh takes a second tap within 300 ms, wherever it
    # lands, for a double tap.)
    goto(page, url)
    page.keyboard.down("Shift")
    page.mouse.click(point["x"], point["y"])
    page.keyboard.up("Shift")
    panel = page.locator(f'#point-panel[data-job="{point["job"]}"]')
    panel.wait_for()
    assert page.url.startswith(url)
    assert panel.get_by_test_id("point-job").inner_text() == f"#{point['job']}"
    assert panel.get_by_text("Code changes").count() == 1


def test_a_new_dataset_drops_the_branch_and_dataid_it_makes_impossible(
    page: Page, hsc_server: str
) -> None:
    # verify_job.json carries no branch: its one-point series is the "(no branch)" line.
    goto(
        page,
        f"{hsc_server}/metrics/validate_drp.PA1?dataset=validation_data_cfht"
        f"&data_id={quote('{}')}&branch={quote('(no branch)')}",
    )
    assert page.get_by_test_id("metric-plot").get_attribute("data-points") == "1"
    page.get_by_test_id("filters").locator('select[name="dataset"]').select_option(
        "validation_data_hsc"
    )
    page.wait_for_url(re.compile(r"dataset=validation_data_hsc"))
    page.wait_for_function(PLOTS_DRAWN)
    assert page.get_by_test_id("metric-plot").get_attribute("data-points") == "177"
    assert "branch=(no branch)" in page.get_by_test_id("dropped-filters").inner_text()
    state = query(page)
    assert state["dataset"] == ["validation_data_hsc"]
    assert "branch" not in state and "data_id" not in state
