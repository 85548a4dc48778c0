"""``vigil dispatch`` end to end, against a real HTTP receiver."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Protocol

import pytest
import typer
from typer.testing import CliRunner, Result

from vigil.client import dispatch
from vigil.commands.client import register

from ._support import CFHT_JOB, VERIFY_JOB, Receiver, git, make_repo, small_job


class Invoke(Protocol):
    def __call__(self, *args: str, env: dict[str, str] | None = None) -> Result: ...


FAST = ["--retries", "1", "--backoff", "0.01", "--timeout", "2", "--no-packages", "--no-git"]


def _app() -> typer.Typer:
    try:
        from vigil.cli import app
    except ImportError:  # another area's module mid-edit: test this command on its own
        app = typer.Typer()

        @app.callback()
        def _root() -> None:
            """Stand-in for vigil.cli."""

        register(app)
    return app


@pytest.fixture
def job_file(tmp_path: Path) -> Path:
    path = tmp_path / "job.json"
    path.write_text(json.dumps(small_job()))
    return path


@pytest.fixture
def spool_dir(tmp_path: Path) -> Path:
    return tmp_path / "spool"


@pytest.fixture
def run(spool_dir: Path, no_ci: None) -> Invoke:
    app = _app()

    def invoke(*args: str, env: dict[str, str] | None = None) -> Result:
        environment = {"VIGIL_SPOOL_DIR": str(spool_dir), **(env or {})}
        return CliRunner().invoke(app, ["dispatch", *args], env=environment)

    return invoke


def _spooled(spool_dir: Path) -> list[Path]:
    return sorted(spool_dir.glob("*.json")) if spool_dir.exists() else []


def test_first_dispatch_stores_the_job(run: Invoke, receiver: Receiver, job_file: Path) -> None:
    result = run(str(job_file), "--url", receiver.url, "--token", "t0k3n", *FAST)
    assert result.exit_code == 0, result.output
    assert "stored" in result.output and "2 measurements" in result.output
    assert f"{receiver.url}/jobs/1" in result.output
    sent = receiver.requests[0]
    assert sent.headers["authorization"] == "Bearer t0k3n"
    assert sent.json["meta"]["env"]["env_name"] == "local"


def test_jenkins_and_git_facts_are_sent(run: Invoke, receiver: Receiver, tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    env = {"JENKINS_URL": "https://ci/", "BUILD_ID": "77", "BUILD_URL": "https://ci/77/",
           "dataset": "validation_data_cfht", "CHANGE_ID": "12"}  # fmt: skip
    fast = [arg for arg in FAST if arg != "--no-git"]
    result = run(str(CFHT_JOB), "--url", receiver.url, "--git-dir", str(repo), *fast, env=env)
    assert result.exit_code == 0, result.output
    meta = receiver.requests[0].json["meta"]
    assert meta["env"]["env_name"] == "jenkins"
    assert (meta["env"]["ci_id"], meta["env"]["ci_url"]) == ("77", "https://ci/77/")
    assert meta["env"]["ci_dataset"] == "validation_data_cfht"
    assert meta["git"]["author_email"] == "ada@example.org"
    assert meta["git"]["branch"] == "tickets/DM-42"
    assert meta["git"]["pull_request"] == 12
    assert meta["git"]["commit"] == git(repo, "rev-parse", "HEAD")
    assert meta["filter_name"] == "r"


def test_server_down_spools_then_next_call_flushes(
    run: Invoke, receiver: Receiver, dead_url: str, job_file: Path, spool_dir: Path
) -> None:
    down = run(str(job_file), "--url", dead_url, *FAST)
    assert down.exit_code == 2, down.output
    assert "spooled" in down.output and "next call" in down.output
    (spooled,) = _spooled(spool_dir)
    identifier = json.loads(spooled.read_text())["identifier"]
    assert spooled.name == f"{identifier}.json"

    other = spool_dir.parent / "other.json"
    other.write_text(json.dumps(small_job(identifier="second-job")))
    up = run(str(other), "--url", receiver.url, *FAST)
    assert up.exit_code == 0, up.output
    # The spooled job first, under the identifier it was spooled with, then the new one.
    assert receiver.identifiers == [identifier, "second-job"]
    assert _spooled(spool_dir) == []
    assert up.output.count("stored") == 2


def test_retries_and_resends_reuse_the_identifier(run: Invoke, receiver: Receiver) -> None:
    receiver.answer("500", "close")  # a first call whose retries are exhausted
    first = run(str(VERIFY_JOB), "--url", receiver.url, *FAST)
    assert first.exit_code == 2, first.output
    second = run("--flush", "--url", receiver.url, *FAST)
    assert second.exit_code == 0, second.output
    assert len(receiver.requests) == 3 and len(set(receiver.identifiers)) == 1
    assert "stored" in second.output and "30 measurements" in second.output


def test_rejected_job_exits_1_naming_the_field(
    run: Invoke, receiver: Receiver, job_file: Path, spool_dir: Path
) -> None:
    receiver.answer("422")
    result = run(str(job_file), "--url", receiver.url, *FAST)
    assert result.exit_code == 1
    assert "measurements.3.unit" in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert _spooled(spool_dir) == []


def test_bad_token_says_how_to_get_one(run: Invoke, receiver: Receiver, job_file: Path) -> None:
    receiver.answer("401")
    result = run(str(job_file), "--url", receiver.url, *FAST, env={"VIGIL_TOKEN": "expired"})
    assert result.exit_code == 1
    assert "invalid or expired" in result.output
    assert "vigil token create NAME" in result.output


def test_dry_run_prints_the_merged_job_and_sends_nothing(run: Invoke, receiver: Receiver) -> None:
    env = {"JENKINS_URL": "https://ci/", "BUILD_ID": "77", "VIGIL_URL": receiver.url}
    result = run(str(CFHT_JOB), str(VERIFY_JOB), "--dry-run", "--env", "jenkins", *FAST, env=env)
    assert result.exit_code == 0, result.output
    job = json.loads(result.stdout)
    assert len(job["measurements"]) == 60 and len(job["identifier"]) == 32
    assert job["meta"]["env"]["ci_id"] == "77"
    assert job["measurements"][14]["value"] is None
    assert receiver.requests == []


def test_dry_run_to_a_file(run: Invoke, tmp_path: Path, job_file: Path) -> None:
    out = tmp_path / "final.json"
    result = run(str(job_file), "--dry-run", "-o", str(out), "--ignore-blobs", *FAST)
    assert result.exit_code == 0, result.output
    assert json.loads(out.read_text())["blobs"] == []


def test_flush_only(run: Invoke, receiver: Receiver, dead_url: str, job_file: Path) -> None:
    assert run(str(job_file), "--url", dead_url, *FAST).exit_code == 2
    assert run("--flush", "--url", dead_url, *FAST).exit_code == 2
    flushed = run("--flush", "--url", receiver.url, *FAST)
    assert flushed.exit_code == 0 and len(receiver.requests) == 1
    assert "spool is empty" in run("--flush", "--url", receiver.url, *FAST).output


def test_gzip_option(run: Invoke, receiver: Receiver, job_file: Path) -> None:
    assert run(str(job_file), "--url", receiver.url, "--gzip", *FAST).exit_code == 0
    assert receiver.requests[0].headers["content-encoding"] == "gzip"


@pytest.mark.parametrize(
    ("args", "message"),
    [((), "--flush"), (("job.json",), "--url"), (("x.json", "--env", "travis"), "travis"),
     (("missing.json", "--dry-run"), "Cannot read job file")],
)  # fmt: skip
def test_user_mistakes_exit_1(
    run: Invoke, tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    (tmp_path / "job.json").write_text(json.dumps(small_job()))
    args = tuple(str(tmp_path / a) if a.endswith(".json") else a for a in args)
    result = run(*args, *FAST)
    assert result.exit_code == 1
    assert message in result.output


def test_python_api_spools_and_resends(
    receiver: Receiver, dead_url: str, tmp_path: Path, no_ci: None
) -> None:
    options: dict[str, Any] = {"retries": 0, "spool": tmp_path, "git_dir": None, "packages": False}
    spooled = dispatch(CFHT_JOB, url=dead_url, **options)
    assert spooled.outcome == "spooled" and spooled.spool_path is not None
    stored = dispatch(small_job(), url=receiver.url, token="t", **options)
    assert stored.created
    assert receiver.identifiers == [spooled.identifier, stored.identifier]
