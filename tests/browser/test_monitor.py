"""The live monitor in Chromium: the page follows a running pipeline without reloading,
opens a unit's live log with its step markers, and the history and trends pages work.

The runner drives the simulated DESI quick-look pipeline against a real ``vigil serve``
on a fresh database; the page fixture (``conftest.py``) fails the test on any request
leaving 127.0.0.1 and on any console error.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from vigil.demo import quicklook
from vigil.monitor.config import parse_config
from vigil.monitor.reporter import EventReporter
from vigil.monitor.runner import Runner
from vigil.server.config import Settings

from .conftest import serve

pytestmark = pytest.mark.browser

Page = Any
UNITS = ["b0", "r0", "z0"]


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def monitor_settings(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Settings:
    """A fresh, migrated database for the monitor: SQLite in a folder, or the PostgreSQL
    test database (``VIGIL_TEST_POSTGRES_URL``) emptied."""
    from vigil.server.database import create_database_engine
    from vigil.server.migration import upgrade

    folder = tmp_path_factory.mktemp("browser-monitor")
    database_url = None
    if request.param == "postgresql":
        from server.conftest import POSTGRES_ENV, truncate_all

        database_url = os.environ.get(POSTGRES_ENV)
        if not database_url:
            pytest.skip(f"{POSTGRES_ENV} is not set")
    settings = Settings(data_dir=folder, database_url=database_url)
    engine = create_database_engine(settings)
    try:
        upgrade(engine)
    finally:
        engine.dispose()
    if database_url:
        truncate_all(database_url)
    return settings


@pytest.fixture(scope="module")
def monitor_token(monitor_settings: Settings) -> str:
    """An API token on the monitor's database."""
    from vigil.server.factory import Factory

    with Factory.standalone(monitor_settings) as factory:
        users = factory.create_user_service()
        users.create_user("observer", "observer@example.org")
        return users.create_token("observer").text


@pytest.fixture(scope="module")
def server(monitor_settings: Settings, monitor_token: str, chromium: Path) -> Iterator[str]:
    """``vigil serve`` on the monitor's database (replaces the dashboard's demo server)."""
    folder = monitor_settings.data_dir
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIGIL_")}
    env["VIGIL_DATA_DIR"] = str(folder)
    if monitor_settings.database_url:
        env["VIGIL_DATABASE_URL"] = str(monitor_settings.database_url)
    with serve(env, folder / "server.log") as base:
        yield base


def _start_runner(folder: Path, url: str, token: str, exposures: int) -> threading.Thread:
    document = quicklook.demo_config(
        folder,
        server_url=url,
        units=UNITS,
        step_seconds=0.6,
        seed=5,
        failure_rate=0.0,
        poll_interval=0.1,
    )
    config = parse_config(document)
    generator = quicklook.ExposureGenerator(folder / "raw", seed=5)
    for _ in range(exposures):
        generator.write_next()

    def run() -> None:
        reporter = EventReporter(url, token, folder / "spool").start()
        try:
            asyncio.run(Runner(config, reporter).run(max_exposures=exposures))
            reporter.drain(30)
        finally:
            reporter.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_the_live_page_follows_the_pipeline_without_reloading(
    page: Page, server: str, monitor_token: str, tmp_path: Path
) -> None:
    page.goto("/monitor")
    page.wait_for_selector("[data-testid=connection]:has-text('live')")
    page.evaluate("window.__notReloaded = true")
    assert "Waiting for the first exposure" in page.inner_text("[data-testid=exposure-card]")

    runner = _start_runner(tmp_path, server, monitor_token, exposures=2)
    # The grid appears and its cells change as the units walk their steps: all from
    # server-sent events, the page never reloads.
    page.wait_for_selector("[data-testid=unit-b0]", timeout=20_000)
    # A step may run and end between two looks: either state shows it moved.
    page.wait_for_selector(
        "[data-testid=step-b0-CHECK_CCDs][data-status=running],"
        " [data-testid=step-b0-CHECK_CCDs][data-status=succeeded]",
        timeout=20_000,
    )
    page.wait_for_selector(
        "[data-testid=step-z0-CHECK_CCDs][data-status=succeeded]", timeout=20_000
    )
    cell = page.get_attribute("[data-testid=step-z0-CHECK_CCDs]", "data-qa")
    assert cell in {"green", "yellow", "red"}
    # The focal plane, drawn when the first processing started, takes z0's QA colour live.
    page.wait_for_selector(
        "[data-testid=focal-plane] [data-testid=fp-z0]:not([data-qa=grey])", timeout=20_000
    )
    assert page.get_attribute("[data-testid=fp-b5]", "data-qa") == "grey"
    assert int(page.get_attribute("[data-monitor=live]", "data-last-event") or 0) > 0

    # Clicking a unit opens its live log, step markers highlighted.
    page.click("[data-testid=unit-r0] th")
    page.wait_for_selector("[data-testid=log-lines] .log-line.checkpoint", timeout=10_000)
    # text_content: lines scrolled out of view are not laid out, so not in inner_text.
    log_text = page.text_content("[data-testid=log-lines]") or ""
    assert "Starting to run step Initialize" in log_text
    # A step cell shows its QA values with their ranges.
    page.wait_for_selector(
        "[data-testid=step-r0-CHECK_CCDs][data-status=succeeded]", timeout=20_000
    )
    page.click("[data-testid=step-r0-CHECK_CCDs]")
    page.wait_for_selector("[data-testid=qa-drill] [data-testid=qa-NOISE_AMP]")
    assert "[-0.5, 0.5]" in page.inner_text("[data-testid=qa-drill]")

    # The second exposure replaces the first in the grid, still without a reload.
    page.wait_for_selector("[data-testid=current-exposure]:has-text('00000002')", timeout=30_000)
    page.wait_for_selector("[data-testid=processing-status]:has-text('succeeded')", timeout=30_000)
    assert page.evaluate("window.__notReloaded") is True
    runner.join(30)
    assert not runner.is_alive()


