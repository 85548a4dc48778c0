"""``vigil dispatch --log FILE``: a CI job's log read line by line (Python logging and LSST
pipeline formats), sent in batches as the log of the job's run, shown on the logs page;
stored once however often it is sent, and spooled while the server is down."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from typer.testing import CliRunner, Result

from monitor.conftest import ServerThread
from vigil.client.logs import BATCH_RECORDS, log_batches, read_log

from ._support import small_job

START = datetime(2026, 5, 1, 3, 0, tzinfo=UTC)

CI_LOG = "\n".join(
    [
        "+ pipetask run -b repo -p DRP.yaml --long-log",
        "INFO 2026-05-01T03:00:01.250+00:00 lsst.ctrl.mpexec.cmdLineFwk ()(cmdLineFwk.py:597)"
        " - QuantumGraph contains 2 quanta",
        "VERBOSE 2026-05-01T03:00:02.000+00:00 lsst.isr (isr:{instrument: 'HSC', detector: 42})"
        "(isrTask.py:1234) - Converting exposure to floating point values.",
        "WARNING 2026-05-01T03:00:03.500+00:00 lsst.isr (isr:{instrument: 'HSC', detector: 42})"
        "(isrTask.py:1500) - Saturated pixels in amp 3",
        "lsst.calibrate INFO: Photometric zero point 27.05",
        "WARNING:py.warnings:deprecated call",
        "2026-05-01 03:00:05,120 - lsst.ctrl.mpexec - ERROR - Task failed",
        "Traceback (most recent call last):",
        '  File "singleQuantumExecutor.py", line 88, in execute',
        "    self.runQuantum(task, quantum)",
        "ValueError: planted failure on ccd 42",
        "2026-05-01 03:00:06,000 INFO lsst.ctrl.mpexec: Executed 1 quanta, 1 failed",
        "Traceback (most recent call last):",
        '  File "pipetask", line 8, in <module>',
        "RuntimeError: 1 quantum failed",
        "make: *** [ci] Error 1",
    ]
)


def test_python_logging_and_lsst_pipeline_lines_are_read() -> None:
    records = list(read_log(CI_LOG.splitlines(keepends=True), start=START))
    shape = [(r["level"], r.get("logger"), r["message"].splitlines()[0]) for r in records]
    assert shape == [
        (20, None, "+ pipetask run -b repo -p DRP.yaml --long-log"),
        (20, "lsst.ctrl.mpexec.cmdLineFwk", "QuantumGraph contains 2 quanta"),
        (15, "lsst.isr", "Converting exposure to floating point values."),
        (30, "lsst.isr", "Saturated pixels in amp 3"),
        (20, "lsst.calibrate", "Photometric zero point 27.05"),
        (30, "py.warnings", "deprecated call"),
        (40, "lsst.ctrl.mpexec", "Task failed"),
        (20, "lsst.ctrl.mpexec", "Executed 1 quanta, 1 failed"),
        (40, None, "Traceback (most recent call last):"),
        (20, None, "make: *** [ci] Error 1"),  # no level name: INFO
    ]
    # The traceback logged with the error belongs to it, up to the exception's line.
    assert records[6]["message"].splitlines()[1:] == [
        "Traceback (most recent call last):",
        '  File "singleQuantumExecutor.py", line 88, in execute',
        "    self.runQuantum(task, quantum)",
        "ValueError: planted failure on ccd 42",
    ]
    assert records[8]["message"].endswith("RuntimeError: 1 quantum failed")
    # Times come from the lines (a zone-less one is local time); lines without one take
    # the last time seen; the LSST label is the unit.
    assert records[0]["time"] == START.isoformat()
    assert records[3]["time"] == "2026-05-01T03:00:03.500000+00:00"
    assert records[4]["time"] == records[3]["time"]
    local = datetime(2026, 5, 1, 3, 0, 5, 120000).astimezone().astimezone(UTC)
    assert records[6]["time"] == local.isoformat()
    assert records[2]["unit"] == "isr:{instrument: 'HSC', detector: 42}"


def test_batches_are_numbered_within_a_source_named_by_run_and_content() -> None:
    records = [
        {"time": START.isoformat(), "level": 20, "message": f"line {i}"}
        for i in range(2 * BATCH_RECORDS + 5)
    ]
    batches = log_batches(
        records, run="ci/7", content_digest="abc", status="failed", failure={"name": "ci.log"}
    )
    assert [len(b["records"]) for b in batches] == [BATCH_RECORDS, BATCH_RECORDS, 5]
    assert [b["sequence"] for b in batches] == [1, 2, 3]
    assert len({b["source"] for b in batches}) == 1
    assert batches[-1]["status"] == "failed" and "status" not in batches[0]
    assert batches[-1]["processes"][0]["last_lines"][-1] == f"line {2 * BATCH_RECORDS + 4}"
    again = log_batches(records, run="ci/7", content_digest="abc")
    other = log_batches(records, run="ci/7", content_digest="abd")
    assert again[0]["source"] == batches[0]["source"] != other[0]["source"]


def _dispatch(tmp_path: Path, *args: str) -> Result:
    from vigil.cli import app

    env = {"VIGIL_SPOOL_DIR": str(tmp_path / "spool"), "VIGIL_ENV": "", "VIGIL_URL": ""}
    fast = ["--retries", "0", "--timeout", "2", "--no-packages", "--no-git"]
    return CliRunner().invoke(app, ["dispatch", *fast, *args], env=env)


def test_a_job_and_its_log_reach_the_logs_page(
    live_server: ServerThread, token: str, tmp_path: Path, no_ci: None
) -> None:
    job_file = tmp_path / "job.json"
    job_file.write_text(json.dumps(small_job(identifier="ci-build-7")))
    log_file = tmp_path / "build.log"
    log_file.write_text(CI_LOG)
    url, auth = ["--url", live_server.url], ["--token", token]

    result = _dispatch(tmp_path, str(job_file), "--log", str(log_file), *url, *auth)
    assert result.exit_code == 0, result.output
    assert "log sent job/ci-build-7 (10 records, 10 new)" in result.output

    api = httpx.Client(base_url=live_server.url)
    run = api.get("/api/logs/runs", params={"q": "job/ci-build-7"}).json()["items"][0]
    job_id = api.get("/api/jobs").json()["items"][0]["id"]
    assert (run["kind"], run["status"], run["line_count"], run["error_count"]) == (
        "ci",
        "succeeded",
        10,
        2,
    )
    assert run["meta"]["job_identifier"] == "ci-build-7" and run["meta"]["job_id"] == job_id
    errors = api.get("/api/logs/lines", params={"run": run["id"], "level": "ERROR"}).json()
    assert [line["logger"] for line in errors["items"]] == ["lsst.ctrl.mpexec", None]
    found = api.get("/api/logs/lines", params={"regex": r"ValueError: \w+ failure"}).json()
    assert [line["run_id"] for line in found["items"]] == [run["id"]]
    page = api.get(f"/monitor/logs/{run['id']}").text
    assert "Photometric zero point 27.05" in page and f'href="/jobs/{job_id}"' in page

    # Sent again (a retried CI step): stored once.
    again = _dispatch(tmp_path, str(job_file), "--log", str(log_file), *url, *auth)
    assert again.exit_code == 0, again.output
    assert "(10 records, 0 new)" in again.output
    assert api.get(f"/api/logs/runs/{run['id']}").json()["line_count"] == 10


def test_a_failed_run_is_listed_with_its_last_lines(
    live_server: ServerThread, token: str, tmp_path: Path, no_ci: None
) -> None:
    log_file = tmp_path / "nightly.log"
    log_file.write_text(CI_LOG)
    args = ["--log", str(log_file), "--log-run", "nightly/42", "--log-status", "failed"]
    result = _dispatch(tmp_path, *args, "--url", live_server.url, "--token", token)
    assert result.exit_code == 0, result.output

    api = httpx.Client(base_url=live_server.url)
    failed: list[dict[str, Any]] = api.get("/api/logs/processes").json()["items"]
    assert [(p["run_key"], p["name"], p["status"]) for p in failed] == [
        ("nightly/42", "nightly.log", "failed")
    ]
    assert failed[0]["last_lines"][-1] == "make: *** [ci] Error 1"
    runs = api.get("/api/logs/runs", params={"status": "failed"}).json()["items"]
    assert [r["key"] for r in runs] == ["nightly/42"]


def test_a_log_waits_in_the_spool_while_the_server_is_down(
    live_server: ServerThread, token: str, tmp_path: Path, no_ci: None
) -> None:
    log_file = tmp_path / "build.log"
    log_file.write_text(CI_LOG)
    live_server.stop()
    args = ["--log", str(log_file), "--log-run", "ci/down", "--token", token]
    down = _dispatch(tmp_path, *args, "--url", live_server.url)
    assert down.exit_code == 2, down.output
    assert "spooled log of run ci/down (10 records)" in down.output
    assert len(list((tmp_path / "spool" / "logs").glob("*.json"))) == 1

    live_server.start()
    flushed = _dispatch(tmp_path, "--flush", "--url", live_server.url, "--token", token)
    assert flushed.exit_code == 0, flushed.output
    assert "spooled log batches sent: 1" in flushed.output
    assert not list((tmp_path / "spool" / "logs").glob("*.json"))
    api = httpx.Client(base_url=live_server.url)
    run = api.get("/api/logs/runs", params={"q": "ci/down"}).json()["items"][0]
    assert run["line_count"] == 10


def test_without_a_job_or_ci_the_log_needs_a_run_key(tmp_path: Path, no_ci: None) -> None:
    log_file = tmp_path / "build.log"
    log_file.write_text(CI_LOG)
    result = _dispatch(tmp_path, "--log", str(log_file), "--url", "http://127.0.0.1:9")
    assert result.exit_code == 1
    assert "--log-run KEY" in result.output
