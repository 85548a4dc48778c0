"""``vigil monitor`` and ``vigil logs``: convert, check, run, send, search, prune; and the
Python logging handler."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import httpx
import yaml
from typer.testing import CliRunner

from vigil.cli import app
from vigil.demo import quicklook
from vigil.monitor.loghandler import VigilLogHandler
from vigil.monitor.mapping import load_step_mapping

from .conftest import ServerThread

runner = CliRunner()


def test_convert_writes_a_configuration_from_desi_files(mapping_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "monitor.yaml"
    files = [str(p) for p in sorted(mapping_dir.glob("ql_mapping_*.json"))]
    result = runner.invoke(app, ["monitor", "convert", *files, "--output", str(out)])
    assert result.exit_code == 0, result.output
    document = yaml.safe_load(out.read_text())
    science = load_step_mapping(mapping_dir / "ql_mapping_science.json").steps
    assert [s["name"] for s in document["flavors"]["science"]["steps"]] == [s.name for s in science]
    assert document["trends"]["noise"]["path"] == "TASKS->CHECK_CCDs->METRICS->NOISE_AMP"
    checked = runner.invoke(app, ["monitor", "check", "--config", str(out)])
    assert checked.exit_code == 0 and "CHECK_CCDs → CHECK_FIBERS → CHECK_SPECTRA" in checked.output
    bad = runner.invoke(app, ["monitor", "convert", str(out)])
    assert bad.exit_code == 1 and "not valid JSON" in bad.output


def test_a_malformed_configuration_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "monitor.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "pipeline": "ql",
                "units": ["b0"],
                "run": {"command": "ql"},
                "flavors": {"science": {"steps": []}},
            }
        )
    )
    result = runner.invoke(app, ["monitor", "run", "--config", str(path)])
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        f"error: {path}: flavors.science.steps: needs a non-empty list of steps"
    ]


def test_run_processes_exposures_and_reports_them(
    live_server: ServerThread, token: str, tmp_path: Path
) -> None:
    document = quicklook.demo_config(
        tmp_path,
        server_url=None,
        units=["b0", "z1"],
        step_seconds=0,
        failure_rate=0.0,
        poll_interval=0.05,
    )
    config = tmp_path / "monitor.yaml"
    config.write_text(yaml.safe_dump(document))
    quicklook.ExposureGenerator(tmp_path / "raw", seed=3).write_next()
    result = runner.invoke(
        app,
        [
            "monitor",
            "run",
            "--config",
            str(config),
            "--server",
            live_server.url,
            "--token",
            token,
            "--exposures",
            "1",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "exposure 00000001: succeeded (2 units)" in result.output
    rows = httpx.get(f"{live_server.url}/api/monitor/processings").json()["items"]
    assert [(r["exposure"], r["flavor"], r["status"]) for r in rows] == [
        ("00000001", "arc", "succeeded")
    ]
    # The processing's lines, searched by time window, are labelled by exposure and unit.
    started, ended = rows[0]["started_at"], rows[0]["ended_at"]
    search = ["logs", "search", "--unit", "z1", "--server", live_server.url]
    found = runner.invoke(app, [*search, "--since", started, "--limit", "500"])
    assert found.exit_code == 0, found.output
    steps = [line for line in found.output.splitlines() if "Starting to run step" in line]
    label = f"{document['pipeline']} exposure 00000001 · z1"
    assert len(steps) == 3 and all(f" INFO     {label} INFO:" in line for line in steps), steps
    assert "monitor/" not in found.output
    before = runner.invoke(app, [*search, "--until", started])
    assert before.exit_code == 0 and before.output == ""
    after = runner.invoke(app, [*search, "--since", ended, "--until", "2100-01-01"])
    assert after.exit_code == 0 and "Starting to run step" not in after.output


def test_logs_search_names_a_bad_time_in_one_line() -> None:
    # Refused before any request: no server listens there.
    search = ["logs", "search", "--server", "http://127.0.0.1:9"]
    for options, message in [
        (["--since", "yesterday"], "error: --since 'yesterday' is not an ISO 8601 time"),
        (["--until", "2026-02-30"], "error: --until '2026-02-30' is not an ISO 8601 time"),
        (
            ["--since", "2026-05-02T22:00Z", "--until", "2026-05-02T21:00Z"],
            "error: --until 2026-05-02T21:00Z must be after --since 2026-05-02T22:00Z.",
        ),
    ]:
        result = runner.invoke(app, [*search, *options])
        assert result.exit_code == 1 and isinstance(result.exception, SystemExit)
        assert len(result.output.strip().splitlines()) == 1
        assert result.output.startswith(message), result.output


def test_logs_send_search_and_prune(live_server: ServerThread, token: str, tmp_path: Path) -> None:
    log = tmp_path / "ci.log"
    log.write_text(
        "2026-05-03T10:00:00Z INFO building\n"
        "2026-05-03T10:00:01Z ERROR test_photometry failed\n"
        "Traceback (most recent call last):\n"
        '  File "test_photometry.py", line 12\n'
        "AssertionError: zero point off by 0.2 mag\n"
    )
    sent = runner.invoke(
        app,
        [
            "logs",
            "send",
            str(log),
            "--run",
            "ci/7",
            "--status",
            "failed",
            "--server",
            live_server.url,
            "--token",
            token,
        ],
    )
    assert sent.exit_code == 0, sent.output
    assert "Sent 2 records" in sent.output
    lines = httpx.get(f"{live_server.url}/api/logs/lines", params={"level": "ERROR"}).json()[
        "items"
    ]
    # The traceback belongs to the error it follows.
    assert lines[0]["message"].splitlines() == [
        "test_photometry failed",
        "Traceback (most recent call last):",
        '  File "test_photometry.py", line 12',
        "AssertionError: zero point off by 0.2 mag",
    ]
    assert lines[0]["time"].startswith("2026-05-03T10:00:01")
    run = httpx.get(f"{live_server.url}/api/logs/runs").json()["items"][0]
    assert (run["key"], run["kind"], run["status"], run["line_count"]) == (
        "ci/7",
        "ci",
        "failed",
        2,
    )

    found = runner.invoke(
        app, ["logs", "search", "--regex", r"zero point off by [\d.]+", "--server", live_server.url]
    )
    assert found.exit_code == 0 and "AssertionError: zero point off by 0.2 mag" in found.output
    bad = runner.invoke(app, ["logs", "search", "--regex", "off by (", "--server", live_server.url])
    assert bad.exit_code == 1 and "does not compile" in bad.output
    prune = runner.invoke(
        app, ["logs", "prune", "--database-url", str(live_server.settings.database_url)]
    )
    assert prune.exit_code == 1 and "VIGIL_LOG_RETENTION_DAYS is not set" in prune.output


def test_the_logging_handler_sends_records_and_the_ending(
    live_server: ServerThread, token: str, tmp_path: Path
) -> None:
    handler = VigilLogHandler(
        live_server.url, token, run="script/calibrate", unit="ccd42", spool_dir=tmp_path / "spool"
    )
    logger = logging.getLogger("test.calibrate")
    logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    try:
        logger.info("calibrating %d frames", 12)
        try:
            raise ValueError("flat field is empty")
        except ValueError:
            logger.exception("calibration failed")
        handler.finish("failed", exit_status=1, exception="ValueError: flat field is empty")
    finally:
        logger.removeHandler(handler)
        handler.close()
    lines = httpx.get(f"{live_server.url}/api/logs/lines", params={"q": "calibrat"}).json()["items"]
    assert [line["message"].splitlines()[0] for line in lines] == [
        "calibrating 12 frames",
        "calibration failed",
    ]
    assert "ValueError: flat field is empty" in lines[1]["message"]
    assert (lines[1]["level_name"], lines[1]["unit"], lines[1]["logger"]) == (
        "ERROR",
        "ccd42",
        "test.calibrate",
    )
    failed = httpx.get(f"{live_server.url}/api/logs/processes").json()["items"]
    assert [(p["run_key"], p["exit_status"], p["exception"]) for p in failed] == [
        ("script/calibrate", 1, "ValueError: flat field is empty")
    ]


def test_a_log_flood_is_stored_whole(live_server: ServerThread, token: str, tmp_path: Path) -> None:
    from vigil.monitor.config import parse_config
    from vigil.monitor.reporter import EventReporter
    from vigil.monitor.runner import Runner

    # Braces that are not placeholders are written twice.
    code = "import sys\nfor i in range(20000):\n    sys.stdout.write(f'INFO: line {{i}}\\n')\n"
    config = parse_config(
        {
            "pipeline": "flood",
            "exposures": {
                "watch": str(tmp_path / "raw"),
                "pattern": "*.json",
                "settle": 0,
                "existing": "process",
            },
            "units": ["u1"],
            "run": {
                "command": [sys.executable, "-c", code],
                "workdir": str(tmp_path),
                "qa_files": None,
            },
            "flavors": {
                "science": {"steps": [{"name": "ALL", "start": "line 0", "end": "line 19999"}]}
            },
            "default_flavor": "science",
        }
    )
    (tmp_path / "raw").mkdir()
    (tmp_path / "raw" / "1.json").write_text('{"EXPID": 1}')
    reporter = EventReporter(live_server.url, token, tmp_path / "spool", high_water=500).start()
    import asyncio

    asyncio.run(Runner(config, reporter).run(max_exposures=1))
    assert reporter.drain(120)
    reporter.close()
    row = httpx.get(f"{live_server.url}/api/monitor/processings").json()["items"][0]
    assert row["status"] == "succeeded"
    run = httpx.get(f"{live_server.url}/api/logs/runs/{row['log_run_id']}").json()
    assert run["line_count"] == 20000