def test_history_sorts_and_filters_and_trends_draw(
    page: Page, server: str, monitor_token: str, tmp_path: Path, screenshot: Any
) -> None:
    import httpx

    if httpx.get(f"{server}/api/monitor/processings").json()["total"] < 2:
        _start_runner(tmp_path, server, monitor_token, exposures=2).join(60)
    page.goto("/monitor")
    page.wait_for_selector("[data-testid=unit-b0]")
    screenshot(page, "monitor-live")
    page.goto("/monitor/processings")
    rows = page.locator("[data-testid=history-row]")
    assert rows.count() >= 2
    first = rows.first.get_attribute("data-exposure")
    page.click("[data-testid=sort-exposure]")  # newest first -> toggles to ascending, or sorts
    page.wait_for_load_state()
    page.click("[data-testid=sort-exposure]")
    page.wait_for_load_state()
    order = [
        r.get_attribute("data-exposure") for r in page.locator("[data-testid=history-row]").all()
    ]
    assert order == sorted(order) or order == sorted(order, reverse=True)
    assert first in order
    page.select_option("select[name=flavor]", "arc")
    page.wait_for_url("**flavor=arc**")
    flavours = page.locator("[data-testid=history-row] td:nth-child(4)").all_inner_texts()
    assert flavours and set(flavours) == {"arc"}

    page.goto("/monitor/trends?key=NOISE_AMP&preset=all")
    page.wait_for_function(
        "() => window.Bokeh && Bokeh.index && [...Bokeh.index].length >= 3", timeout=15_000
    )
    screenshot(page, "monitor-trends")
    page.goto("/monitor/logs?regex=Starting+to+run+step+Flexure")
    assert page.locator("[data-testid=search-results] .log-line").count() >= len(UNITS)


LONG_TASKS = """
window.__longTasks = [];
new PerformanceObserver(function (list) {
  list.getEntries().forEach(function (e) {
    window.__longTasks.push({start: e.startTime, duration: e.duration});
  });
}).observe({type: "longtask", buffered: true});
"""


def test_a_log_flood_leaves_the_live_tail_bounded_responsive_and_the_store_whole(
    page: Page, server: str, monitor_token: str
) -> None:
    import uuid

    import httpx

    headers = {"Authorization": f"Bearer {monitor_token}"}
    source = uuid.uuid4().hex

    def send(sequence: int, count: int) -> int:
        records = [
            {"time": "2026-05-01T03:00:00Z", "message": f"flood {sequence} line {i}", "unit": "c1"}
            for i in range(count)
        ]
        body = {
            "source": source,
            "sequence": sequence,
            "run": f"flood/{source}",
            "records": records,
        }
        response = httpx.post(f"{server}/api/logs", json=body, headers=headers, timeout=60)
        response.raise_for_status()
        return int(response.json()["run_id"])

    run_id = send(1, 10)
    # The Long Tasks API reports every task of the page's main thread over 50 ms.
    page.add_init_script(LONG_TASKS)
    page.goto(f"/monitor/logs/{run_id}")
    page.wait_for_selector("[data-monitor=run][data-tailing='1']")
    flood_start = page.evaluate("performance.now()")
    batches = 12
    for sequence in range(2, batches + 2):
        send(sequence, 1000)
    page.wait_for_selector(f".log-line:has-text('flood {batches + 1} line 999')", timeout=60_000)
    shown = page.locator("[data-testid=log-lines] .log-line").count()
    assert 0 < shown <= 5000  # older lines leave the view...
    stored = httpx.get(f"{server}/api/logs/runs/{run_id}").json()["line_count"]
    assert stored == 10 + batches * 1000  # ...and stay on the server
    # The newest lines are those on screen, in order.
    last = page.locator("[data-testid=log-lines] .log-line").last.text_content() or ""
    assert f"flood {batches + 1} line 999" in last
    tasks = page.evaluate("window.__longTasks")
    during = [t["duration"] for t in tasks if t["start"] >= flood_start]
    # Drawing a line at a time made one task of tens of seconds; drawn a frame at a time,
    # no task comes near a second. The 200 ms aim is a figure of bench/monitor.py: on a
    # shared machine a starved browser can pass 200 ms with none of Vigil's code in it.
    assert max(during, default=0) < 1000, f"long tasks during the flood (ms): {during}"


