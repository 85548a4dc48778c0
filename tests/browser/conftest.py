"""Browser tests: Debian's Chromium, driven by Playwright, against a real ``vigil serve``.

Fixtures:

``demo_dir``
    A demo database (25 nights of `vigil.demo`, with residual images) built once per
    session in a temporary folder.
``server``
    The base URL (``http://127.0.0.1:<port>``) of a ``vigil serve`` process on that
    folder, started once per session and stopped at the end.
``browser``
    Chromium (``/usr/bin/chromium``, headless, ``--no-sandbox``); the session skips with
    one line when it is not installed.
``page``
    A fresh page. Every request to a host other than 127.0.0.1/localhost is aborted and
    fails the test, and so does any console error or uncaught page error.
``allowed_console``
    A list a test appends regular expressions to: console errors matching one are
    expected (a 404 page logs its own status).
``screenshot(page, name)``
    Saves a full-page PNG under ``test-artifacts/screenshots/``.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
LOCAL_HOSTS = {"127.0.0.1", "localhost", "[::1]", "::1"}
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
DEMO_DAYS = 25


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.browser)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def chromium() -> Path:
    """The Chromium executable, or a skip."""
    if not CHROMIUM.exists():
        pytest.skip(f"Chromium is not installed at {CHROMIUM} (apt-get install chromium)")
    return CHROMIUM


@pytest.fixture(scope="session")
def demo_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A demo database with residual images, built once per session."""
    from vigil.demo import DemoHistory
    from vigil.demo.loader import demo_settings, load_history, prepare_database

    folder = tmp_path_factory.mktemp("browser-demo")
    settings = demo_settings(folder)
    prepare_database(settings)
    load_history(settings, DemoHistory(days=DEMO_DAYS))
    return folder


@pytest.fixture(scope="session")
def server(demo_dir: Path, chromium: Path) -> Iterator[str]:
    """The base URL of ``vigil serve`` on the demo folder."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("VIGIL_") or key == "VIGIL_TEST_POSTGRES_URL"
    }
    env.update(
        VIGIL_DATA_DIR=str(demo_dir),
        VIGIL_DATABASE_URL=f"sqlite:///{demo_dir / 'vigil.sqlite3'}",
        VIGIL_ARTIFACT_URL=str(demo_dir / "artifacts"),
    )
    with serve(env, demo_dir / "server.log") as base:
        yield base


@contextmanager
def serve(env: dict[str, str], log: Path) -> Iterator[str]:
    """Run ``vigil serve`` on 127.0.0.1 with *env*, its output in *log*; yield its base
    URL once it answers, and stop it (its whole process group) at the end."""
    port = free_port()
    command = [sys.executable, "-m", "vigil", "serve", "--host", "127.0.0.1"]
    command += ["--port", str(port), "--log-level", "warning"]
    with log.open("wb") as out:
        process = subprocess.Popen(
            command,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            start_new_session=True,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(process, f"{base}/api/openapi.json", log)
        yield base
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                # Workers end their open event streams before they exit.
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def _wait_ready(process: subprocess.Popen[bytes], url: str, log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"vigil serve exited with {process.returncode}:\n{log.read_text()}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"vigil serve did not answer {url} within 60 s:\n{log.read_text()}")


@pytest.fixture(scope="module")
def browser(chromium: Path) -> Iterator[Any]:
    """Headless Chromium for one test file.

    Playwright's sync API keeps an event loop running in the main thread while it is
    started; stopping it after each file leaves none for the tests a process runs next
    (those that call ``asyncio.run``), whatever order the parallel processes take files in.
    """
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=str(chromium), args=CHROMIUM_ARGS)
        yield instance
        instance.close()


def _is_local(url: str) -> bool:
    parts = urlsplit(url)
    if parts.scheme in {"data", "blob", "about"}:
        return True
    return parts.hostname in LOCAL_HOSTS


@pytest.fixture
def allowed_console() -> list[str]:
    """Patterns of console errors the test expects."""
    return []


@contextmanager
def _guarded_page(
    browser: Any,
    *,
    viewport: dict[str, int],
    timeout_ms: int,
    base_url: str | None = None,
    allowed: list[str] | tuple[str, ...] = (),
    locate: bool = False,
) -> Iterator[Any]:
    """A page of a new context that fails the test, when the block ends, on any request
    off this machine and on any console error not matching a pattern of *allowed*
    (*locate*: named with the URL of the script that logged it)."""
    options: dict[str, Any] = {"viewport": viewport}
    if base_url is not None:
        options["base_url"] = base_url
    context = browser.new_context(**options)
    outside: list[str] = []
    problems: list[str] = []

    def block(route: Any) -> None:
        outside.append(route.request.url)
        route.abort()

    def console(message: Any) -> None:
        if message.type == "error":
            where = f" ({message.location.get('url')})" if locate else ""
            problems.append(f"console {message.type}: {message.text}{where}")

    context.route(lambda url: not _is_local(url), block)
    context.on("request", lambda r: None if _is_local(r.url) else outside.append(r.url))
    new_page = context.new_page()
    new_page.set_default_timeout(timeout_ms)
    new_page.on("console", console)
    new_page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    try:
        yield new_page
        assert not outside, f"requests left 127.0.0.1: {sorted(set(outside))}"
        unexpected = [p for p in problems if not any(re.search(a, p) for a in allowed)]
        assert not unexpected, "\n".join(unexpected)
    finally:
        context.close()


@pytest.fixture
def page(browser: Any, server: str, allowed_console: list[str]) -> Iterator[Any]:
    """A page that fails the test on any request off this machine and any console error."""
    with _guarded_page(
        browser,
        viewport={"width": 1280, "height": 900},
        timeout_ms=10_000,
        base_url=server,
        allowed=allowed_console,
        locate=True,
    ) as new_page:
        yield new_page


@pytest.fixture
def checked_page(browser: Any) -> Iterator[Any]:
    """A page failing the test on a request off this machine or a console error."""
    with _guarded_page(
        browser, viewport={"width": 1400, "height": 1000}, timeout_ms=90_000
    ) as new_page:
        yield new_page


@pytest.fixture
def screenshot() -> Callable[[Any, str], Path]:
    """Save a full-page screenshot of *page* as ``test-artifacts/screenshots/<name>.png``."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    def take(page: Any, name: str) -> Path:
        path = SCREENSHOTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return take
