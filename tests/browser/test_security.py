"""Untrusted job data in Chromium, against a real ``vigil serve`` on a fresh database.

- a ``javascript:`` CI URL posted with a non-admin token is never a link on ``/jobs``,
  ``/jobs/{id}`` or ``/compare``: clicking where the link was runs nothing (a dialog
  listener sees no ``alert``), and no ``javascript:`` URL is in the DOM;
- branches named ``feat/a"b``, ``feat/a\\b`` and ``feat/</script>`` (valid in git) leave
  the metric's plot drawn, main line included;
- every page runs under its Content-Security-Policy without a single violation, and
  its ``<select data-autosubmit>`` controls still submit (no inline handler).

The page fixture (``conftest.py``) also fails a test on any console error, which is how
a policy violation shows in Chromium.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from PIL import Image

from vigil.server.config import Settings
from vigil.verify import Job, Metric

from .conftest import serve

pytestmark = pytest.mark.browser

Page = Any
METRIC = "security.rms"
MAIN_VALUES = [4.0, 4.4, 4.1, 4.6, 4.3, 4.5, 4.2, 4.4]
HOSTILE_BRANCHES = ['feat/a"b', "feat/a\\b", "feat/</script>"]
EVIL_CI_URL = "javascript:alert(document.querySelector('[name=csrf_token]')?.value || 1)"
MAIN_RGB = (0x1F, 0x3B, 0x73)  # vigil.plots._style.MAIN_COLOUR
START = datetime(2026, 4, 1, 2, 0, tzinfo=UTC)

PLOTS_DRAWN = """() => !document.querySelector('[data-bokeh-item]')
  || document.documentElement.dataset.plotsDrawn === 'true'"""

# Records every policy violation of the page (injected by Playwright, outside the policy).
WATCH_VIOLATIONS = """
window.__violations = [];
document.addEventListener('securitypolicyviolation', (e) =>
  window.__violations.push(e.violatedDirective + ' ' + e.blockedURI));
"""

# Every URL-valued attribute in the DOM whose scheme is not http(s) or a path.
BAD_URLS = """() => [...document.querySelectorAll('[href],[src],[action],[formaction]')]
  .flatMap((el) => ['href', 'src', 'action', 'formaction'].map((a) => el.getAttribute(a)))
  .filter((v) => v !== null && v !== 'data:,')
  .map((v) => v.replace(/[\\u0000-\\u0020]/g, '').toLowerCase())
  .filter((v) => !(v.startsWith('http://') || v.startsWith('https://')
    || (v.startsWith('/') && !v.startsWith('//')) || v.startsWith('#') || v.startsWith('?')))"""


def _job(night: int, branch: str, value: float, ci_url: str, identifier: str) -> dict[str, Any]:
    job = Job(
        metrics=[Metric(METRIC, unit="mmag", description="A metric of the security tests")],
        meta={
            "dataset": "sec_data",
            "instrument": "HSC",
            "env": {
                "env_name": "jenkins",
                "ci_id": str(night),
                "ci_name": "nightly",
                "ci_url": ci_url,
                "date": (START + timedelta(days=night)).isoformat(),
            },
            "git": {"branch": branch, "commit": f"{night + 1:040x}"},
        },
        identifier=identifier,
    )
    job.measure(METRIC, value)
    return job.to_dict()


@pytest.fixture(scope="module")
def security_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """A fresh, migrated SQLite database."""
    from vigil.server.database import create_database_engine
    from vigil.server.migration import upgrade

    folder = tmp_path_factory.mktemp("browser-security")
    settings = Settings(data_dir=folder)
    engine = create_database_engine(settings)
    try:
        upgrade(engine)
    finally:
        engine.dispose()
    return settings


@pytest.fixture(scope="module")
def ci_token(security_settings: Settings) -> str:
    """The token of an ordinary (not admin) CI user."""
    from vigil.server.factory import Factory

    with Factory.standalone(security_settings) as factory:
        users = factory.create_user_service()
        users.create_user("ci-bot")
        return users.create_token("ci-bot").text


@pytest.fixture(scope="module")
def server(security_settings: Settings, chromium: Path) -> Iterator[str]:
    """``vigil serve`` on the fresh database (replaces the demo server in this module)."""
    folder = security_settings.data_dir
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIGIL_")}
    env["VIGIL_DATA_DIR"] = str(folder)
    with serve(env, folder / "server.log") as base:
        yield base


@pytest.fixture(scope="module")
def jobs(server: str, ci_token: str) -> dict[str, int]:
    """Main-line jobs, one job per hostile branch, and one with a ``javascript:`` CI URL,
    posted through the API with the CI user's token."""
    headers = {"Authorization": f"Bearer {ci_token}"}
    posted: dict[str, int] = {}

    def post(name: str, document: dict[str, Any]) -> None:
        response = httpx.post(f"{server}/api/jobs", json=document, headers=headers, timeout=30)
        assert response.status_code == 201, response.text
        posted[name] = int(response.json()["id"])

    for night, value in enumerate(MAIN_VALUES):
        ci = f"https://ci.example.org/job/nightly/{night}/"
        post(f"main-{night}", _job(night, "main", value, ci, f"sec-main-{night}"))
    for i, branch in enumerate(HOSTILE_BRANCHES):
        ci = f"https://ci.example.org/job/branch/{i}/"
        post(branch, _job(3 + i, branch, 6.0 + i, ci, f"sec-branch-{i}"))
    post("evil", _job(len(MAIN_VALUES), "main", 4.3, EVIL_CI_URL, "sec-evil"))
    return posted


