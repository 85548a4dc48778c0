"""The server area of the ``vigil`` command: db, user, token, metrics, serve's refusal."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from vigil.cli import app
from vigil.server.config import Settings
from vigil.server.factory import Factory

TOKEN_RE = re.compile(r"^vgl_\d+_[A-Za-z0-9_-]{40,}$", re.MULTILINE)


@pytest.fixture
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh SQLite URL; commands read it from VIGIL_DATABASE_URL like `vigil serve`."""
    url = f"sqlite:///{tmp_path / 'cli.sqlite3'}"
    monkeypatch.setenv("VIGIL_DATABASE_URL", url)
    monkeypatch.setenv("VIGIL_DATA_DIR", str(tmp_path))
    return url


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.output


def test_db_upgrade_and_current(database: str) -> None:
    code, output = run("db", "current")
    assert code == 1 and "vigil db upgrade" in output
    code, output = run("db", "upgrade")
    assert code == 0 and "migrated" in output
    code, output = run("db", "current")
    assert code == 0 and "(current)" in output
    code, output = run("db", "upgrade")
    assert code == 0 and "nothing to do" in output


def test_commands_refuse_a_database_without_schema(database: str) -> None:
    code, output = run("user", "create", "ada")
    assert code == 1
    assert output.strip().splitlines()[-1].startswith("error: ")
    assert "vigil db upgrade" in output


def test_users_and_tokens(database: str) -> None:
    run("db", "upgrade")
    code, output = run("user", "create", "ada", "--admin", "--email", "ada@example.org")
    assert code == 0
    first = TOKEN_RE.search(output)
    assert first is not None
    code, output = run("token", "create", "ada", "--name", "ci")
    second = TOKEN_RE.search(output)
    assert code == 0 and second is not None and second[0] != first[0]

    with Factory.standalone(Settings()) as factory:
        user = factory.create_auth_service().authenticate(second[0])
        assert (user.name, user.is_admin, user.email) == ("ada", True, "ada@example.org")

    code, output = run("token", "list")
    assert code == 0 and "\tci\t" in output
    assert first[0] not in output and second[0] not in output  # never secrets

    code, output = run("token", "revoke", second[0])
    assert code == 0
    code, output = run("token", "list")
    assert "\tci\t" not in output
    code, output = run("token", "revoke", second[0])
    assert code == 1 and "error:" in output

    code, output = run("user", "create", "ada")
    assert code == 1 and "exists" in output
    code, output = run("token", "create", "nobody")
    assert code == 1 and "vigil user create nobody" in output


def test_tokens_are_stored_hashed(database: str, tmp_path: Path) -> None:
    run("db", "upgrade")
    _, output = run("user", "create", "ada")
    token = TOKEN_RE.search(output)
    assert token is not None
    secret = token[0].split("_", 2)[2]
    assert secret.encode() not in (tmp_path / "cli.sqlite3").read_bytes()


def test_metrics_load_a_verify_metrics_tree(database: str, conformance: Path) -> None:
    run("db", "upgrade")
    tree = conformance / "lsst-verify" / "verify_metrics"
    code, output = run("metrics", "load", str(tree))
    assert code == 0, output
    assert "1032 metrics (1032 new or changed)" in output
    assert "1705 specifications" in output
    code, output = run("metrics", "load", str(tree))
    assert "(0 new or changed)" in output
    with Factory.standalone(Settings()) as factory:
        metric, specs = factory.create_metric_service().get_metric("validate_drp.PA1")
    assert metric.unit == "mmag" and specs
    code, output = run("metrics", "load", str(conformance / "nothing-here"))
    assert code == 1 and "error:" in output


def test_serve_refuses_an_out_of_date_database(database: str) -> None:
    run("db", "upgrade")
    import sqlalchemy

    engine = sqlalchemy.create_engine(database)
    with engine.begin() as connection:
        connection.exec_driver_sql("UPDATE alembic_version SET version_num = '0000'")
    engine.dispose()
    code, output = run("serve", "--port", "1")
    assert code == 1
    assert "vigil db upgrade" in output
