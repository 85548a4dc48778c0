"""Failures the server cannot prevent are reported for what they are, never as a 500.

- The database out of reach (SQLite file unopenable or locked, PostgreSQL closed to
  connections): 503 with ``Retry-After`` on every kind of route, and the server recovers
  by itself once the database is back. Other database errors (bugs) stay 500.
- ``GET /health`` answers whatever the database does; ``GET /ready`` says which of the
  database and the artifact store fails.
- At start, a database not up yet is waited for (``VIGIL_DATABASE_START_TIMEOUT``); one
  still out of reach after that, or migrated by a newer Vigil, is one line and exit 1.
- Artifact writes leave nothing behind when they fail (a full disk is a 507); temporary
  files a killed writer left are removed at start and by ``vigil artifacts prune``; an
  artifact folder that cannot be written is refused at start.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

import httpx
import pytest
from _reliability import VigilServer, free_port
from fastapi.testclient import TestClient
from sqlalchemy import Engine, create_engine, make_url, text
from typer.testing import CliRunner

from vigil import __version__
from vigil.cli import app as cli_app
from vigil.server.config import Settings
from vigil.server.exceptions import ArtifactStoreError, DatabaseSchemaError
from vigil.server.main import create_app
from vigil.server.migration import FIRST_VERSIONS, first_version, head_revision, upgrade
from vigil.server.storage.artifacts import ArtifactContentStore

from ._support import artifact_files

_JOB = {
    "identifier": "honest-1",
    "measurements": [{"metric": "demo.m", "value": 1.0, "unit": ""}],
    "meta": {"git": {"branch": "main"}},
}


def _post_job(client: Any, headers: dict[str, str], identifier: str = "honest-1") -> Any:
    body = json.dumps({**_JOB, "identifier": identifier})
    return client.post(
        "/api/jobs", content=body, headers={**headers, "Content-Type": "application/json"}
    )


def _assert_unavailable_api(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text[:300]
    assert int(response.headers["Retry-After"]) > 0
    detail = response.json()["detail"]
    assert detail["code"] == "database_unavailable"
    assert "try again" in detail["message"]


def _assert_unavailable_page(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text[:300]
    assert int(response.headers["Retry-After"]) > 0
    assert response.headers["content-type"].startswith("text/html")
    assert "The database is unavailable" in response.text
    assert "Traceback" not in response.text


def _assert_not_ready(response: httpx.Response, failing: str) -> None:
    assert response.status_code == 503, response.text[:300]
    assert int(response.headers["Retry-After"]) > 0
    body = response.json()
    assert body["status"] == "unavailable"
    assert {name for name, check in body["checks"].items() if not check["ok"]} == {failing}


_PAGE = {"Accept": "text/html"}


# SQLite --------------------------------------------------------------------------------


@pytest.fixture
def sqlite_settings(_sqlite_template: Path, tmp_path: Path) -> Settings:
    """Settings on a migrated SQLite file of this test's own."""
    database = tmp_path / "vigil.sqlite3"
    shutil.copyfile(_sqlite_template, database)
    return Settings(
        database_url=f"sqlite:///{database}",
        data_dir=tmp_path / "data",
        artifact_url=str(tmp_path / "artifacts"),
        background_worker=False,
        sqlite_busy_timeout_ms=200,
    )


def test_an_unopenable_sqlite_file_is_503_everywhere_until_it_is_back(
    sqlite_settings: Settings,
) -> None:
    database = Path(sqlite_settings.effective_database_url.database or "")
    moved = database.with_suffix(".away")
    # Started without touching the database, as a server whose file goes away does.
    with TestClient(create_app(sqlite_settings, check_database=False)) as client:
        database.rename(moved)
        database.mkdir()  # a folder where the file was: SQLite cannot open it
        _assert_unavailable_api(client.get("/api/jobs"))
        _assert_unavailable_api(client.get("/api/metrics/validate_drp.PA1"))
        _assert_unavailable_page(client.get("/jobs", headers=_PAGE))
        _assert_unavailable_page(client.get("/", headers=_PAGE))
        _assert_unavailable_api(client.get("/jobs", headers={"Accept": "application/json"}))
        assert client.get("/health").json() == {"status": "ok", "version": __version__}
        _assert_not_ready(client.get("/ready"), "database")

        database.rmdir()
        moved.rename(database)
        assert client.get("/api/jobs").status_code == 200
        assert client.get("/jobs", headers=_PAGE).status_code == 200
        assert client.get("/ready").status_code == 200


