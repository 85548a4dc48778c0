"""A database of the first schema release is upgraded by ``vigil db upgrade``, rows intact.

``tests/server/data/schema-0001.sqlite`` was written by the code of revision 0001 (see
``make_schema_0001.py`` beside it): a user and her token, two real jobs with their
measurements, blobs, metrics, specifications and packages, and an artifact. Every later
migration must carry all of it: the test compares every row of every table the fixture
has, column by column, before and after the upgrade, then reads the data back through
the API with the old token.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from typer.testing import CliRunner

from vigil.cli import app as cli_app
from vigil.server.config import Settings
from vigil.server.main import create_app
from vigil.server.migration import head_revision

DATA = Path(__file__).resolve().parents[1] / "server" / "data"
FIXTURE = DATA / "schema-0001.sqlite"
FACTS = json.loads((DATA / "schema-0001.json").read_text())


def _rows(
    path: Path, only: set[str] | None = None
) -> dict[str, tuple[list[str], list[tuple[Any, ...]]]]:
    """Every table (but Alembic's), or those in *only*: columns and rows, in rowid order.

    Later revisions may add tables without a rowid (the shadow tables of an FTS5 index):
    after the upgrade, only the tables of the first release are read.
    """
    with sqlite3.connect(path) as connection:
        tables = [
            name
            for (name,) in connection.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            )
            if name != "alembic_version" and (only is None or name in only)
        ]
        found = {}
        for table in tables:
            cursor = connection.execute(f'SELECT * FROM "{table}" ORDER BY rowid')
            found[table] = ([d[0] for d in cursor.description], cursor.fetchall())
    return found


def _revision(path: Path) -> str:
    with sqlite3.connect(path) as connection:
        return str(connection.execute("SELECT version_num FROM alembic_version").fetchone()[0])


def test_vigil_db_upgrade_keeps_every_row_of_the_first_release(tmp_path: Path) -> None:
    database = tmp_path / "vigil.sqlite3"
    shutil.copyfile(FIXTURE, database)
    assert _revision(database) == FACTS["revision"] == "0001"
    before = _rows(database)
    assert {t: len(rows) for t, (_, rows) in before.items() if rows} == {
        "users": 1,
        "tokens": 1,
        "jobs": 2,
        "job_packages": 124,
        "metrics": 62,
        "specifications": 30,
        "series": 30,
        "measurements": 60,
        "blobs": 6,
        "measurement_blobs": 122,
        "artifacts": 1,
    }

    url = f"sqlite:///{database}"
    result = CliRunner().invoke(cli_app, ["db", "upgrade", "--database-url", url])
    assert result.exit_code == 0, result.output
    assert f"from 0001 to {head_revision()}" in result.output or head_revision() == "0001"
    assert _revision(database) == head_revision()

    after = _rows(database, only=set(before))
    for table, (columns, rows) in before.items():
        assert table in after, f"table {table} disappeared"
        new_columns, new_rows = after[table]
        kept = [new_columns.index(c) for c in columns]  # later revisions may add columns
        assert [tuple(r[i] for i in kept) for r in new_rows] == rows, f"rows of {table} changed"

    # And the server reads it all back, with the token made by the first release.
    again = CliRunner().invoke(cli_app, ["db", "upgrade", "--database-url", url])
    assert again.exit_code == 0 and "nothing to do" in again.output
    settings = Settings(data_dir=tmp_path, database_url=url)
    headers = {"Authorization": f"Bearer {FACTS['token']}"}
    with TestClient(create_app(settings)) as client:
        assert client.get("/api/me", headers=headers).json()["name"] == FACTS["user"]
        jobs = client.get("/api/jobs").json()["items"]
        assert sorted(j["identifier"] for j in jobs) == ["fixture-cfht-job", "fixture-verify-job"]
        first = next(j for j in jobs if j["identifier"] == "fixture-verify-job")
        detail = client.get(f"/api/jobs/{first['id']}").json()
        assert len(detail["measurements"]) == 30
        assert [a["name"] for a in client.get(f"/api/jobs/{first['id']}/artifacts").json()] == [
            "plots/residuals.png"
        ]
        assert client.get("/api/metrics?limit=1000").json()["items"].__len__() == 62