def test_the_focal_plane_is_coloured_has_tooltips_and_drills_down(
    page: Page, server: str, monitor_token: str, tmp_path: Path, screenshot: Any
) -> None:
    import httpx

    if httpx.get(f"{server}/api/monitor/processings").json()["total"] < 1:
        _start_runner(tmp_path, server, monitor_token, exposures=1).join(60)
    latest = httpx.get(f"{server}/api/monitor/processings", params={"status": "succeeded"})
    pid = latest.json()["items"][0]["id"]
    detail = httpx.get(f"{server}/api/monitor/processings/{pid}").json()
    worst = {u["name"]: u["qa_status"] for u in detail["units"]}
    colours = {"normal": "green", "warning": "yellow", "alarm": "red", "missing": "grey"}

    page.goto(f"/monitor/processings/{pid}")
    plane = page.locator("[data-testid=focal-plane]")
    assert plane.get_attribute("data-layout") == "desi"
    # Each unit of the processing takes its worst QA's colour; the others are grey.
    for unit in UNITS:
        shape = page.locator(f"[data-testid=fp-{unit}]")
        assert shape.get_attribute("data-qa") == colours[worst[unit]]
        fill = shape.locator("path").evaluate("p => getComputedStyle(p).fill")
        assert fill != page.locator("[data-testid=fp-b5] path").evaluate(
            "p => getComputedStyle(p).fill"
        )
    assert page.locator("[data-testid=fp-b5]").get_attribute("data-qa") == "grey"
    # The tooltip lists the unit's QA values.
    tooltip = page.locator("[data-testid=fp-r0] title").text_content() or ""
    assert tooltip.startswith(f"r0: QA {worst['r0']}") and "Noise AMP:" in tooltip
    assert "not in this processing" in (
        page.locator("[data-testid=fp-b5] title").text_content() or ""
    )
    screenshot(page, "monitor-focal-plane")

    # Fibre state: DESI's layout reads each camera's GOOD_FIBERS; the focal plane can be
    # coloured by the bad fibres, which the table and the tooltips name.
    fibres = {u["name"]: u["fibres"] for u in detail["focal_plane"]["units"]}
    assert all(fibres[unit] is not None and fibres[unit]["total"] == 500 for unit in UNITS)
    assert fibres["b5"] is None
    grey = page.locator("[data-testid=fp-b5] path").evaluate("p => getComputedStyle(p).fill")
    page.locator("[data-testid=colour-by-fibres]").check()
    assert plane.evaluate("f => f.classList.contains('by-fibres')")
    for unit in UNITS:
        shape = page.locator(f"[data-testid=fp-{unit}]")
        assert shape.get_attribute("data-fibres") == fibres[unit]["colour"]
        assert shape.locator("path").evaluate("p => getComputedStyle(p).fill") != grey
    listed = page.locator("[data-testid=fibre-row]").evaluate_all(
        "rows => rows.map(r => r.dataset.unit)"
    )
    assert listed == [unit for unit in UNITS if fibres[unit]["bad"]]
    assert f"fibres: {fibres['r0']['good']} of 500 good" in (
        page.locator("[data-testid=fp-r0] title").text_content() or ""
    )
    screenshot(page, "monitor-fibres")
    page.locator("[data-testid=focal-plane] input[value=qa]").check()

    # A click goes to the unit's drill-down: every step with its times, a plot per QA key
    # against its ranges, one dot per amplifier.
    page.locator("[data-testid=fp-r0]").click()
    page.wait_for_url(f"**/monitor/processings/{pid}?unit=r0#qa-drill")
    drill = page.locator("[data-testid=qa-drill]")
    drill.locator("[data-testid=drill-unit]:has-text('r0')").wait_for()
    assert drill.locator("[data-testid=qa-NOISE_AMP] svg.qa-plot circle").count() == 4
    assert (
        f"{fibres['r0']['good']} of 500 good"
        in drill.locator("[data-testid=qa-GOOD_FIBERS] [data-role=fibres]").inner_text()
    )
    assert (
        drill.locator("[data-testid=step-times] [data-role=run-time]")
        .first.inner_text()
        .endswith(" s")
    )
    screenshot(page, "monitor-drill")

    # The live page draws it too, and repaints it from the live events.
    page.goto("/monitor")
    page.wait_for_selector("[data-testid=connection]:has-text('live')")
    assert page.locator("[data-testid=focal-plane] [data-testid=fp-z0]").count() == 1
    assert page.locator("[data-testid=recent-item]").count() >= 1
