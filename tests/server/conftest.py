"""Fixtures of the server tests, shared with ``tests/server/squash/``.

Every fixture that touches the database is parametrised by ``db_url`` and so runs twice:

- ``sqlite``: a fresh SQLite file in ``tmp_path`` per test (a copy of a file migrated
  once per session, so it costs a file copy);
- ``postgresql``: the database named by ``VIGIL_TEST_POSTGRES_URL``
  (``postgresql+psycopg://postgres@127.0.0.1:5432/<db>``), migrated once per session
  and emptied (``TRUNCATE ... RESTART IDENTITY CASCADE``) before each test. Without the
  variable these tests skip with a one-line reason. Give each engineer or CI run its own
  database: tests running at the same time on one database would empty each other's.

Fixtures:

``db_url``
    URL of a migrated, empty database.
``settings``
    `Settings` on that database with ``data_dir`` and the artifact folder in
    ``tmp_path``. ``make_settings(**overrides)`` builds variants.
``app`` / ``make_app(**overrides)``
    ``create_app(settings)``.
``client``
    A started ``TestClient`` of ``app`` (lifespan run: schema checked).
``factory``
    A `Factory` on the same database, for arranging data (users, tokens) directly.
``token`` / ``auth_headers``
    An API token of user ``tester`` and ``{"Authorization": "Bearer <token>"}``.
``verify_job_bytes`` / ``cfht_job_bytes``
    The real SQuaSH job files (bare ``NaN`` tokens included), as bytes.
"""

from __future__ import annotations

import os
import shutil
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

warnings.filterwarnings("ignore", message=".*httpx2.*")

from fastapi import FastAPI  # noqa: E402
from fastapi.testclient import TestClient  # noqa: E402
from sqlalchemy import make_url, text  # noqa: E402

from vigil.server.config import Settings  # noqa: E402
from vigil.server.database import create_database_engine  # noqa: E402
from vigil.server.dbschema import Base  # noqa: E402
from vigil.server.domain import Role  # noqa: E402
from vigil.server.factory import Factory  # noqa: E402
from vigil.server.main import create_app  # noqa: E402
from vigil.server.migration import upgrade  # noqa: E402

POSTGRES_ENV = "VIGIL_TEST_POSTGRES_URL"

__all__ = ["POSTGRES_ENV", "TESTER_ROLES", "login"]


@pytest.fixture(scope="session")
def _sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An SQLite file migrated to head, copied for each test."""
    path = tmp_path_factory.mktemp("template") / "template.sqlite3"
    engine = create_database_engine(Settings(), make_url(f"sqlite:///{path}"))
    try:
        upgrade(engine)
        with engine.connect() as connection:
            # Fold the WAL into the main file so that copying the file copies the schema.
            connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        engine.dispose()
    return path


@pytest.fixture(scope="session")
def _postgres_url() -> str:
    """The PostgreSQL test database, migrated once per session."""
    url = os.environ.get(POSTGRES_ENV)
    if not url:
        pytest.skip(f"{POSTGRES_ENV} is not set")
    engine = create_database_engine(Settings(), make_url(url))
    try:
        upgrade(engine)
    finally:
        engine.dispose()
    return url


def truncate_all(url: str) -> None:
    """Empty every Vigil table of a PostgreSQL database and reset its sequences."""
    tables = ", ".join(t.name for t in Base.metadata.sorted_tables)
    engine = create_database_engine(Settings(), make_url(url))
    try:
        with engine.begin() as connection:
            connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    finally:
        engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """URL of a migrated, empty database (SQLite file, or the PostgreSQL test database)."""
    if request.param == "sqlite":
        target = tmp_path / "vigil.sqlite3"
        shutil.copyfile(request.getfixturevalue("_sqlite_template"), target)
        return f"sqlite:///{target}"
    url: str = request.getfixturevalue("_postgres_url")
    truncate_all(url)
    return url


@pytest.fixture
def make_settings(db_url: str, tmp_path: Path) -> Callable[..., Settings]:
    """Build `Settings` on the test database; keyword arguments override fields."""

    def make(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "database_url": db_url,
            "data_dir": tmp_path / "data",
            "artifact_url": str(tmp_path / "artifacts"),
        }
        values.update(overrides)
        return Settings(**values)

    return make


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    """Default settings on the test database."""
    return make_settings()


@pytest.fixture
def make_app(make_settings: Callable[..., Settings]) -> Callable[..., FastAPI]:
    """Build an application; keyword arguments override settings fields."""
    return lambda **overrides: create_app(make_settings(**overrides))


@pytest.fixture
def app(settings: Settings) -> FastAPI:
    """The application on the test database."""
    return create_app(settings)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    """A started test client of ``app``."""
    with TestClient(app) as test_client:
        yield test_client


@pytest.fixture
def factory(settings: Settings) -> Iterator[Factory]:
    """A factory on the test database, for arranging data."""
    with Factory.standalone(settings) as test_factory:
        yield test_factory


TESTER_ROLES = frozenset({Role.SUBMITTER, Role.TRIAGER, Role.OPERATOR})
"""The roles of ``tester``: every one but admin."""


@pytest.fixture
def token(factory: Factory) -> str:
    """An API token of the user ``tester`` (submitter, triager and operator)."""
    service = factory.create_user_service()
    service.create_user("tester", "tester@example.org", roles=TESTER_ROLES)
    return service.create_token("tester").text


def login(client: TestClient, token: str) -> str:
    """Log *client* in at ``/login`` with *token*; return the session cookie's value."""
    page = client.get("/login", headers={"Accept": "text/html"})
    assert page.status_code == 200, page.text[:300]
    csrf = client.cookies.get("vigil_csrf")
    answer = client.post(
        "/login", data={"token": token, "csrf_token": csrf}, follow_redirects=False
    )
    assert answer.status_code == 303, answer.text[:300]
    session = client.cookies.get("vigil_session")
    assert session, "the log-in set no session cookie"
    return str(session)


@pytest.fixture
def auth_headers(token: str) -> dict[str, str]:
    """Headers that authenticate as ``tester``."""
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture(scope="session")
def verify_job_bytes(conformance: Path) -> bytes:
    """The real job dispatched by ``dispatch_verify.py`` (2018, bare NaN tokens)."""
    return (conformance / "squash" / "verify_job.json").read_bytes()


@pytest.fixture(scope="session")
def cfht_job_bytes(conformance: Path) -> bytes:
    """A real validate_drp job before dispatch (no ``meta.env``)."""
    return (conformance / "squash" / "Cfht_output_r.json").read_bytes()
