"""``vigil ingest-butler``: lsst.verify Gen3 measurements (the conformance
``metricvalue_*`` Measurement files) and analysis_tools metric bundles found in a real
Butler, grouped into one job per run collection with their dataIds, sent to a real server
once however often they are sent; and what bad input gets."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner, Result

from monitor.conftest import ServerThread
from vigil.lsst import ButlerError, find_measurement_jobs

from .conftest import MEASUREMENT_RUN, ingest_bundle, ingest_measurements

pytest.importorskip("lsst.daf.butler", reason="needs vigil[lsst]")

BUNDLE = {
    "skyObjectSky": [
        {
            "metric": "g_medianSky",
            "identifier": "a1",
            "value": 0.25,
            "unit": "nJy",
            "blob_refs": [],
        },
        {
            "metric": "g_sigmaMADSky",
            "identifier": "a2",
            "value": 1.5,
            "unit": "nJy",
            "blob_refs": [],
        },
    ],
    "psfCModelScatter": [
        {
            "metric": "i_psfCModelScatter",
            "identifier": "b1",
            "value": 3.0,
            "unit": "mmag",
            "blob_refs": [],
        },
    ],
    "__reference_package": "lsst_distrib",
    "__timestamp_version": "explicit_timestamp:20240105T120000+0000",
    "__dataset_identifier": "HSC-RC2",
}


@pytest.fixture
def measured(make_butler: Callable[[str], Path], conformance: Path) -> Path:
    """A repository holding the conformance Measurement files in one run."""
    repo = make_butler("repo")
    ingest_measurements(repo, conformance)
    return repo


def _ingest(tmp_path: Path, *args: str) -> Result:
    from vigil.cli import app

    env = {"VIGIL_SPOOL_DIR": str(tmp_path / "spool"), "VIGIL_URL": "", "VIGIL_TOKEN": ""}
    fast = ["--retries", "0", "--timeout", "5"]
    return CliRunner().invoke(app, ["ingest-butler", *args, *fast], env=env)


def _jobs(server: ServerThread) -> list[dict[str, Any]]:
    api = httpx.Client(base_url=server.url)
    items = api.get("/api/jobs").json()["items"]
    return [api.get(f"/api/jobs/{item['id']}").json() for item in items]


def test_measurement_files_become_one_job_per_run_with_their_data_ids(measured: Path) -> None:
    found = find_measurement_jobs(measured, [MEASUREMENT_RUN])
    # 7 per-detector dataset types on detectors 12 and 25 (one only on 12), and the
    # instrument-level one.
    assert found.datasets == 14 and found.measurements == 14
    assert "metricvalue_verify_testing" in found.dataset_types
    (job,) = found.jobs
    assert job["meta"]["butler_run"] == MEASUREMENT_RUN
    assert job["meta"]["instrument"] == "TestCam"
    assert job["meta"]["run_at"] == "2024-01-02T03:04:05+00:00"  # from the run's name
    by_key = {(m["metric"], m["data_id"].get("detector")): m for m in job["measurements"]}
    testing = by_key[("verify.testing", 12)]
    assert testing["data_id"] == {"instrument": "TestCam", "detector": 12}
    assert testing["value"] == 13.0 and testing["unit"] == ""
    assert testing["notes"]["butler.dataset_type"] == "metricvalue_verify_testing"
    assert by_key[("verify.instrumentTest", None)]["data_id"] == {"instrument": "TestCam"}
    assert by_key[("verify.anotherTaskMemory", 12)]["unit"] == "Gbyte"
    # The blobs the files carry travel with the job.
    blob_ids = {b["identifier"] for b in job["blobs"]}
    assert set(testing["blob_refs"]) <= blob_ids
    # The same datasets give the same job identifier; a narrower query another one.
    again = find_measurement_jobs(measured, [MEASUREMENT_RUN])
    assert again.jobs[0]["identifier"] == job["identifier"]
    narrow = find_measurement_jobs(
        measured, [MEASUREMENT_RUN], where="instrument = 'TestCam' AND detector = 12"
    )
    # Detector 12 only: the instrument-wide dataset type lacks the detector, so a --where
    # on detectors leaves it out (the Butler would join the detectors in and keep it).
    assert narrow.datasets == 7
    assert narrow.skipped_types == ["metricvalue_verify_instrumentTest"]
    assert narrow.jobs[0]["identifier"] != job["identifier"]


def test_ingest_sends_once_and_keeps_the_data_ids(
    measured: Path, live_server: ServerThread, token: str, tmp_path: Path
) -> None:
    ingest_bundle(measured, json.dumps(BUNDLE), "u/qa/DM-2/bundles")
    args = [str(measured), "--collections", f"{MEASUREMENT_RUN},u/qa/DM-2/bundles"]
    args += ["--url", live_server.url, "--token", token]
    result = _ingest(tmp_path, *args)
    assert result.exit_code == 0, result.output
    assert "Found 17 measurements in 15 datasets" in result.output
    assert result.output.count("stored") == 2
    jobs = {j["meta"]["butler_run"]: j for j in _jobs(live_server)}
    assert set(jobs) == {MEASUREMENT_RUN, "u/qa/DM-2/bundles"}
    bundle_job = jobs["u/qa/DM-2/bundles"]
    tract = {"skymap": "hsc_rings_v1", "tract": 9813}
    values = {m["metric"]: (m["value"], m["data_id"]) for m in bundle_job["measurements"]}
    # Named as the Sasquatch surface names what SasquatchDispatcher sends: tool.metric.
    assert values == {
        "skyObjectSky.g_medianSky": (0.25, tract),
        "skyObjectSky.g_sigmaMADSky": (1.5, tract),
        "psfCModelScatter.i_psfCModelScatter": (3.0, tract),
    }
    assert bundle_job["dataset"] == "HSC-RC2"
    assert bundle_job["run_at"].startswith("2024-01-05T12:00:00")
    verify_job = jobs[MEASUREMENT_RUN]
    detector = {
        (m["metric"], m["data_id"].get("detector")): m["value"] for m in verify_job["measurements"]
    }
    assert detector[("verify.testing", 12)] == 13.0

    again = _ingest(tmp_path, *args)
    assert again.exit_code == 0, again.output
    assert again.output.count("already stored") == 2
    assert len(_jobs(live_server)) == 2


def test_server_down_spools_and_a_later_call_sends(
    measured: Path, live_server: ServerThread, token: str, tmp_path: Path, dead_url: str
) -> None:
    args = [str(measured), "--collections", MEASUREMENT_RUN, "--token", token]
    down = _ingest(tmp_path, *args, "--url", dead_url)
    assert down.exit_code == 2, down.output
    assert "spool" in down.output
    up = _ingest(tmp_path, *args, "--url", live_server.url)
    assert up.exit_code == 0, up.output
    assert len(_jobs(live_server)) == 1


def test_the_same_datasets_give_the_same_job_however_the_repository_is_named(
    measured: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Measurements without identifiers get stable ones; the repository's path is one."""
    bundle = json.loads(json.dumps(BUNDLE))
    for values in (v for k, v in bundle.items() if not k.startswith("__")):
        for value in values:
            value["identifier"] = None
    ingest_bundle(measured, json.dumps(bundle), "u/qa/DM-2/bundles")
    spellings = [str(measured), str(measured / "butler.yaml"), f"file://{measured}"]
    monkeypatch.chdir(measured.parent)
    spellings.append(measured.name)
    jobs = [find_measurement_jobs(repo, ["u/qa/*"]).jobs for repo in spellings]
    assert all(found == jobs[0] for found in jobs)
    assert {job["meta"]["butler_run"] for job in jobs[0]} == {
        MEASUREMENT_RUN,
        "u/qa/DM-2/bundles",
    }


