"""The explorer in Chromium: ``vigil explore`` on a demo repository, and the server mount."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.sync_api import expect

from vigil.compute import compute_repository
from vigil.demo.catalog import generate_catalog

from .conftest import free_port


@pytest.fixture(scope="module")
def repo_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A root holding one small demo repository, ``demo``."""
    root = tmp_path_factory.mktemp("explore-roots")
    # Enough objects for every planted CCD to hold several bright stars.
    generate_catalog(root / "demo", tracts=2, objects_per_tract=8000, visits=6, seed=11)
    compute_repository(root / "demo")
    return root


def _start(command: list[str], url: str, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        process = subprocess.Popen(
            command,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            start_new_session=True,
        )
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{command} exited:\n{log.read_text()}")
        try:
            if httpx.get(url, timeout=5).status_code == 200:
                return process
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    _stop(process)
    raise RuntimeError(f"{command} did not answer {url}:\n{log.read_text()}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIGIL_")}
    env.update(extra)
    return env


@pytest.fixture(scope="module")
def explore_url(repo_root: Path, chromium: Path) -> Iterator[str]:
    """``vigil explore`` of the demo repository (compared with itself)."""
    port = free_port()
    repo = str(repo_root / "demo")
    command = [sys.executable, "-m", "vigil", "explore", repo, "--compare", repo]
    command += ["--port", str(port), "--no-show"]
    url = f"http://127.0.0.1:{port}/explorer"
    process = _start(command, url, _env(), repo_root / "explore.log")
    try:
        yield url
    finally:
        _stop(process)