def test_a_locked_sqlite_database_is_503_for_writers(
    sqlite_settings: Settings, tmp_path: Path
) -> None:
    from vigil.server.factory import Factory

    with Factory.standalone(sqlite_settings) as factory:
        users = factory.create_user_service()
        users.create_user("ada")
        headers = {"Authorization": f"Bearer {users.create_token('ada').text}"}
    with TestClient(create_app(sqlite_settings)) as client:
        assert client.get("/api/me", headers=headers).status_code == 200
        holder = sqlite3.connect(sqlite_settings.effective_database_url.database or "")
        try:
            holder.execute("BEGIN IMMEDIATE")  # another writer that does not let go
            _assert_unavailable_api(_post_job(client, headers))
        finally:
            holder.rollback()
            holder.close()
        assert _post_job(client, headers).status_code == 201


def test_database_errors_that_are_bugs_stay_500(sqlite_settings: Settings) -> None:
    with TestClient(create_app(sqlite_settings), raise_server_exceptions=False) as client:
        engine = create_engine(sqlite_settings.effective_database_url)
        with engine.begin() as connection:
            connection.execute(text("ALTER TABLE jobs RENAME TO jobs_elsewhere"))
        engine.dispose()
        response = client.get("/api/jobs")
    assert response.status_code == 500
    assert "Retry-After" not in response.headers


# /health and /ready ---------------------------------------------------------------------


def test_health_and_ready_answer_without_a_token(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    settings = make_settings(public_read=False)
    with TestClient(create_app(settings)) as client:
        health = client.get("/health")
        assert health.status_code == 200 and health.json()["status"] == "ok"
        ready = client.get("/ready")
        assert ready.status_code == 200, ready.text
        body = ready.json()
        assert body["status"] == "ready"
        assert set(body["checks"]) == {"database", "artifact_store"}
        assert all(check["ok"] for check in body["checks"].values())
        assert head_revision() in body["checks"]["database"]["message"]
        assert artifact_files(tmp_path / "artifacts") == []  # its probe file is gone

        # The artifact folder replaced by a file: the store is what fails.
        shutil.rmtree(tmp_path / "artifacts")
        (tmp_path / "artifacts").write_text("not a folder")
        response = client.get("/ready")
        _assert_not_ready(response, "artifact_store")
        assert str(tmp_path) not in response.text  # no path told to anyone asking
        assert client.get("/health").status_code == 200


# PostgreSQL: a real `vigil serve` and a database that comes and goes ---------------------


@contextlib.contextmanager
def _dedicated_database(test_url: str) -> Iterator[tuple[str, Engine]]:
    """A new database beside the PostgreSQL test database; dropped on exit."""
    url = make_url(test_url)
    name = f"{url.database}_outage_{uuid.uuid4().hex[:8]}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield url.set(database=name).render_as_string(hide_password=False), admin
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _close(admin: Engine, name: str) -> None:
    """Refuse new connections to *name* and end the open ones (an outage)."""
    with admin.connect() as connection:
        connection.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false'))
        connection.execute(
            text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = :name AND pid <> pg_backend_pid()"
            ),
            {"name": name},
        )


def _open(admin: Engine, name: str) -> None:
    with admin.connect() as connection:
        connection.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true'))


