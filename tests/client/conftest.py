"""Fixtures of the client tests: a real HTTP receiver, a dead URL, a CI-free environment,
and the server's database fixtures (``db_url``, ``settings``, ``token``: SQLite, and
PostgreSQL when ``VIGIL_TEST_POSTGRES_URL`` is set) for tests against a real server."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from monitor.conftest import ServerThread
from server.conftest import (  # noqa: F401  (fixtures shared with the server tests)
    _postgres_url,
    _sqlite_template,
    db_url,
    factory,
    make_settings,
    settings,
    token,
)
from vigil.server.config import Settings

from ._support import CI_VARIABLES, Receiver


@pytest.fixture
def live_server(settings: Settings) -> Iterator[ServerThread]:  # noqa: F811
    """The application served over real HTTP on the test database."""
    server = ServerThread(settings).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    server.thread.start()
    yield server
    server.server.shutdown()
    server.server.server_close()


@pytest.fixture
def dead_url() -> str:
    """A URL where nothing listens: connections are refused at once."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@pytest.fixture
def no_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    """Run as on a laptop, whatever CI runs the tests."""
    for name in CI_VARIABLES:
        monkeypatch.delenv(name, raising=False)
