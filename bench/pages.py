"""Dashboard speed: server time of the overview and metric pages, and drawing in Chromium.

    .venv/bin/python bench/pages.py --quick     # under a minute: 30,000 measurements
    .venv/bin/python bench/pages.py             # 1,000,000 measurements (built once, cached)

The data: the demo (`vigil.demo`, with its residual images) plus the jobs of
``bench/_jobs.py`` (50 measurements each) stored through `JobService.ingest` until the
database holds the asked number of measurements; the series ``validate_drp.PA1`` on
``validation_data_hsc``, band i, then has one point in every other job (10,000 points at
1,000,000 measurements). The database is kept in ``bench/.work/pages-<N>/`` and reused.

Then a real ``vigil serve`` on 127.0.0.1 answers, after a warm-up, ``--requests`` GETs of
each page (HTML, as a browser asks); the figure is the median time from request to the
last byte, measured by the client over loopback (an upper bound of the server time).
The job page is that of the real validate_drp job ``dispatch_verify.py`` posted
(``../shared/conformance/squash/verify_job.json``, 25 blobs with arrays), stored once
in the same database; it is timed as HTML and as its JSON twin (``?format=json``), each
beside the figure measured before its figures were cached and chosen by meaning.
Last, Chromium (``/usr/bin/chromium``, headless) opens the metric page of that series
``--loads`` times, each in a fresh context: the figure is the time from navigation start
to the moment the page marks its plots drawn (``data-plots-drawn`` on ``<html>``, set
when BokehJS reports the plot's document idle: every view laid out and painted).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _jobs import MEASUREMENTS_PER_JOB, SERIES, generate_jobs
from _servers import ServerProcess, free_port

WORK = Path(__file__).resolve().parent / ".work"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
SERVER_AIM_MS = 150.0
"""Median server time aimed at for a metric page; the overview's is `OVERVIEW_AIM_MS`."""
OVERVIEW_AIM_MS = 50.0
JOB_AIM_MS = 300.0
REAL_JOB = (
    Path(__file__).resolve().parents[2] / "shared" / "conformance" / "squash" / "verify_job.json"
)
# The real job page before its blob figures were cached and chosen by meaning (25 Bokeh
# figures built on every request, the twin building them too): median ms of this script
# (``--quick``) run on the code before the change, on the machine of the figures after.
JOB_BEFORE_MS = {"job (real verify_job.json)": 2186.0, "job twin (?format=json)": 1430.0}
DRAW_AIM_S = 1.0

# Installed before any page script: records when the page marks every plot drawn
# (vigil.js sets data-plots-drawn on <html> once BokehJS reports each document idle).
DRAWN_PROBE = """
(() => {
  const check = () => {
    if (document.documentElement && document.documentElement.dataset.plotsDrawn === 'true') {
      window.__vigilDrawn = performance.now();
    } else {
      setTimeout(check, 2);
    }
  };
  setTimeout(check, 0);
})();
"""

PLOTS_DRAWN = """() => !document.querySelector('[data-bokeh-item]')
  || document.documentElement.dataset.plotsDrawn === 'true'"""
"""A ``wait_for_function`` expression: every Bokeh plot of the page is drawn."""


def metric_path(branch: str | None = None) -> str:
    """The metric page of the bench's 10,000-point series (all time; every branch or one)."""
    band = SERIES["data_id"]["band"]
    path = f"/metrics/{SERIES['metric']}?dataset={SERIES['dataset']}&band={band}&period=all"
    return path + (f"&branch={branch}" if branch else "")


