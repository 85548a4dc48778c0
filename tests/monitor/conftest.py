"""Fixtures of the monitor tests.

The server fixtures of ``tests/server/conftest.py`` are reused (``db_url`` runs each test
on SQLite and, when ``VIGIL_TEST_POSTGRES_URL`` is set, on PostgreSQL; ``settings``,
``app``, ``client``, ``factory``, ``token``, ``auth_headers``). Added here:

``live_server``
    A started `ServerThread`: the application served by uvicorn in a thread on a free
    port of 127.0.0.1, stoppable and restartable on the same port and database.
``mapping_dir``
    DESI's Quick Look mapping files (``../shared/conformance/qlf``).
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn

from server.conftest import (  # noqa: F401  (fixtures shared with the server tests)
    _postgres_url,
    _sqlite_template,
    app,
    auth_headers,
    client,
    db_url,
    factory,
    make_app,
    make_settings,
    settings,
    token,
)
from vigil.server.config import Settings
from vigil.server.main import create_app
from vigil.server.serving import VigilServer


def free_port() -> int:
    """A TCP port of 127.0.0.1 nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ServerThread:
    """The Vigil application served by uvicorn in a thread; restartable on one port."""

    def __init__(self, server_settings: Settings, port: int | None = None) -> None:
        self.settings = server_settings
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._server: VigilServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> ServerThread:
        config = uvicorn.Config(
            create_app(self.settings),
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            timeout_graceful_shutdown=1,
        )
        self._server = VigilServer(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 20
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the test server did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(15)
        self._server = None
        self._thread = None


@pytest.fixture
def live_server(request: pytest.FixtureRequest) -> Iterator[ServerThread]:
    """The application on the test database (``settings``), served over real HTTP."""
    server = ServerThread(request.getfixturevalue("settings")).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def mapping_dir(conformance: Path) -> Path:
    """DESI's Quick Look mapping files."""
    return conformance / "qlf"