@pytest.fixture(scope="module")
def butler_explore_url(
    repo_root: Path, chromium: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """``vigil explore --butler`` of the demo repository stored in a Gen3 repository in
    two runs, the second compared with the first."""
    daf_butler = pytest.importorskip("lsst.daf.butler", reason="needs vigil[lsst]")
    from vigil.lsst import store_repository

    butler = tmp_path_factory.mktemp("explore-butler") / "repo"
    daf_butler.Butler.makeRepo(str(butler))
    store_repository(repo_root / "demo", butler, "u/qa/old", register_dimensions=True)
    store_repository(repo_root / "demo", butler, "u/qa/new", register_dimensions=True)
    port = free_port()
    command = [sys.executable, "-m", "vigil", "explore", "--butler", str(butler)]
    command += ["--collections", "u/qa/new", "--compare-collections", "u/qa/old"]
    command += ["--port", str(port), "--no-show"]
    url = f"http://127.0.0.1:{port}/explorer"
    process = _start(command, url, _env(), butler.parent / "explore.log")
    try:
        yield url
    finally:
        _stop(process)


@pytest.fixture(scope="module")
def mounted_url(
    repo_root: Path, chromium: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """``vigil serve`` with the root configured; the base URL."""
    data = tmp_path_factory.mktemp("explore-server")
    port = free_port()
    env = _env(
        VIGIL_DATA_DIR=str(data),
        VIGIL_EXPLORE_ROOTS=str(repo_root),
    )
    subprocess.run(
        [sys.executable, "-m", "vigil", "db", "upgrade"], env=env, check=True, capture_output=True
    )
    command = [sys.executable, "-m", "vigil", "serve", "--host", "127.0.0.1", "--port", str(port)]
    base = f"http://127.0.0.1:{port}"
    process = _start(command, f"{base}/explore", env, data / "server.log")
    try:
        yield base
    finally:
        _stop(process)


def _plots_drawn(page: Any, at_least: int) -> None:
    """Wait until *at_least* Bokeh plots have drawn a canvas (inside nested shadow roots)."""
    page.wait_for_function(
        """n => {
            const count = root => [...root.querySelectorAll('*')].reduce(
                (sum, e) => sum + (e.tagName === 'CANVAS' ? 1 : 0)
                    + (e.shadowRoot ? count(e.shadowRoot) : 0), 0);
            return count(document) >= n;
        }""",
        arg=at_least,
    )


def test_explore_command_page(
    checked_page: Any, explore_url: str, screenshot: Callable[[Any, str], Path]
) -> None:
    page = checked_page
    page.goto(explore_url)
    page.get_by_text("demo-hsc").first.wait_for(timeout=120_000)
    page.get_by_text("tract 9814, patch 40").first.wait_for()
    page.get_by_text("visit 1236", exact=True).first.wait_for()
    screenshot(page, "explorer-quicklook")
    page.locator(".bk-tab", has_text="Metric").first.click()
    _plots_drawn(page, 3)
    page.wait_for_timeout(500)
    screenshot(page, "explorer-metric")
    page.locator(".bk-tab", has_text="Compare").first.click()
    _plots_drawn(page, 4)
    assert re.search(r"Vigil explorer", page.title())


def test_explore_a_butler_repository(
    checked_page: Any, butler_explore_url: str, screenshot: Callable[[Any, str], Path]
) -> None:
    """The same quick look, drill-down and comparison over the Butler's datasets."""
    page = checked_page
    page.goto(butler_explore_url)
    page.get_by_text("demo-hsc").first.wait_for(timeout=120_000)
    page.get_by_text("tract 9814, patch 40").first.wait_for()
    page.get_by_text("visit 1236", exact=True).first.wait_for()
    screenshot(page, "explorer-butler-quicklook")
    page.locator(".bk-tab", has_text="Metric").first.click()
    _plots_drawn(page, 3)
    page.locator(".bk-tab", has_text="Compare").first.click()
    _plots_drawn(page, 4)


def test_server_mount_page(
    checked_page: Any, mounted_url: str, screenshot: Callable[[Any, str], Path]
) -> None:
    page = checked_page
    server = urlsplit(mounted_url).netloc
    elsewhere: list[str] = []
    sockets: list[str] = []
    page.on(
        "request",
        lambda r: None if urlsplit(r.url).netloc in ("", server) else elsewhere.append(r.url),
    )
    page.on("websocket", lambda socket: sockets.append(socket.url))
    page.goto(f"{mounted_url}/explore")
    page.get_by_role("link", name="demo").click()
    app = page.frame_locator("iframe[data-testid=explorer]")
    try:
        app.get_by_text("tract 9814, patch 40").first.wait_for(timeout=120_000)
    except Exception:
        screenshot(page, "explorer-mounted-failed")
        raise
    app.locator(".bk-tab", has_text="Metric").first.click()
    app.locator(".bk-Canvas, canvas").first.wait_for(state="attached")
    # A click on the worst group round-trips through the relayed websocket.
    worst = app.locator(".tabulator-row").filter(has_text="visit 1236").first
    app.locator(".bk-tab", has_text="Quick look").first.click()
    worst.locator('.tabulator-cell[tabulator-field="worst"]').click()
    app.get_by_text("visit 1236, detector").first.wait_for(timeout=60_000)
    screenshot(page, "explorer-mounted")
    # Everything, the websocket included, went through the server's own address and port:
    # a browser on another machine needs nothing else.
    assert not elsewhere, elsewhere
    assert sockets and all(urlsplit(url).netloc == server for url in sockets), sockets
    assert all(urlsplit(url).path.startswith("/explore/app/") for url in sockets)


class Clicks:
    """Clicks on the page, counted."""

    def __init__(self, page: Any) -> None:
        self.page = page
        self.count = 0

    def click(self, locator: Any) -> None:
        locator.click()
        self.count += 1


def _visible_rows(page: Any) -> Any:
    return page.locator(".tabulator-row:visible")


def _first_group(page: Any, prefix: str) -> Any:
    """The first row of the groups table, once it lists groups starting with *prefix*."""
    cell = page.locator('.tabulator-cell[tabulator-field="group"]:visible').first
    expect(cell).to_have_text(re.compile(f"^{prefix}"), timeout=60_000)
    return cell


def _quicklook_cell(page: Any, metric: str, column: str) -> Any:
    row = page.locator(".tabulator-row:visible").filter(
        has=page.locator('.tabulator-cell[tabulator-field="metric"]').filter(
            has_text=re.compile(f"^{metric}$")
        )
    )
    return row.locator(f'.tabulator-cell[tabulator-field="{column}"]')


@pytest.fixture(scope="module")
def truth(repo_root: Path) -> dict[str, dict[str, Any]]:
    import yaml

    config = yaml.safe_load((repo_root / "demo" / "vigil-repo.yaml").read_text())
    return {problem["kind"]: problem for problem in config["truth"]}


@pytest.mark.parametrize("kind", ["bad_patch", "bad_visit", "bad_ccd"])
def test_each_planted_problem_is_found_in_three_clicks(
    checked_page: Any,
    explore_url: str,
    truth: dict[str, dict[str, Any]],
    kind: str,
    screenshot: Callable[[Any, str], Path],
) -> None:
    """From the quick look, clicking the metric then the worst group at each level."""
    page = checked_page
    problem = truth[kind]
    data_id = problem["data_id"]
    page.goto(explore_url)
    clicks = Clicks(page)
    clicks.click(_quicklook_cell(page, problem["metric"], "metric"))
    coarse, fine = ("tract", "patch") if kind == "bad_patch" else ("visit", "detector")
    first = _first_group(page, f"{coarse} ")
    expect(first).to_have_text(f"{coarse} {data_id[coarse]}")
    clicks.click(first)
    if kind == "bad_visit":
        # The visit is the problem: every one of its detectors is out of range.
        cell = _first_group(page, f"{coarse} {data_id[coarse]}, {fine} ")
        groups = page.locator(".tabulator").filter(
            has=page.locator('.tabulator-cell[tabulator-field="group"]')
        )
        statuses = groups.locator('.tabulator-cell[tabulator-field="status"]')
        expect(statuses.first).to_have_text("bad")
        assert set(statuses.all_inner_texts()) == {"bad"}
        assert cell.is_visible()
    else:
        finest = _first_group(page, f"{coarse} {data_id[coarse]}, ")
        expect(finest).to_have_text(f"{coarse} {data_id[coarse]}, {fine} {data_id[fine]}")
        clicks.click(finest)
        label = ", ".join(f"{k} {v}" for k, v in data_id.items())
        page.get_by_text(f"Sources of {label}").first.wait_for(timeout=60_000)
        values = page.locator('.tabulator-cell[tabulator-field="value"]:visible')
        expect(values.first).to_be_visible()
    assert clicks.count <= 3
    screenshot(page, f"explorer-found-{kind}")


@pytest.mark.parametrize("kind", ["bad_patch", "bad_visit", "bad_ccd"])
def test_the_quick_look_names_each_problem_and_one_click_opens_it(
    checked_page: Any, explore_url: str, truth: dict[str, dict[str, Any]], kind: str
) -> None:
    page = checked_page
    problem = truth[kind]
    label = ", ".join(f"{k} {v}" for k, v in problem["data_id"].items())
    page.goto(explore_url)
    worst = _quicklook_cell(page, problem["metric"], "worst")
    expect(worst).to_have_text(label, timeout=120_000)
    clicks = Clicks(page)
    clicks.click(worst)
    path = page.get_by_text(f"{problem['metric']} / {label.replace(', ', ' / ')}")
    path.first.wait_for(timeout=60_000)
    if kind != "bad_visit":
        page.get_by_text(f"Sources of {label}").first.wait_for(timeout=60_000)
    assert clicks.count == 1


# -- each click draws its own selection ----------------------------------------------------------

_FIGURES = """
() => Bokeh.documents.flatMap(d => [...d.all_models])
    .filter(m => m.type === 'Figure' && m.title)
    .map(m => ({
        title: m.title.text,
        columns: m.renderers.filter(r => r.data_source && r.data_source.data)
            .map(r => Object.fromEntries(Object.entries(r.data_source.data)
                .map(([k, v]) => [k, Array.from(v, x => Number(x))]))),
    }))
"""


def _figures(page: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = page.evaluate(_FIGURES)
    return found


def _drawn_plots(page: Any, metric: str, sources: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """The metric-against-magnitude plot once its title counts *sources*, and the sky map
    of the groups drawn at that moment."""
    title = f"{metric} ({sources:,} sources)"
    page.wait_for_function(
        f"() => ({_FIGURES})().some(f => f.title.startsWith(arg))".replace("arg", repr(title))
    )
    figures = _figures(page)
    scatter = next(f for f in figures if f["title"].startswith(title))
    sky = next(f for f in figures if f["title"].startswith(f"{metric} per "))
    return scatter, sky


def test_each_drill_draws_the_new_selection_in_every_plot(
    checked_page: Any, explore_url: str, repo_root: Path, truth: dict[str, dict[str, Any]]
) -> None:
    """The plots redrawn in place after a click show the new selection, never a mix with
    the previous one: the counts, the groups on the sky map and the points drawn."""
    from vigil.explorer.query import Repository

    problem = truth["bad_patch"]
    metric, tract, patch = (
        problem["metric"],
        problem["data_id"]["tract"],
        problem["data_id"]["patch"],
    )
    repo = Repository(repo_root / "demo")

    def sources(where: dict[str, int] | None) -> int:
        return len(repo.values(metric, where, limit=None))

    page = checked_page
    page.goto(explore_url)
    _quicklook_cell(page, metric, "metric").click()
    everywhere = sources(None)
    scatter, sky = _drawn_plots(page, metric, everywhere)
    tracts = {int(t) for column in sky["columns"] for t in column.get("tract", [])}
    assert tracts == set(repo.summary().tracts)

    _first_group(page, "tract ").click()  # the worst tract: the bad patch's
    in_tract = sources({"tract": tract})
    assert in_tract < everywhere
    scatter, sky = _drawn_plots(page, metric, in_tract)
    assert {int(t) for column in sky["columns"] for t in column.get("tract", [])} == {tract}
    expect(page.get_by_text(f"{metric} / tract {tract}").first).to_be_visible()
    (points,) = [c for c in scatter["columns"] if c.get("mag")]
    assert len(points["mag"]) == in_tract

    _first_group(page, f"tract {tract}, patch ").click()
    in_patch = sources({"tract": tract, "patch": patch})
    scatter, sky = _drawn_plots(page, metric, in_patch)
    (points,) = [c for c in scatter["columns"] if c.get("mag")]
    assert len(points["mag"]) == in_patch
    expected = repo.values(metric, {"tract": tract, "patch": patch}, limit=None)
    assert sorted(points["mag"]) == pytest.approx(sorted(expected["mag"].tolist()))
    page.get_by_text(f"Sources of tract {tract}, patch {patch}").first.wait_for()

    page.get_by_role("button", name="Up one level").click()
    scatter, sky = _drawn_plots(page, metric, in_tract)
    (points,) = [c for c in scatter["columns"] if c.get("mag")]
    assert len(points["mag"]) == in_tract
    assert {int(t) for column in sky["columns"] for t in column.get("tract", [])} == {tract}
