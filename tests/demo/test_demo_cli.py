"""``vigil demo``: files with --out, and an idempotent load into SQLite."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from vigil.commands.demo import register
from vigil.demo import DemoHistory
from vigil.verify import Job

runner = CliRunner()


@pytest.fixture(scope="module")
def app() -> typer.Typer:
    app = typer.Typer()
    register(app)

    @app.callback()
    def _main() -> None:
        """Two commands or more make Typer keep the command name."""

    return app


def test_out_writes_verify_json_files(app: typer.Typer, tmp_path: Path) -> None:
    result = runner.invoke(app, ["demo", "--no-serve", "--out", str(tmp_path), "--days", "6"])
    assert result.exit_code == 0, result.output
    files = sorted(tmp_path.glob("*.verify.json"))
    assert len(files) == len(DemoHistory(days=6))
    for path in files:
        job = Job.read(path, strict=True)
        assert path.name == f"{job.identifier}.verify.json"
    pngs = list((tmp_path / "artifacts").rglob("*.png"))
    deblend = [p for p in files if "-deblend-" in p.name]
    assert len(pngs) == 5 * len(deblend)
    truth = json.loads((tmp_path / "injected-changes.json").read_text())
    assert truth == []  # the first change is on night 52


def test_out_and_serve_is_a_user_mistake(app: typer.Typer, tmp_path: Path) -> None:
    result = runner.invoke(app, ["demo", "--serve", "--out", str(tmp_path)])
    assert result.exit_code == 1
    assert "--no-serve" in result.output
    assert not list(tmp_path.iterdir())


def test_missing_metrics_folder_is_a_user_mistake(app: typer.Typer, tmp_path: Path) -> None:
    missing = tmp_path / "verify_metrics"
    result = runner.invoke(app, ["demo", "--no-serve", "--metrics", str(missing)])
    assert result.exit_code == 1
    assert str(missing) in result.output


def _count(database: Path, table: str) -> int:
    with sqlite3.connect(database) as connection:
        return int(connection.execute(f"SELECT count(*) FROM {table}").fetchone()[0])


def test_load_into_sqlite_is_idempotent(app: typer.Typer, tmp_path: Path) -> None:
    folder = tmp_path / "demo"
    history = DemoHistory(days=8)
    deblend = sum(1 for r in history.runs if r.pipeline == "deblend")
    arguments = ["demo", "--no-serve", "--dir", str(folder), "--days", "8"]

    first = runner.invoke(app, arguments)
    assert first.exit_code == 0, first.output
    database = folder / "vigil.sqlite3"
    assert _count(database, "jobs") == len(history)
    assert _count(database, "artifacts") == 5 * deblend
    measurements = _count(database, "measurements")
    assert measurements == sum(len(j["measurements"]) for j in history.jobs())
    token = (folder / "demo-token").read_text().strip()
    assert token.startswith("vgl_") and token in first.output
    assert (folder / "demo-token").stat().st_mode & 0o077 == 0

    again = runner.invoke(app, arguments)
    assert again.exit_code == 0, again.output
    assert f"0 jobs stored, {len(history)} already there, 0 artifacts" in again.output
    assert _count(database, "jobs") == len(history)
    assert _count(database, "measurements") == measurements
    assert _count(database, "artifacts") == 5 * deblend
    assert _count(database, "users") == 1
    assert token in again.output

    with sqlite3.connect(database) as connection:
        nulls = connection.execute(
            "SELECT count(*) FROM measurements WHERE value IS NULL"
        ).fetchone()[0]
    expected_nan = sum(
        1 for j in history.jobs() for m in j["measurements"] if m["value"] != m["value"]
    )
    assert nulls == expected_nan
