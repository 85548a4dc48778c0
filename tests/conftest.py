"""Suite-wide fixtures and rules.

- In CI (``CI=true``) a skipped test is a failure.
- The suite runs in parallel processes (pytest-xdist, ``make test`` asks for one per
  core); each process gets its own PostgreSQL database, a copy of the one named by
  ``VIGIL_TEST_POSTGRES_URL`` with the process's name appended, created at its start and
  dropped at its end, so that no test empties another process's tables.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

CONFORMANCE = Path(__file__).resolve().parents[2] / "shared" / "conformance"

_skipped: list[str] = []

POSTGRES_ENV = "VIGIL_TEST_POSTGRES_URL"
_OWN_DATABASE = pytest.StashKey[tuple[str, str]]()


def _worker_database(url: str, worker: str) -> tuple[str, str, str]:
    """(URL of this worker's database, its name, URL of the maintenance database)."""
    from sqlalchemy.engine import make_url

    base = make_url(url)
    name = f"{base.database}_{worker}"
    return (
        base.set(database=name).render_as_string(hide_password=False),
        name,
        base.set(database="postgres", drivername="postgresql").render_as_string(
            hide_password=False
        ),
    )


def _run_maintenance(url: str, statement: str) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute(statement)


def pytest_configure(config: pytest.Config) -> None:
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    url = os.environ.get(POSTGRES_ENV)
    if not worker or not url:
        return
    own, name, maintenance = _worker_database(url, worker)
    _run_maintenance(maintenance, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    _run_maintenance(maintenance, f'CREATE DATABASE "{name}"')
    os.environ[POSTGRES_ENV] = own
    config.stash[_OWN_DATABASE] = (name, maintenance)


def pytest_unconfigure(config: pytest.Config) -> None:
    own = config.stash.get(_OWN_DATABASE, None)
    if own is not None:
        name, maintenance = own
        _run_maintenance(maintenance, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def conformance() -> Path:
    """The folder of real files written by the systems Vigil replaces."""
    if not CONFORMANCE.is_dir():
        pytest.skip(f"conformance data not found at {CONFORMANCE}")
    return CONFORMANCE


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.skipped:
        _skipped.append(report.nodeid)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if os.environ.get("CI") == "true" and _skipped and exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if os.environ.get("CI") == "true" and _skipped:
        terminalreporter.write_line(
            f"CI=true: {len(_skipped)} skipped test(s) count as failures: "
            + ", ".join(_skipped[:10]),
            red=True,
        )