@pytest.fixture
def watched(page: Page) -> Page:
    """The page, recording alerts and policy violations."""
    page.add_init_script(WATCH_VIOLATIONS)
    dialogs: list[str] = []

    def on_dialog(dialog: Any) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", on_dialog)
    page.dialogs = dialogs
    return page


def _visit(page: Page, path: str) -> Any:
    response = page.goto(path)
    assert response is not None and response.status == 200, path
    page.wait_for_function(PLOTS_DRAWN)
    return response


def test_a_javascript_ci_url_is_never_a_link_and_clicking_runs_nothing(
    watched: Page, jobs: dict[str, int]
) -> None:
    evil, good = jobs["evil"], jobs["main-7"]
    for path in ("/jobs", f"/jobs/{evil}", f"/compare?a={good}&b={evil}"):
        _visit(watched, path)
        # Where the "CI" / "CI run" / "open" link of the job was: a script link (as it
        # was before the fix), or the label as plain text. Clicking runs nothing.
        where = watched.locator('a[href^="javascript:" i], [data-testid="unlinked"]')
        for i in range(where.count()):
            label = where.nth(i).inner_text().strip()
            assert label in ("CI", "CI run", f"CI run {len(MAIN_VALUES)} ↗", "open"), label
            where.nth(i).click()
        # Anything a click started has run by the time the page answers this.
        assert watched.evaluate("() => document.readyState") == "complete"
        assert watched.dialogs == [], (path, watched.dialogs)
        assert watched.evaluate(BAD_URLS) == [], path
        assert watched.url.endswith(path), (path, watched.url)
        assert watched.evaluate("() => window.__violations") == [], path
        if path.startswith("/compare"):
            # The compare page's model keeps only http(s) URLs: A's run is linked, B's
            # is not named.
            assert watched.locator('[data-testid="job-b"]').get_by_text("CI run").count() == 0
            assert watched.locator('[data-testid="job-a"] a', has_text="CI run").count() == 1
        else:
            assert where.count() >= 1, f"{path}: the CI run is not named"
    # The http CI URL of a main-line job is still a link.
    _visit(watched, f"/jobs/{good}")
    assert watched.locator('a[href="https://ci.example.org/job/nightly/7/"]').count() == 2


@pytest.mark.parametrize("query", ["", "?x=commit", "?view=branch"])
def test_hostile_branch_names_leave_the_main_line_drawn(
    watched: Page, jobs: dict[str, int], query: str
) -> None:
    _visit(watched, f"/metrics/{METRIC}{query}")
    plot = watched.locator('[data-testid="metric-plot"]')
    assert plot.get_attribute("data-drawn") == "true"
    lengths = watched.evaluate(
        """(names) => names.map((name) => {
             for (const doc of Bokeh.documents) {
               const source = doc.get_model_by_name(name);
               if (source) return source.data.x.length;
             }
             return -1;
           })""",
        ["branch:main", *[f"branch:{b}" for b in HOSTILE_BRANCHES], "points"],
    )
    if query == "?view=branch":
        assert lengths[-1] == len(MAIN_VALUES) + 1 + len(HOSTILE_BRANCHES)
    else:
        assert lengths[:-1] == [len(MAIN_VALUES) + 1] + [1] * len(HOSTILE_BRANCHES)
    # The main line's colour is on the canvas.
    image = Image.open(io.BytesIO(plot.screenshot())).convert("RGB")
    pixels = np.asarray(image, dtype=int).reshape(-1, 3)
    main_pixels = int((np.abs(pixels - np.array(MAIN_RGB)) < 24).all(axis=1).sum())
    assert main_pixels > 50, f"the main line is not drawn ({main_pixels} pixels)"
    assert watched.evaluate("() => window.__violations") == []


def test_every_page_runs_under_its_policy(watched: Page, jobs: dict[str, int]) -> None:
    good = jobs["main-7"]
    paths = [
        "/",
        "/metrics",
        f"/metrics/{METRIC}",
        f"/metrics/{METRIC}/dataids",
        "/jobs",
        f"/jobs/{good}",
        f"/compare?a={jobs['main-6']}&b={good}",
        "/compare",
        "/regressions",
        "/login",
        "/monitor",
        "/monitor/processings",
        "/monitor/logs",
        "/monitor/trends",
        "/api/docs",
    ]
    for path in paths:
        response = _visit(watched, path)
        headers = response.all_headers()
        policy = headers["content-security-policy"]
        assert "frame-ancestors 'none'" in policy and "object-src 'none'" in policy, path
        assert headers["x-frame-options"] == "DENY", path
        assert headers["x-content-type-options"] == "nosniff", path
        if path == "/api/docs":
            # Swagger UI ran: its inline start-up script is allowed by its hash.
            watched.wait_for_selector("#swagger-ui .swagger-ui", state="attached")
        assert watched.evaluate("() => window.__violations") == [], path
    # A filter's select submits its form without an inline handler.
    _visit(watched, "/jobs")
    with watched.expect_navigation():
        watched.locator('select[name="branch"]').select_option(HOSTILE_BRANCHES[2])
    assert "branch=feat%2F%3C%2Fscript%3E" in watched.url
    assert watched.locator("table.data tbody tr").count() == 1
