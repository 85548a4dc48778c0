"""Click-to-drawn times of the explorer in Chromium (bench/explorer.py ``--click``).

Serves ``vigil explore`` on a ``vigil demo catalog`` repository (cached in bench/.work/)
and drives Chromium (Playwright, /usr/bin/chromium) through what an analyst does first:
open a metric from the quick look, drill to a tract, to a patch, toggle the visit
outlines. Each time runs from the click to the moment the page shows its answer: the
browser is checked every `POLL_MS` milliseconds for the new path, table or plot
title, then waits for the next frame to be painted (a plot redrawn in place gets its
title in the same message as its data, and is drawn by that frame), so the time
includes the server's work, the transfer and Bokeh's drawing. The page is sent with the
quick look, and the metric tab's plots follow once the browser has drawn it: the clicks
start when they are in the page (as an analyst's first click comes after reading the
quick look; a click made before would wait for them), and the time from the page's
request to that moment is printed too. The page is opened afresh for each repetition:
a new session and `Explorer`, over the one `Repository` the server opened (as ``vigil
explore`` does), whose answers, like the quick look's roll-up and the outlines, are kept
per process; the first session is the one that reads them. The server answers once it
has compiled the rasterising (`vigil.explorer._warm`), so no click waits for that.
"""

from __future__ import annotations

import os
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from vigil.compute import compute_repository
from vigil.demo.catalog import generate_catalog

__all__ = ["AIM_SECONDS", "STEPS", "click_section"]

WORK = Path(__file__).resolve().parent / ".work"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
METRIC = "psf_cmodel_mag_diff_i"
AIM_SECONDS = 1.0
"""The aim of issue 20: every click drawn within a second."""
STEPS = ("open the metric", "drill to a tract", "drill to a patch", "toggle outlines")
_LOCAL = {"127.0.0.1", "localhost"}

# The page and the shadow roots Panel draws in: their text is read once per root (the
# text of every element would be read again for each of its ancestors, which on a page
# this size takes the browser's main thread from the drawing it is timing).
_DEEP = """
const roots = (root, out = [root]) => {
    for (const e of root.querySelectorAll('*')) {
        if (e.shadowRoot) { out.push(e.shadowRoot); roots(e.shadowRoot, out); }
    }
    return out;
};
const shows = text => roots(document).some(r => (r.textContent || '').includes(text));
const titles = () => Bokeh.documents.flatMap(d => [...d.all_models])
    .filter(m => m.type === 'Figure' && m.title).map(m => m.title.text);
"""


POLL_MS = 20
"""How often the page is checked for the answer of a click (its time is that precise)."""


_PAINTED = "() => new Promise(done => requestAnimationFrame(() => setTimeout(done)))"
"""Resolves once the browser has painted the next frame."""


def _until(page: Any, body: str, arg: Any) -> None:
    """Wait, checking every `POLL_MS`, until the JavaScript *body* is true, and then for
    the next frame to be painted."""
    page.wait_for_function(f"arg => {{ {_DEEP} return ({body}); }}", arg=arg, polling=POLL_MS)
    page.evaluate(_PAINTED)


def _scatter_title(page: Any) -> str:
    """The title of the metric-against-magnitude plot (``METRIC (N sources)``)."""
    found: str = page.evaluate(
        f"m => {{ {_DEEP} return titles().find(t => t.startsWith(m + ' (')) || ''; }}", METRIC
    )
    return found


def _timed(page: Any, action: Callable[[], object], body: str, arg: Any) -> float:
    """Seconds from *action* (a click) until the JavaScript *body* holds (`_until`)."""
    started = time.perf_counter()
    action()
    _until(page, body, arg)
    return time.perf_counter() - started


def ensure_repository(tracts: int) -> Path:
    """A ``vigil demo catalog`` repository of *tracts* tracts, metrics computed."""
    root = WORK / f"click-{tracts}"
    if not (root / "vigil-repo.yaml").exists():
        started = time.perf_counter()
        generate_catalog(root, tracts=tracts)
        compute_repository(root)
        print(f"  generated and computed {root} in {time.perf_counter() - started:.1f} s")
    return root


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def served(root: Path) -> Iterator[str]:
    """``vigil explore ROOT`` in a process of its own; the app's URL."""
    port = _free_port()
    command = [sys.executable, "-m", "vigil", "explore", str(root), "--port", str(port)]
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIGIL_")}
    log = root.parent / f"{root.name}-explore.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [*command, "--no-show"],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}/explorer"
    try:
        deadline = time.monotonic() + 300
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"vigil explore exited:\n{log.read_text()}")
            try:
                if httpx.get(url, timeout=60).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"vigil explore did not answer {url}:\n{log.read_text()}")
            time.sleep(0.3)
        yield url
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=30)


