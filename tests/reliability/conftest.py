"""Fixtures of the reliability and security tests.

The database fixtures are those of ``tests/server/conftest.py`` (re-exported here), so
every test that takes ``db_url``, ``settings``, ``client``, ``token``... runs on SQLite
and, with ``VIGIL_TEST_POSTGRES_URL`` set, on PostgreSQL. The bench scripts' helpers
(``bench/_reliability.py``, ``bench/load.py``, ``bench/crash.py``, ``bench/fuzz.py``) are
importable, so the tests prove the same code that prints the figures.

``live_server``
    A real ``vigil serve`` process on 127.0.0.1 on the test database (stopped after).
``quiet_app`` / ``quiet_client``
    The application without its background worker, for tests that compare database
    snapshots (the worker writes on its own schedule).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"
sys.path.insert(0, str(BENCH))

from _reliability import VigilServer  # noqa: E402
from fastapi import FastAPI  # noqa: E402
from fastapi.testclient import TestClient  # noqa: E402

import server.conftest as _server  # noqa: E402  (the fixtures of tests/server)

_postgres_url = _server._postgres_url
_sqlite_template = _server._sqlite_template
app = _server.app
auth_headers = _server.auth_headers
cfht_job_bytes = _server.cfht_job_bytes
client = _server.client
db_url = _server.db_url
factory = _server.factory
make_app = _server.make_app
make_settings = _server.make_settings
settings = _server.settings
token = _server.token
verify_job_bytes = _server.verify_job_bytes


@pytest.fixture
def quiet_app(make_app: Callable[..., FastAPI]) -> FastAPI:
    """The application on the test database, without its background worker."""
    return make_app(background_worker=False)


@pytest.fixture
def quiet_client(quiet_app: FastAPI) -> Iterator[TestClient]:
    """A started test client of ``quiet_app``."""
    with TestClient(quiet_app) as test_client:
        yield test_client


@pytest.fixture
def live_server(db_url: str, tmp_path: Path) -> Iterator[VigilServer]:
    """``vigil serve`` on the test database, as a separate process."""
    server = VigilServer(db_url, tmp_path / "server")
    server.start()
    try:
        yield server
    finally:
        server.stop()
