"""``vigil check``: the CI gate against a real server over HTTP."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import uvicorn
from typer.testing import CliRunner

from server.regressions._support import free_port, history, ingest, make_job
from vigil.cli import app as cli_app
from vigil.commands.analysis import markdown_summary
from vigil.server.config import Settings
from vigil.server.factory import Factory
from vigil.server.main import create_app

runner = CliRunner()


@pytest.fixture
def server_url(make_settings: Any) -> Iterator[str]:
    """A running server (uvicorn in a thread) on the test database, with main's history."""
    settings: Settings = make_settings(background_worker=False)
    with Factory.standalone(settings) as factory:
        ingest(factory, history(after=0))
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert httpx.get(f"{url}/api/").status_code == 200
    yield url
    server.should_exit = True
    thread.join(30)


def _job_file(tmp_path: Path, pa1: float) -> Path:
    job = make_job(30, {"validate_drp.PA1": pa1, "validate_drp.AM1": 8.0}, branch="tickets/DM-7")
    path = tmp_path / "job.json"
    path.write_bytes(orjson.dumps(job))
    return path


def test_a_regressing_job_fails_the_check_with_a_summary(
    server_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    step_summary = tmp_path / "step-summary.md"
    step_summary.write_text("# earlier step\n")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(step_summary))
    markdown = tmp_path / "comment.md"
    result = runner.invoke(
        cli_app,
        ["check", str(_job_file(tmp_path, 12.5)), "--url", server_url, "--markdown", str(markdown)],
    )
    assert result.exit_code == 1, result.output
    assert "regression" in result.output and "validate_drp.PA1" in result.output
    comment = markdown.read_text()
    assert comment.startswith("## ❌ Vigil: 1 regression")
    assert "| ❌ regression | `validate_drp.PA1` |" in comment
    assert "1 series show no change." in comment
    assert step_summary.read_text() == "# earlier step\n" + comment


def test_a_clean_job_passes(
    server_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    result = runner.invoke(cli_app, ["check", str(_job_file(tmp_path, 10.0)), "--url", server_url])
    assert result.exit_code == 0, result.output
    assert "No regression." in result.output


def test_a_stored_job_by_id_against_the_fork_point(server_url: str) -> None:
    result = runner.invoke(
        cli_app, ["check", "--job-id", "20", "--baseline", "fork-point", "--url", server_url]
    )
    assert result.exit_code == 0, result.output
    assert "main before the job" in result.output.replace("\n", " ")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "give a job file or --job-id"),
        (["--job-id", "424242"], "No job has the id 424242"),
        (["missing.json"], "cannot read missing.json"),
    ],
)
def test_user_mistakes_are_one_line(server_url: str, args: list[str], message: str) -> None:
    result = runner.invoke(cli_app, ["check", *args, "--url", server_url])
    assert result.exit_code == 1
    assert message in result.output
    assert "Traceback" not in result.output


def test_markdown_of_a_report_without_regression() -> None:
    report = {
        "job_id": None,
        "branch": "tickets/DM-1",
        "commit_sha": "abcdef1234567",
        "baseline": "main",
        "baseline_description": "main before the job",
        "regression_count": 0,
        "verdicts": [
            {
                "metric": "a.b",
                "dataset": "d",
                "data_id": {"band": "r"},
                "value": 1.0,
                "unit": "mmag",
                "baseline_median": 1.5,
                "relative_difference": -0.33,
                "p_value": 0.001,
                "verdict": "improvement",
            }
        ],
    }
    text = markdown_summary(report)
    assert text.startswith("## ✅ Vigil: no regression")
    assert "tickets/DM-1 at `abcdef1234` against main before the job: 1 improvement" in text
    assert "| ✅ improvement | `a.b` | d | band=r | 1 mmag | 1.5 | -33.0 % | 0.001 |" in text