def build(folder: Path, measurements: int, demo_days: int) -> int:
    """Fill *folder* with the demo and bench jobs up to *measurements*; return the count."""
    from sqlalchemy import func, select

    from vigil.demo import DemoHistory
    from vigil.demo.loader import demo_settings, load_history, prepare_database
    from vigil.server.dbschema import SqlMeasurement
    from vigil.server.factory import Factory

    settings = demo_settings(folder)
    prepare_database(settings)
    done = folder / "complete"
    if not done.exists():
        print(f"Loading the demo ({demo_days} nights) into {folder} ...", flush=True)
        load_history(settings, DemoHistory(days=demo_days))
    with Factory.standalone(settings) as factory:
        count = int(factory.session.scalar(select(func.count()).select_from(SqlMeasurement)) or 0)
        factory.session.rollback()
        missing = max(0, measurements - count)
        if missing and not done.exists():
            jobs = -(-missing // MEASUREMENTS_PER_JOB)
            print(f"Storing {jobs:,} bench jobs through JobService.ingest ...", flush=True)
            service = factory.create_job_service()
            began = time.perf_counter()
            for i, job in enumerate(generate_jobs(jobs)):
                count += service.ingest(job, None).measurement_count
                if (i + 1) % 1000 == 0:
                    rate = (i + 1) / (time.perf_counter() - began)
                    print(
                        f"  {i + 1:,} jobs, {count:,} measurements ({rate:.0f} jobs/s)", flush=True
                    )
    done.write_text(f"{count}\n")
    return count


def real_job(folder: Path) -> int:
    """The id of the real ``verify_job.json`` in *folder*'s database, stored on first use."""
    import json

    from vigil.demo.loader import demo_settings
    from vigil.server.factory import Factory

    with Factory.standalone(demo_settings(folder)) as factory:
        # Ingesting is idempotent by the job's identifier: a second run finds the first.
        document = json.loads(REAL_JOB.read_bytes())
        return factory.create_job_service().ingest(document, None).id


def start_server(folder: Path) -> tuple[ServerProcess, str]:
    """``vigil serve`` on *folder*'s database; its base URL."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIGIL_")}
    env.update(
        VIGIL_DATA_DIR=str(folder),
        VIGIL_DATABASE_URL=f"sqlite:///{folder / 'vigil.sqlite3'}",
        VIGIL_ARTIFACT_URL=str(folder / "artifacts"),
    )
    base = f"http://127.0.0.1:{port}"
    server = ServerProcess(
        "vigil",
        [sys.executable, "-m", "vigil", "serve", "--port", str(port), "--log-level", "warning"],
        f"{base}/api/openapi.json",
        folder / "server.log",
        env=env,
    )
    server.wait_ready(120)
    return server, base


def time_page(client: httpx.Client, path: str, requests: int) -> list[float]:
    """Milliseconds per GET of *path* (HTML), after three warm-up requests."""
    headers = {"Accept": "text/html"}
    for _ in range(3):
        client.get(path, headers=headers).raise_for_status()
    times = []
    for _ in range(requests):
        began = time.perf_counter()
        response = client.get(path, headers=headers)
        response.read()
        times.append((time.perf_counter() - began) * 1000)
        response.raise_for_status()
    return times


def time_drawing(base: str, path: str, loads: int) -> tuple[list[float], int, int]:
    """Seconds from navigation start to the plot drawn, per fresh page; points, renderers."""
    from playwright.sync_api import sync_playwright

    seconds = []
    points = renderers = 0
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            for _ in range(loads + 1):  # the first load warms the server and disk caches
                context = browser.new_context(viewport={"width": 1280, "height": 900})
                context.add_init_script(DRAWN_PROBE)
                page = context.new_page()
                page.goto(base + path)
                page.wait_for_function("() => window.__vigilDrawn !== undefined", timeout=300_000)
                seconds.append(float(page.evaluate("window.__vigilDrawn")) / 1000)
                points = int(page.get_by_test_id("metric-plot").get_attribute("data-points") or 0)
                renderers = int(page.evaluate(RENDERERS))
                context.close()
        finally:
            browser.close()
    return seconds[1:], points, renderers


RENDERERS = """() => [...Bokeh.documents[0]._all_models.values()]
  .filter(m => m.type === 'GlyphRenderer').length"""


def summary(values: list[float]) -> str:
    """Median and the range of *values*."""
    return f"median {statistics.median(values):.1f} (min {min(values):.1f}, max {max(values):.1f})"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="30,000 measurements, fewer runs")
    parser.add_argument("--measurements", type=int, help="Default 1,000,000 (quick: 30,000).")
    parser.add_argument("--requests", type=int, help="GETs per page (default 100; quick 15).")
    parser.add_argument("--loads", type=int, help="Chromium loads (default 7; quick 2).")
    parser.add_argument("--dir", type=Path, help="Database folder (default bench/.work/...).")
    args = parser.parse_args(argv)
    measurements = args.measurements or (30_000 if args.quick else 1_000_000)
    requests = args.requests or (15 if args.quick else 100)
    loads = args.loads or (2 if args.quick else 7)
    demo_days = 25 if args.quick else 180
    folder = args.dir or WORK / f"pages-{measurements}"
    folder.mkdir(parents=True, exist_ok=True)

    began = time.perf_counter()
    count = build(folder, measurements, demo_days)
    job_id = real_job(folder)
    print(f"Database: {count:,} measurements ({time.perf_counter() - began:.0f} s)", flush=True)
    server, base = start_server(folder)
    results: dict[str, Any] = {}
    cold: dict[str, float] = {}
    try:
        with httpx.Client(base_url=base, timeout=60) as client:
            pages = {
                "overview": "/",
                "metric": metric_path(),
                "metric (branch main)": metric_path("main"),
                "job (real verify_job.json)": f"/jobs/{job_id}",
                "job twin (?format=json)": f"/jobs/{job_id}?format=json",
            }
            for name, path in pages.items():
                if name in JOB_BEFORE_MS:
                    # The first request draws the job's figures; the others find them.
                    began = time.perf_counter()
                    client.get(path, headers={"Accept": "text/html"}).raise_for_status()
                    cold[name] = (time.perf_counter() - began) * 1000
                results[name] = time_page(client, path, requests)
                print(f"  {name} {path}: {summary(results[name])} ms", flush=True)
        drawing = {
            branch: time_drawing(base, metric_path(branch), loads) for branch in (None, "main")
        }
    finally:
        server.stop()

    print()
    print(f"Dashboard pages, {count:,} measurements, SQLite, one server process (2 cores)")
    for name in results:
        median = statistics.median(results[name])
        aim = (
            JOB_AIM_MS
            if name in JOB_BEFORE_MS
            else OVERVIEW_AIM_MS
            if name == "overview"
            else SERVER_AIM_MS
        )
        verdict = "meets" if median < aim else "misses"
        before = ""
        if name in JOB_BEFORE_MS:
            before = f"; first request {cold[name]:.0f} ms; before: {JOB_BEFORE_MS[name]:,.0f} ms"
        print(
            f"  {name} page, server time: median {median:.1f} ms over {requests} requests"
            f" (aim < {aim:.0f} ms: {verdict}{before})"
        )
    for branch, (draw, points, renderers) in drawing.items():
        median = statistics.median(draw)
        verdict = "meets" if median < DRAW_AIM_S else "misses"
        shown = f"branch {branch}" if branch else "every branch"
        print(
            f"  metric plot, {points:,} points ({shown}, {renderers} glyph renderers), drawn in"
            f" Chromium: median {median:.2f} s from navigation start over {loads} loads"
            f" (aim < {DRAW_AIM_S:.0f} s: {verdict})"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