_METRIC_TAB = "titles().some(t => t.endsWith(' on the sky'))"
"""Holds once the metric tab's plots are in the page (its sky map has a title)."""


def _one_pass(page: Any, url: str) -> tuple[float, float, list[float]]:
    """The page load (to the quick look drawn), the time to the metric tab's plots in
    the page (from the same start), and the time of each of `STEPS`."""
    started = time.perf_counter()
    page.goto(url)
    _until(page, "shows(arg)", METRIC)
    load = time.perf_counter() - started
    _until(page, _METRIC_TAB, None)
    filled = time.perf_counter() - started
    times = []
    cell = page.locator('.tabulator-cell[tabulator-field="metric"]').filter(has_text=METRIC)
    opened = "shows(arg + ' / every group') && titles().some(t => t.startsWith(arg + ' ('))"
    times.append(_timed(page, cell.first.click, opened, METRIC))
    drilled = (
        "shows(arg[1]) && shows(' / ' + arg[3] + ' ')"
        " && titles().some(t => t.startsWith(arg[0] + ' (') && t !== arg[2])"
    )
    for level, wanted in (("tract", "patches, worst first"), ("patch", "Sources of tract")):
        before = _scatter_title(page)  # the plot of the level above, to see it replaced
        group = page.locator('.tabulator-cell[tabulator-field="group"]:visible').first
        times.append(_timed(page, group.click, drilled, [METRIC, wanted, before, level]))
    toggle = page.locator(".bk-Checkbox").filter(has_text="Outlines").locator("input").first
    outlined = "titles().some(t => t.startsWith(arg + ', '))"
    times.append(_timed(page, toggle.check, outlined, METRIC))
    return load, filled, times


def click_times(
    url: str, repetitions: int
) -> tuple[list[float], list[float], dict[str, list[float]]]:
    """Page loads, times to the metric tab filled and the times of each step over
    *repetitions* fresh pages."""
    from playwright.sync_api import sync_playwright

    loads: list[float] = []
    fills: list[float] = []
    steps: dict[str, list[float]] = {step: [] for step in STEPS}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            for _ in range(repetitions):
                context = browser.new_context(viewport={"width": 1400, "height": 1000})
                context.route(
                    lambda u: urlsplit(u).hostname not in _LOCAL, lambda route: route.abort()
                )
                page = context.new_page()
                page.set_default_timeout(300_000)
                try:
                    load, filled, times = _one_pass(page, url)
                finally:
                    context.close()
                loads.append(load)
                fills.append(filled)
                for step, seconds in zip(STEPS, times, strict=True):
                    steps[step].append(seconds)
        finally:
            browser.close()
    return loads, fills, steps


def _verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def click_section(tracts: int, repetitions: int = 3) -> None:
    """Print the click-to-drawn times on a repository of *tracts* tracts."""
    root = ensure_repository(tracts)
    print(
        f"\nclick to drawn in Chromium: vigil explore {root} ({tracts} tracts),"
        f" {repetitions} fresh pages, median / max (aim < {AIM_SECONDS:g} s);"
        f" {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}"
    )
    with served(root) as url:
        loads, fills, steps = click_times(url, repetitions)
    for what, seconds in (("quick look drawn", loads), ("metric tab filled", fills)):
        first, *later = seconds
        print(f"  {f'page load to {what} (first session)':<52} {first:6.2f} s")
        if later:
            print(
                f"  {f'page load to {what} (later sessions)':<52}"
                f" {statistics.median(later):6.2f} / {max(later):.2f} s"
            )
    worst = 0.0
    for step, seconds in steps.items():
        median, top = statistics.median(seconds), max(seconds)
        worst = max(worst, top)
        print(f"  {step:<52} {median:6.2f} / {top:.2f} s  {_verdict(top < AIM_SECONDS)}")
    print(f"  every click under {AIM_SECONDS:g} s: {_verdict(worst < AIM_SECONDS)}")