def test_a_metric_name_the_server_refuses_is_refused_before_sending(
    measured: Path, tmp_path: Path
) -> None:
    ingest_bundle(measured, json.dumps({"tool with space": BUNDLE["skyObjectSky"]}), "u/qa/x")
    result = _ingest(
        tmp_path,
        str(measured),
        "--collections",
        f"{MEASUREMENT_RUN},u/qa/x",
        "--url",
        "http://127.0.0.1:9",
    )
    assert result.exit_code == 1, result.output
    assert "'tool with space.g_medianSky' is not a valid name" in " ".join(result.output.split())
    assert not any((tmp_path / "spool").glob("*.json"))


def test_dry_run_writes_the_jobs(measured: Path, tmp_path: Path) -> None:
    result = _ingest(tmp_path, str(measured), "--collections", MEASUREMENT_RUN, "--dry-run")
    assert result.exit_code == 0, result.output
    (line,) = [ln for ln in result.stdout.splitlines() if ln.startswith("{")]
    assert len(json.loads(line)["measurements"]) == 14


@pytest.mark.parametrize("value", ['"fast"', "[1, 2]", "true"])
def test_a_bundle_with_a_non_numeric_value_is_named_and_nothing_is_sent(
    measured: Path, tmp_path: Path, value: str
) -> None:
    """A null value is NaN, as lsst.verify writes it; a word, a list or a flag is refused."""
    text = json.dumps(BUNDLE).replace('"value": 3.0', f'"value": {value}')
    ingest_bundle(measured, text, "u/qa/DM-3/bad")
    result = _ingest(
        tmp_path,
        str(measured),
        "--collections",
        f"{MEASUREMENT_RUN},u/qa/DM-3/bad",
        "--url",
        "http://127.0.0.1:9",
    )
    assert result.exit_code == 1, result.output
    assert "objectTableCore_metrics" in result.output or ".json" in result.output
    assert "psfCModelScatter[0].value" in result.output
    assert not (tmp_path / "spool").exists() or not any((tmp_path / "spool").glob("*.json"))


def test_bad_input_gets_a_clear_error(
    measured: Path, tmp_path: Path, make_butler: Callable[[str], Path]
) -> None:
    url = ["--url", "http://127.0.0.1:9"]
    cases = [
        ([str(tmp_path), "--collections", MEASUREMENT_RUN], "is not a Butler repository"),
        ([str(measured), "--collections", "u/qa/nope"], "has no collection 'u/qa/nope'"),
        (
            [str(measured), "--collections", MEASUREMENT_RUN, "--where", "detector = = 3"],
            "--where 'detector = = 3'",
        ),
        (
            [
                str(measured),
                "--collections",
                MEASUREMENT_RUN,
                "--where",
                "instrument = 'TestCam' AND detector = 99",
            ],
            "No measurements in u/qa/DM-1/20240102T030405Z matching"
            " \"instrument = 'TestCam' AND detector = 99\"",
        ),
    ]
    for args, message in cases:
        result = _ingest(tmp_path, *args, *url)
        assert result.exit_code == 1, (args, result.output)
        assert message in " ".join(result.output.split()), (args, result.output)
    no_url = _ingest(tmp_path, str(measured), "--collections", MEASUREMENT_RUN)
    assert no_url.exit_code == 1 and "No server given" in no_url.output
    with pytest.raises(ButlerError, match="not a metric bundle: not JSON"):
        repo = make_butler("broken")
        ingest_bundle(repo, "{not json", "u/qa/broken")
        find_measurement_jobs(repo, ["u/qa/broken"])
