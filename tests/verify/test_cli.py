from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from vigil.cli import app

runner = CliRunner()


def test_check_a_real_job_prints_verdicts(conformance: Path) -> None:
    result = runner.invoke(app, ["verify", "check", str(conformance / "squash/Cfht_output_r.json")])
    assert result.exit_code == 0, result.output
    assert "validate_drp.AM1" in result.output
    assert "failed" in result.output and "passed" in result.output


def test_check_json_output_and_fail_on_spec(conformance: Path) -> None:
    job = str(conformance / "squash/verify_job.json")
    result = runner.invoke(app, ["verify", "check", "--json", job])
    report = json.loads(result.output)
    (only,) = report["jobs"]
    assert len(only["measurements"]) == 30
    assert any(row["value"] is None for row in only["measurements"])
    assert runner.invoke(app, ["verify", "check", "--fail-on-spec", job]).exit_code == 3


def test_check_metrics_package(conformance: Path) -> None:
    result = runner.invoke(
        app, ["verify", "check", "--json", str(conformance / "lsst-verify/verify_metrics")]
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert (report["metrics"], report["specifications"]) == (1032, 1705)
    assert any("duplicate key" in w for w in report["warnings"])


def test_check_measurement_files_against_metrics(conformance: Path) -> None:
    tests = conformance / "lsst-verify/verify-tests"
    result = runner.invoke(app, ["verify", "check", str(tests / "metricvalue_repo1")])
    assert result.exit_code == 0, result.output
    assert "verify.testingMemory" in result.output


def test_bad_files_give_one_line_and_exit_1(conformance: Path, tmp_path: Path) -> None:
    legacy = conformance / "lsst-verify/verify-tests/specifications.yaml"
    result = runner.invoke(app, ["verify", "check", str(legacy)])
    assert result.exit_code == 1
    assert "specifications.yaml, document 1: is not valid YAML at line 5" in result.output
    missing = runner.invoke(app, ["verify", "check", str(tmp_path / "nope.json")])
    assert missing.exit_code == 1 and "no such file" in missing.output
    unknown = runner.invoke(
        app,
        [
            "verify",
            "check",
            "--strict",
            "--metrics",
            str(conformance / "lsst-verify/verify_metrics"),
            str(conformance / "lsst-verify/faro-expected"),
        ],
    )
    assert unknown.exit_code == 1 and "unknown metric 'AB1_design'" in unknown.output


def test_short_metric_names_take_a_package(conformance: Path) -> None:
    result = runner.invoke(
        app,
        [
            "verify",
            "check",
            "--json",
            "--package",
            "validate_drp",
            "--metrics",
            str(conformance / "lsst-verify/verify_metrics"),
            str(conformance / "lsst-verify/faro-expected"),
        ],
    )
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)["jobs"][0]["measurements"]
    assert {r["metric"] for r in rows} >= {"validate_drp.AM1", "validate_drp.PA1"}
    am1 = next(r for r in rows if r["metric"] == "validate_drp.AM1")
    assert am1["passed"] or am1["failed"]  # validate_drp.AM1's specifications apply