def _open_after_attempt(admin: Engine, name: str, log: Path, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if log.exists() and "not reachable yet" in log.read_text(errors="replace"):
            break
        time.sleep(0.05)
    _open(admin, name)


@pytest.mark.postgres
def test_postgres_not_up_yet_then_gone_then_back(
    _postgres_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with _dedicated_database(_postgres_url) as (url, admin):
        name = make_url(url).database or ""
        engine = create_engine(url)
        upgrade(engine)
        engine.dispose()
        monkeypatch.setenv("VIGIL_DATABASE_START_TIMEOUT", "120")
        server = VigilServer(url, tmp_path / "server")

        # Not up yet at start: `vigil serve` waits, one line per attempt, and starts
        # once the database takes connections (opened after its first failed attempt).
        _close(admin, name)
        opener = threading.Thread(target=_open_after_attempt, args=(admin, name, server.log))
        opener.start()
        try:
            server.start(timeout=120)
            log = server.log.read_text()
            assert "is not reachable yet (attempt 1:" in log, log
            assert "Traceback" not in log

            assert httpx.get(f"{server.url}/api/jobs").status_code == 200
            assert httpx.get(f"{server.url}/ready").status_code == 200

            # Gone while serving: 503 with Retry-After on every kind of route.
            _close(admin, name)
            _assert_unavailable_api(httpx.get(f"{server.url}/api/jobs"))
            _assert_unavailable_api(httpx.get(f"{server.url}/api/series"))
            _assert_unavailable_page(httpx.get(f"{server.url}/jobs", headers=_PAGE))
            assert httpx.get(f"{server.url}/health").status_code == 200
            _assert_not_ready(httpx.get(f"{server.url}/ready"), "database")

            # Back: answered again, without a restart.
            _open(admin, name)
            assert httpx.get(f"{server.url}/api/jobs").status_code == 200
            assert httpx.get(f"{server.url}/jobs", headers=_PAGE).status_code == 200
            assert httpx.get(f"{server.url}/ready").status_code == 200
            assert server.starts == 1
            assert "Traceback" not in server.log.read_text()
        finally:
            server.stop()
            opener.join()


# Start-up: a database that never comes, a schema from a newer Vigil ----------------------

_UNREACHABLE = "postgresql+psycopg://vigil:s3cret-pw@127.0.0.1:1/vigil"


def _vigil(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "vigil", *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )


def _assert_one_line_error(result: subprocess.CompletedProcess[str], *needles: str) -> str:
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr + result.stdout
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error: "), result.stderr
    for needle in needles:
        assert needle in last, last
    return last


@pytest.mark.parametrize(
    "command", [["serve", "--port", "0"], ["db", "upgrade"], ["worker", "--once"]]
)
def test_an_unreachable_database_at_start_is_one_line(command: list[str], tmp_path: Path) -> None:
    result = _vigil(
        *command,
        env={
            "VIGIL_DATABASE_URL": _UNREACHABLE,
            "VIGIL_DATABASE_START_TIMEOUT": "1.5",
            "VIGIL_DATA_DIR": str(tmp_path),
        },
    )
    last = _assert_one_line_error(
        result, "Cannot reach the database postgresql+psycopg://vigil:***@127.0.0.1:1/vigil"
    )
    assert "VIGIL_DATABASE_START_TIMEOUT" in last
    assert "s3cret-pw" not in result.stderr + result.stdout
    attempts = [line for line in result.stderr.splitlines() if "not reachable yet" in line]
    assert attempts and "attempt 1:" in attempts[0]


def test_other_commands_say_an_unreachable_database_in_one_line(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli_app,
        ["user", "list", "--database-url", _UNREACHABLE],
        env={"VIGIL_DATA_DIR": str(tmp_path)},
    )
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit)
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: Cannot reach the database"), lines
    assert "s3cret-pw" not in result.output


def _as_written_by_a_newer_vigil(database: str, *, record: bool = True) -> None:
    with sqlite3.connect(database) as connection:
        connection.execute("UPDATE alembic_version SET version_num = '0999'")
        if record:
            connection.execute(
                "UPDATE vigil_schema SET revision = '0999', requires_vigil = '9.1.0',"
                " written_by = '9.2.0'"
            )
        else:
            connection.execute("DROP TABLE vigil_schema")


def test_a_schema_from_a_newer_vigil_names_the_version_it_needs(
    sqlite_settings: Settings,
) -> None:
    database = sqlite_settings.effective_database_url.database or ""
    url = f"sqlite:///{database}"
    with sqlite3.connect(database) as connection:
        stored = connection.execute("SELECT revision, requires_vigil FROM vigil_schema").fetchall()
    assert stored == [(head_revision(), first_version(head_revision()))]

    _as_written_by_a_newer_vigil(database)
    expected = (
        "error: The database schema (revision 0999) was written by Vigil >= 9.1.0;"
        f" this is Vigil {__version__}: upgrade Vigil"
    )
    for command in (["serve", "--port", "0"], ["db", "upgrade"], ["db", "current"]):
        result = CliRunner().invoke(cli_app, [*command, "--database-url", url])
        assert result.exit_code == 1, result.output
        assert isinstance(result.exception, SystemExit), result.exception
        lines = result.output.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith(expected), (command, lines)
    with (
        pytest.raises(DatabaseSchemaError, match=r"Vigil >= 9\.1\.0.*upgrade Vigil"),
        TestClient(create_app(sqlite_settings)),
    ):
        pass

    # A database that has no record of it still says what to do.
    _as_written_by_a_newer_vigil(database, record=False)
    result = CliRunner().invoke(cli_app, ["db", "upgrade", "--database-url", url])
    assert result.exit_code == 1
    assert "(revision 0999) was written by a newer Vigil" in result.output
    assert "upgrade Vigil" in result.output


def test_every_listed_revision_exists_and_is_released() -> None:
    from alembic.script import ScriptDirectory

    from vigil.server.migration import alembic_config

    revisions = {s.revision for s in ScriptDirectory.from_config(alembic_config()).walk_revisions()}
    assert set(FIRST_VERSIONS) <= revisions
    version = tuple(int(part) for part in __version__.split(".")[:3])
    for listed in FIRST_VERSIONS.values():
        assert tuple(int(part) for part in listed.split(".")[:3]) <= version


# Artifacts ------------------------------------------------------------------------------


def _job_and_token(settings: Settings) -> dict[str, str]:
    from vigil.server.factory import Factory

    with Factory.standalone(settings) as factory:
        users = factory.create_user_service()
        users.create_user("ada")
        return {"Authorization": f"Bearer {users.create_token('ada').text}"}


def _upload(client: TestClient, headers: dict[str, str], job_id: int, content: bytes) -> Any:
    return client.post(
        f"/api/jobs/{job_id}/artifacts",
        files=[("files", ("out/data.bin", content, "application/octet-stream"))],
        headers=headers,
    )


class _FullDisk:
    """A file object that takes half of what it is given, then says the disk is full."""

    def __init__(self, real: IO[bytes]) -> None:
        self._real = real

    def write(self, data: bytes) -> int:
        self._real.write(data[: len(data) // 2])
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)

    def __enter__(self) -> _FullDisk:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._real.close()


def test_a_failed_artifact_write_leaves_no_file_and_is_507(
    sqlite_settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    headers = _job_and_token(sqlite_settings)
    root = tmp_path / "artifacts"
    real_open = ArtifactContentStore._open_for_writing
    with TestClient(create_app(sqlite_settings)) as client:
        job_id = int(_post_job(client, headers).json()["id"])
        monkeypatch.setattr(
            ArtifactContentStore,
            "_open_for_writing",
            staticmethod(lambda path: _FullDisk(real_open(path))),
        )
        response = _upload(client, headers, job_id, os.urandom(4096))
        assert response.status_code == 507, response.text
        assert response.json()["detail"]["code"] == "insufficient_storage"
        assert "full" in response.json()["detail"]["message"]
        assert artifact_files(root) == []
        assert client.get(f"/api/jobs/{job_id}/artifacts").json() == []

        monkeypatch.setattr(ArtifactContentStore, "_open_for_writing", staticmethod(real_open))
        assert _upload(client, headers, job_id, b"fits now").status_code == 201
        assert len(artifact_files(root)) == 1


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 1 MiB tmpfs (needs root and a kernel that lets this process mount)."""
    mount = tmp_path / "small-disk"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_a_full_disk_is_507_and_later_uploads_still_work(
    sqlite_settings: Settings, small_disk: Path
) -> None:
    settings = sqlite_settings.model_copy(update={"artifact_url": str(small_disk / "artifacts")})
    headers = _job_and_token(settings)
    with TestClient(create_app(settings)) as client:
        job_id = int(_post_job(client, headers).json()["id"])
        for _ in range(2):  # before the fix the second failed too, on the first's leftover
            response = _upload(client, headers, job_id, os.urandom(2 * 1024 * 1024))
            assert response.status_code == 507, response.text
            assert artifact_files(small_disk / "artifacts") == []
        assert _upload(client, headers, job_id, os.urandom(64 * 1024)).status_code == 201
        assert len(artifact_files(small_disk / "artifacts")) == 1


def test_stale_temporary_files_are_removed_at_start_and_by_prune(
    sqlite_settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "artifacts"
    hour_ago = time.time() - 3600

    def leftover(name: str, *, old: bool) -> Path:
        path = root / name[1:3] / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"half a file")
        if old:
            os.utime(path, (hour_ago, hour_ago))
        return path

    stale = leftover(".ab12.dead.part", old=True)
    young = leftover(".cd34.live.part", old=False)  # perhaps an upload in progress
    with TestClient(create_app(sqlite_settings)):
        assert not stale.exists()
        assert young.exists()

    again = leftover(".ef56.dead.part", old=True)
    monkeypatch.setenv("VIGIL_ARTIFACT_URL", str(root))
    result = CliRunner().invoke(
        cli_app,
        ["artifacts", "prune", "--database-url", str(sqlite_settings.effective_database_url)],
    )
    assert result.exit_code == 0, result.output
    assert "Removed 1 temporary files" in result.output
    assert not again.exists() and young.exists()


def test_an_unwritable_artifact_folder_is_refused_at_start(
    sqlite_settings: Settings, tmp_path: Path
) -> None:
    # Tests run as root, whom permissions do not stop: a folder below a file stops anyone.
    (tmp_path / "a-file").write_text("")
    folder = tmp_path / "a-file" / "artifacts"
    settings = sqlite_settings.model_copy(update={"artifact_url": str(folder)})
    with pytest.raises(ArtifactStoreError, match="not writable"), TestClient(create_app(settings)):
        pass

    result = _vigil(
        "serve",
        "--port",
        str(free_port()),
        env={
            "VIGIL_DATABASE_URL": str(settings.effective_database_url),
            "VIGIL_ARTIFACT_URL": str(folder),
            "VIGIL_DATA_DIR": str(tmp_path / "data"),
        },
    )
    _assert_one_line_error(result, f"The artifact folder {folder} is not writable")
