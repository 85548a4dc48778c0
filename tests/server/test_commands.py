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
        connection.exec_driver_sql("UPDATE alembic_version SET version_num = '0001'")
    engine.dispose()
    code, output = run("serve", "--port", "1")
    assert code == 1
    assert "vigil db upgrade" in output


def test_roles_expiry_and_the_token_list(database: str) -> None:
    run("db", "upgrade")
    code, output = run("user", "create", "ci", "--role", "submitter", "--role", "triager")
    assert code == 0 and "roles: submitter triager" in output, output
    code, output = run("user", "create", "root", "--admin")
    assert code == 0 and "roles: admin" in output
    code, output = run("user", "create", "robot")
    assert code == 0 and "roles: submitter" in output  # the default: what CI needs
    code, output = run("user", "create", "x", "--role", "superuser")
    assert code == 1 and "'superuser' is not a role" in output

    code, output = run(
        "token", "create", "ci", "--name", "upload", "--role", "submitter", "--expires-in", "30d"
    )
    assert code == 0 and "roles: submitter," in output, output
    token = TOKEN_RE.search(output)
    assert token is not None
    with Factory.standalone(Settings()) as factory:
        user = factory.create_auth_service().authenticate(token[0])
        assert sorted(user.roles) == ["submitter"]
        (listed,) = [
            t for t in factory.create_user_service().list_tokens("ci") if t.name == "upload"
        ]
        assert listed.expires_at is not None
        days = (listed.expires_at - listed.created_at).days
        assert days == 30
    code, output = run("token", "create", "ci", "--expires-in", "400d")
    assert code == 1 and "at most 365 days" in output
    code, output = run("token", "create", "ci", "--expires-in", "soon")
    assert code == 1 and "not a duration" in output
    code, output = run("token", "create", "ci", "--role", "operator")
    assert code == 1 and "has no role operator" in output

    code, output = run("token", "list", "--user", "ci")
    assert code == 0
    header, *rows = output.strip().splitlines()
    assert header.split("\t") == [
        "id", "user", "name", "roles", "created", "last used", "expires", "revoked"
    ]  # fmt: skip
    upload = next(r.split("\t") for r in rows if "\tupload\t" in r)
    assert upload[3] == "submitter" and upload[6] != "never"

    code, output = run("user", "roles", "ci", "--set", "viewer", "--set", "operator")
    assert code == 0 and "ci: viewer operator" in output
    code, output = run("user", "roles", "ci", "--remove", "viewer", "--remove", "operator")
    assert code == 1 and "without a role" in output
    code, output = run("user", "list")
    assert "\tviewer operator" in output

    code, output = run("audit", "list")
    assert code == 0
    actions = [line.split("\t")[3] for line in output.strip().splitlines()[1:]]
    assert "user.roles" in actions and "token.create" in actions and "user.create" in actions
    assert all(line.split("\t")[2].startswith("cli:") for line in output.strip().splitlines()[1:])


def test_job_and_metric_delete_ask_first(database: str, tmp_path: Path) -> None:
    import json

    run("db", "upgrade")
    job = {
        "identifier": "to-delete",
        "measurements": [
            {"metric": "demo.PA1", "value": 1.0, "unit": "mmag"},
            {"metric": "demo.AM1", "value": 2.0, "unit": "marcsec"},
        ],
        "meta": {},
    }
    with Factory.standalone(Settings()) as factory:
        job_id = factory.create_job_service().ingest(json.loads(json.dumps(job)), None).id
    result = CliRunner().invoke(app, ["job", "delete", str(job_id)], input="n\n")
    assert result.exit_code == 1 and "nothing was deleted" in result.output
    code, output = run("metric", "delete", "demo.PA1", "--yes")
    assert code == 0 and "1 measurements in 1 jobs" in output, output
    result = CliRunner().invoke(app, ["job", "delete", str(job_id)], input="y\n")
    assert result.exit_code == 0, result.output
    assert f"Deleted job {job_id} (to-delete): 1 measurements" in result.output
    code, output = run("job", "delete", str(job_id), "--yes")
    assert code == 1 and f"No job has the id {job_id}" in output
    code, output = run("metric", "delete", "no.such", "--yes")
    assert code == 1 and "No metric is called 'no.such'" in output
    code, output = run("audit", "list", "--action", "job.delete")
    rows = output.strip().splitlines()[1:]
    assert len(rows) == 1 and f"\tjob {job_id}\t" in rows[0] and '"measurements": 1' in rows[0]
