"""``vigil import`` end to end, against a real server over HTTP."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import httpx
import pytest
import typer
from typer.testing import CliRunner, Result

from monitor.conftest import ServerThread
from vigil.client import SubmitClient
from vigil.client.importer import find_documents, import_documents, squash_job
from vigil.commands.client import register

from ._support import CFHT_JOB


def _app() -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def _root() -> None:
        """Stand-in for vigil.cli."""

    register(app)
    return app


def run_import(path: Path, server: ServerThread, token: str, *extra: str) -> Result:
    args = ["import", str(path), "--url", server.url, "--token", token, "--retries", "0"]
    return CliRunner().invoke(_app(), [*args, *extra])


def small_job(night: int, value: str = "1.5", identifier: str | None = None) -> str:
    """A Job document as lsst.verify writes it, *value* as bare JSON (``NaN`` allowed)."""
    head = f'"identifier": "{identifier}", ' if identifier else ""
    return (
        "{" + head + '"measurements": [{"metric": "demo.rms", "value": ' + value + ","
        ' "unit": "mmag", "data_id": {"band": "r"}}],'
        ' "metrics": [{"name": "demo.rms", "unit": "mmag"}], "specs": [], "blobs": [],'
        ' "meta": {"dataset": "rc2", "instrument": "HSC",'
        f' "date": "2024-01-{night:02d}T00:00:00+00:00"' + "}}"
    )


def server_jobs(server: ServerThread) -> list[dict[str, Any]]:
    response = httpx.get(f"{server.url}/api/jobs", params={"limit": 1000})
    response.raise_for_status()
    return list(response.json()["items"])


@pytest.fixture
def history(tmp_path: Path) -> Path:
    """Six good jobs in files, folders and lines, and two bad files."""
    root = tmp_path / "history"
    (root / "2024" / "01").mkdir(parents=True)
    (root / "2024" / "01" / "night1.json").write_text(small_job(1))
    (root / "2024" / "01" / "night2.json").write_text(small_job(2, "NaN"))
    (root / "2024" / "night3.json").write_text(small_job(3, identifier="given-id"))
    (root / "more.jsonl").write_text(
        "\n".join(json.dumps(json.loads(small_job(n))) for n in (4, 5, 6)) + "\n"
    )
    (root / "broken.json").write_text('{"measurements": [')
    (root / "notes.json").write_text('{"title": "not a job"}')
    (root / "README.txt").write_text("not read")
    return root


def test_import_a_folder_then_again(history: Path, live_server: ServerThread, token: str) -> None:
    first = run_import(history, live_server, token)
    assert first.exit_code == 1, first.output  # two bad files
    assert "stored 6 (6 measurements), already there 0, failed 2" in first.output
    assert "failed broken.json: not valid JSON (line 1, column" in first.output
    assert "failed notes.json: not a Job: no 'measurements' list" in first.output
    jobs = server_jobs(live_server)
    assert len(jobs) == 6
    assert "given-id" in {j["identifier"] for j in jobs}

    again = run_import(history, live_server, token)
    assert "stored 0 (0 measurements), already there 6, failed 2" in again.output
    assert len(server_jobs(live_server)) == 6

    points = httpx.get(
        f"{live_server.url}/api/series/points",
        params={"metric": "demo.rms", "dataset": "rc2", "form": "columns"},
    ).json()["columns"]
    # Sent concurrently, so stored in any order; night 2's NaN is null, never 0.
    by_night = [value for _, value in sorted(zip(points["time"], points["value"], strict=True))]
    assert by_night == [1.5, None, 1.5, 1.5, 1.5, 1.5]


def test_identifiers_do_not_depend_on_where_the_folder_is(history: Path, tmp_path: Path) -> None:
    moved = tmp_path / "elsewhere" / "copy"
    moved.parent.mkdir()
    history.rename(moved)
    here = {d.origin: d.job["identifier"] for d in find_documents(moved) if d.job}
    assert len(here) == 6 and len(set(here.values())) == 6
    assert here["2024/night3.json"] == "given-id"
    assert here["more.jsonl:2"].startswith("import-")
    assert {d.origin: d.job["identifier"] for d in find_documents(moved) if d.job} == here


def test_import_a_squash_export(tmp_path: Path, live_server: ServerThread, token: str) -> None:
    """A job exported from the SQuaSH API (``GET /job/<id>``) comes back with its values."""
    original = json.loads(CFHT_JOB.read_text())
    original["identifier"] = "cfht-original"
    original["meta"]["date"] = "2018-07-30T18:25:52+00:00"
    with SubmitClient(live_server.url, token, timeout=30) as client:
        job_id = client.send_job(original).job_id
    assert job_id is not None
    document = httpx.get(f"{live_server.url}/job/{job_id}", timeout=30).json()
    export = tmp_path / "squash"
    export.mkdir()
    (export / "jobs.json").write_text(json.dumps([document]))

    result = run_import(export, live_server, token)
    assert result.exit_code == 0, result.output
    assert "stored 1 (30 measurements)" in result.output
    imported = httpx.get(f"{live_server.url}/api/jobs/{job_id + 1}").json()
    assert imported["identifier"] == f"squash-{job_id}"
    values = {m["metric"]: m["value"] for m in imported["measurements"]}
    expected = {m["metric"]: m["value"] for m in original["measurements"]}
    assert values.keys() == expected.keys()
    for name, value in expected.items():
        assert values[name] == pytest.approx(value) or (value is None or math.isnan(value)), name
    again = run_import(export, live_server, token)
    assert "stored 0 (0 measurements), already there 1, failed 0" in again.output


def test_truncated_squash_document_is_refused() -> None:
    with pytest.raises(Exception, match="measurements_truncated"):
        squash_job({"id": 3, "date_created": "2024-01-01", "measurements_truncated": True})


def test_bad_token_stops_with_one_line(
    history: Path, live_server: ServerThread, token: str
) -> None:
    result = run_import(history, live_server, "vgl_1_wrong")
    assert result.exit_code == 1
    assert "stopped: The server refused the request (401)" in result.output
    assert "Run the same command again" in result.output
    assert server_jobs(live_server) == []


def test_no_server_and_no_files(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    result = CliRunner().invoke(_app(), ["import", str(empty), "--url", "http://127.0.0.1:9"])
    assert result.exit_code == 1 and "No *.json or *.jsonl file under" in result.output
    result = CliRunner().invoke(_app(), ["import", str(empty)], env={"VIGIL_URL": ""})
    assert result.exit_code == 1 and "No server given" in result.output


@pytest.mark.parametrize("batch", ["1", "2", "50"])
def test_jobs_go_in_batches_each_on_its_own_terms(
    tmp_path: Path, live_server: ServerThread, token: str, batch: str
) -> None:
    root = tmp_path / "history"
    root.mkdir()
    for night in range(1, 6):
        (root / f"night{night}.json").write_text(small_job(night, identifier=f"night-{night}"))
    # demo.rms is in mmag: a job in seconds is refused by the server, in its batch.
    (root / "night3.json").write_text(
        small_job(3, identifier="night-3").replace('"unit": "mmag"', '"unit": "s"', 1)
    )
    first = run_import(root, live_server, token, "--batch", batch)
    assert first.exit_code == 1, first.output
    assert "stored 4 (4 measurements), already there 0, failed 1" in first.output
    assert "failed night3.json: The server rejected the job (422 invalid_job) in field" in (
        first.output
    )
    assert sorted(j["identifier"] for j in server_jobs(live_server)) == [
        "night-1",
        "night-2",
        "night-4",
        "night-5",
    ]
    again = run_import(root, live_server, token, "--batch", batch)
    assert "stored 0 (0 measurements), already there 4, failed 1" in again.output


class _RefusedBatches(httpx.HTTPTransport):
    """A real connection to the server, except that batches get *status*: an older
    server (404) or a smaller body limit (413)."""

    def __init__(self, status: int) -> None:
        super().__init__()
        self.status = status
        self.refused = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/api/jobs/batch"):
            self.refused += 1
            detail = {"code": "payload_too_large", "message": "The request body is too large."}
            return httpx.Response(self.status, json={"detail": detail})
        return super().handle_request(request)


@pytest.mark.parametrize("status", [404, 405, 413])
def test_a_server_that_refuses_batches_gets_the_jobs_one_by_one(
    history: Path, live_server: ServerThread, token: str, status: int
) -> None:
    transport = _RefusedBatches(status)
    with SubmitClient(live_server.url, token, timeout=30, retries=0, transport=transport) as client:
        report = import_documents(client, find_documents(history), concurrency=1, batch=4)
    assert (report.stored, report.already_there, len(report.failed)) == (6, 0, 2)
    assert len(server_jobs(live_server)) == 6
    # An older server is asked once; a batch too large is split each time.
    assert transport.refused == (2 if status == 413 else 1)
