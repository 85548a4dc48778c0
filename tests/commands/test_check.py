"""``vigil check``: the CI gate against a real server over HTTP, and its exit codes.

Main's history is 20 nights of a noisy metric (PA1, sigma 0.1 mmag around 10), a second
one with specifications (AM1 around 8 marcsec: a design threshold it passes, a stretch
one it never met) and a deterministic count (5 every night).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from random import Random
from statistics import NormalDist
from typing import Any

import httpx
import orjson
import pytest
import uvicorn
from typer.testing import CliRunner

from server.regressions._support import DATASET, START, free_port, ingest
from vigil.cli import app as cli_app
from vigil.commands.analysis import markdown_summary
from vigil.server.config import Settings
from vigil.server.domain.gate import overall_verdict
from vigil.server.factory import Factory
from vigil.server.main import create_app

runner = CliRunner()

BRANCH = "tickets/DM-7"
PA1, AM1, COUNT = "validate_drp.PA1", "validate_drp.AM1", "ci.failed_visits"
UNITS = {PA1: "mmag", AM1: "marcsec", COUNT: ""}
SPECS = [
    {  # in arcsec: the gate converts units as vigil.verify does
        "name": f"{AM1}.design",
        "type": "threshold",
        "threshold": {"value": 0.00815, "unit": "arcsec", "operator": "<="},
        "tags": ["design"],
    },
    {
        "name": f"{AM1}.stretch",
        "type": "threshold",
        "threshold": {"value": 7.5, "unit": "marcsec", "operator": "<="},
        "tags": ["stretch"],
    },
]
# Standard normal quantiles in a fixed order: main's noise is exactly known (0.1 mmag).
_Z = [NormalDist().inv_cdf((i + 0.5) / 20) for i in range(20)]
Random(3).shuffle(_Z)
MAIN_PA1 = [round(10.0 * (1 + 0.01 * z), 6) for z in _Z]
MAIN_AM1 = [round(8.0 * (1 + 0.01 * z), 6) for z in reversed(_Z)]


def job(
    night: int,
    values: dict[str, float],
    *,
    branch: str = BRANCH,
    commit: str | None = None,
    dataset: str = DATASET,
    run: int = 0,
) -> dict[str, Any]:
    """A job of *night* measuring *values* exactly."""
    return {
        "identifier": f"job-{branch}-{night}-{run}",
        "measurements": [
            {"metric": name, "value": value, "unit": UNITS[name], "blob_refs": []}
            for name, value in values.items()
        ],
        "blobs": [],
        "metrics": [
            {"name": name, "description": name, "unit": unit, "direction": "lower"}
            for name, unit in UNITS.items()
        ],
        "specs": SPECS,
        "meta": {
            "instrument": "HSC",
            "dataset": dataset,
            "date": (START + timedelta(days=night, minutes=run)).isoformat(),
            "git": {"branch": branch, "commit": commit or f"{night:04d}" + "c0ffee" * 6},
        },
    }


def branch_job(pa1: float = 10.0, am1: float = 8.0, count: float = 5, **kw: Any) -> dict[str, Any]:
    """A job of the branch (night 25, one commit) with these values."""
    return job(25, {PA1: pa1, AM1: am1, COUNT: count}, commit="b" * 40, **kw)


@dataclass
class Server:
    url: str
    settings: Settings


@pytest.fixture
def server(make_settings: Any) -> Iterator[Server]:
    """A running server (uvicorn in a thread) on the test database, with main's history."""
    settings: Settings = make_settings(background_worker=False)
    with Factory.standalone(settings) as factory:
        ingest(
            factory,
            [
                job(n, {PA1: MAIN_PA1[n], AM1: MAIN_AM1[n], COUNT: 5}, branch="main")
                for n in range(20)
            ],
        )
    port = free_port()
    uv = uvicorn.Server(
        uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=uv.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while not uv.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert httpx.get(f"{url}/api/").status_code == 200
    yield Server(url, settings)
    uv.should_exit = True
    thread.join(30)


@pytest.fixture(autouse=True)
def _no_step_summary(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)


def files(tmp_path: Path, *jobs: dict[str, Any]) -> list[str]:
    """The jobs written to files; their paths."""
    paths = []
    for n, document in enumerate(jobs):
        path = tmp_path / f"job{n}.json"
        path.write_bytes(orjson.dumps(document))
        paths.append(str(path))
    return paths


def check(server: Server, *args: str) -> Any:
    return runner.invoke(cli_app, ["check", *args, "--url", server.url])


def gate(server: Server, **body: Any) -> dict[str, Any]:
    answer = httpx.post(f"{server.url}/api/gate", json=body)
    assert answer.status_code == 200, answer.text
    report: dict[str, Any] = answer.json()
    return report


def verdicts(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {v["metric"]: v for v in report["verdicts"]}


# Verdicts and exit codes --------------------------------------------------------------


def test_a_regressing_job_fails_the_check_with_a_summary(
    server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    step_summary = tmp_path / "step-summary.md"
    step_summary.write_text("# earlier step\n")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(step_summary))
    markdown = tmp_path / "comment.md"
    with Factory.standalone(server.settings) as factory:  # an earlier run of the branch
        ingest(factory, [job(24, {PA1: 10.0})])
    result = check(server, *files(tmp_path, branch_job(pa1=12.5)), "--markdown", str(markdown))
    assert result.exit_code == 1, result.output
    assert "regression" in result.output and PA1 in result.output
    comment = markdown.read_text()
    assert comment.startswith("## ❌ Vigil: 1 regression\n")
    assert f"| ❌ regression | `{PA1}` |" in comment
    assert "+25.0 %" in comment  # effect in % and in sigma
    assert "sigma" in comment
    assert "2 series show no change." in comment
    # Links to the baseline's newest job (main's 20th) and the compare page.
    assert f"[baseline job 20]({server.url}/jobs/20)" in comment
    assert f"[compare]({server.url}/compare?branch=tickets%2FDM-7&dataset={DATASET}" in comment
    assert step_summary.read_text() == "# earlier step\n" + comment


def test_a_clean_job_passes_and_reports_what_already_failed(server: Server, tmp_path: Path) -> None:
    markdown = tmp_path / "comment.md"
    result = check(server, *files(tmp_path, branch_job()), "--markdown", str(markdown))
    assert result.exit_code == 0, result.output
    assert "No regression (3 series judged)." in result.output
    # The stretch specification never passed on main: reported, not blocking.
    assert f"already failing on the baseline, not blocking: {AM1}.stretch" in " ".join(
        result.output.split()
    )
    comment = markdown.read_text()
    assert comment.startswith("## ✅ Vigil: no regression\n")
    assert "### Specifications failing already (not blocking)" in comment
    assert f"- `{AM1}.stretch`: 8 marcsec against <= 7.5 marcsec; fails on the baseline too" in (
        comment
    )
    assert "Newly failing" not in comment
    assert "[compare]" not in comment  # the branch has no stored job to compare yet


def test_a_stored_job_by_id_against_the_fork_point(server: Server) -> None:
    result = check(server, "--job-id", "20", "--baseline", "fork-point")
    assert result.exit_code == 0, result.output
    assert "main before the job" in result.output.replace("\n", " ")


def test_an_unknown_baseline_branch_is_not_judged(server: Server, tmp_path: Path) -> None:
    paths = files(tmp_path, branch_job(pa1=12.5))
    markdown = tmp_path / "comment.md"
    result = check(server, *paths, "--baseline", "nosuchbranch", "--markdown", str(markdown))
    assert result.exit_code == 2, result.output
    assert "no job ever ran on the baseline branch 'nosuchbranch'" in result.output
    comment = markdown.read_text()
    assert comment.startswith("## ❔ Vigil: not judged\n")
    assert "✅" not in comment
    assert f"| ❔ | `{PA1}` |" in comment
    report = gate(server, job=branch_job(pa1=12.5), baseline="nosuchbranch")
    assert report["verdict"] == "not judged"
    assert report["reason_code"] == "baseline_branch_missing"
    assert {v["verdict"] for v in report["verdicts"]} == {"not judged"}
    assert {v["reason_code"] for v in report["verdicts"]} == {"baseline_branch_missing"}
    # The option makes "not judged" pass.
    allowed = check(server, *paths, "--baseline", "nosuchbranch", "--allow-not-judged")
    assert allowed.exit_code == 0, allowed.output
    assert "allowed by --allow-not-judged" in allowed.output


def test_a_dataset_never_run_on_the_baseline_is_not_judged(server: Server, tmp_path: Path) -> None:
    result = check(server, *files(tmp_path, branch_job(dataset="new_dataset")))
    assert result.exit_code == 2, result.output
    assert "the dataset 'new_dataset' with instrument 'HSC' never ran on main" in " ".join(
        result.output.split()
    )
    report = gate(server, job=branch_job(dataset="new_dataset"))
    assert report["reason_code"] == "dataset_not_on_baseline"
    assert report["judged_count"] == 0


def test_too_few_baseline_points_say_how_many(server: Server, tmp_path: Path) -> None:
    with Factory.standalone(server.settings) as factory:
        ingest(factory, [job(n, {PA1: 10.0}, branch="release") for n in range(3)])
    report = gate(server, job=branch_job(), baseline="release")
    pa1 = verdicts(report)[PA1]
    assert pa1["verdict"] == "not judged"
    assert pa1["reason_code"] == "too_few_baseline_points"
    assert "3 finite baseline values; at least 5 are needed" in pa1["reason"]
    assert verdicts(report)[AM1]["reason_code"] == "series_not_on_baseline"
    assert report["verdict"] == "not judged"
    assert check(server, *files(tmp_path, branch_job()), "--baseline", "release").exit_code == 2


def test_a_nan_value_is_not_judged_with_its_reason(server: Server) -> None:
    report = gate(server, job=branch_job(pa1=None))  # type: ignore[arg-type]
    pa1 = verdicts(report)[PA1]
    assert (pa1["verdict"], pa1["reason_code"]) == ("not judged", "no_value")
    assert "NaN" in pa1["reason"]
    assert report["verdict"] == "no regression"  # the other series were judged


@pytest.mark.parametrize(("count", "code", "verdict"), [(6, 1, "regression"), (5, 0, "no change")])
def test_a_deterministic_metric_is_judged_exactly(
    server: Server, tmp_path: Path, count: int, code: int, verdict: str
) -> None:
    result = check(server, *files(tmp_path, branch_job(count=count)))
    assert result.exit_code == code, result.output
    found = verdicts(gate(server, job=branch_job(count=count)))[COUNT]
    assert (found["verdict"], found["kind"]) == (verdict, "exact")
    assert found["difference"] == count - 5 and found["noise"] == 0


def test_a_newly_failing_specification_inside_the_noise_is_a_regression(
    server: Server, tmp_path: Path
) -> None:
    markdown = tmp_path / "comment.md"
    # 8.18 marcsec is 2.2 sigma above main: no change by the noise, but over 8.15.
    result = check(server, *files(tmp_path, branch_job(am1=8.18)), "--markdown", str(markdown))
    assert result.exit_code == 1, result.output
    am1 = verdicts(gate(server, job=branch_job(am1=8.18)))[AM1]
    assert (am1["verdict"], am1["kind"]) == ("regression", "specification")
    assert 1 < am1["effect_size"] < 2.6 and am1["p_value"] > 0.01  # inside the noise
    status = {s["name"]: s["status"] for s in am1["specifications"]}
    assert status == {f"{AM1}.design": "newly failing", f"{AM1}.stretch": "still failing"}
    comment = markdown.read_text()
    assert "### Newly failing specifications" in comment
    row = next(line for line in comment.splitlines() if line.startswith(f"| `{AM1}.design`"))
    assert "<= 0.00815 arcsec" in row and "+2.2 %" in row and "+2.2 sigma" in row


# Several re-runs ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("runs", "code"),
    [
        ([10.5], 1),  # one noisy run, 5 sigma out: a regression ...
        ([10.5, 10.0, 10.02], 0),  # ... but not the median of three re-runs
        ([10.24], 0),  # 2.4 sigma: one run is not enough ...
        ([10.24, 10.22, 10.26], 1),  # ... three re-runs there are
    ],
)
def test_re_runs_are_judged_together(
    server: Server, tmp_path: Path, runs: list[float], code: int
) -> None:
    jobs = [branch_job(pa1=v, run=n) for n, v in enumerate(runs)]
    result = check(server, *files(tmp_path, *jobs))
    assert result.exit_code == code, result.output
    pa1 = verdicts(gate(server, jobs=jobs))[PA1]
    assert pa1["values"] == runs and pa1["value"] == sorted(runs)[len(runs) // 2]


def test_stored_re_runs_by_id(server: Server) -> None:
    jobs = [branch_job(pa1=v, run=n) for n, v in enumerate([10.24, 10.22, 10.26])]
    with Factory.standalone(server.settings) as factory:
        ids = ingest(factory, jobs)
    result = check(server, *(arg for i in ids for arg in ("--job-id", str(i))))
    assert result.exit_code == 1, result.output
    assert "median of 3" in result.output
    report = gate(server, job_ids=ids)
    assert report["job_ids"] == ids and report["verdict"] == "regression"
    assert report["compare_url"] == f"{server.url}/compare?a=20&b={ids[0]}"


def test_jobs_of_different_commits_are_refused(server: Server, tmp_path: Path) -> None:
    other = job(26, {PA1: 10.0, AM1: 8.0, COUNT: 5})
    result = check(server, *files(tmp_path, branch_job(), other))
    assert result.exit_code == 3, result.output
    assert "not re-runs of one commit on one dataset" in " ".join(result.output.split())


# Could not run ------------------------------------------------------------------------


def test_an_unreachable_server_cannot_run(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    result = runner.invoke(cli_app, ["check", *files(tmp_path, branch_job()), "--url", url])
    assert result.exit_code == 3, result.output
    assert f"cannot reach {url}" in result.output


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"{not json", "is not JSON"),
        (b"[1, 2]", "is not a job document"),
        (b'{"measurements": 1}', "the server answered 422"),
    ],
)
def test_a_malformed_job_file_cannot_run(
    server: Server, tmp_path: Path, content: bytes, message: str
) -> None:
    path = tmp_path / "job.json"
    path.write_bytes(content)
    result = check(server, str(path))
    assert result.exit_code == 3, result.output
    assert message in result.output and "Traceback" not in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "give one or more job files, or --job-id"),
        (["--job-id", "424242"], "No job has the id 424242"),
        (["missing.json"], "cannot read missing.json"),
        (["--job-id", "x"], "Invalid value"),
        (["--no-such-option"], "No such option"),
    ],
)
def test_user_mistakes_are_one_line_and_exit_3(
    server: Server, args: list[str], message: str
) -> None:
    result = check(server, *args)
    assert result.exit_code == 3, result.output
    assert message in result.output
    assert "Traceback" not in result.output


# The Markdown summary -----------------------------------------------------------------


def _report(**fields: Any) -> dict[str, Any]:
    report = {
        "verdict": "no regression",
        "reason": None,
        "job_ids": [None],
        "job_urls": [],
        "branch": "tickets/DM-1",
        "commit_sha": "abcdef1234567",
        "baseline": "main",
        "baseline_description": "main before the job",
        "baseline_job": None,
        "baseline_job_url": None,
        "compare_url": None,
        "regression_count": 0,
        "blocking_count": 0,
        "verdicts": [],
    }
    return {**report, **fields}


def _verdict(verdict: str, **fields: Any) -> dict[str, Any]:
    found = {
        "metric": "a.b",
        "dataset": "d",
        "data_id": {"band": "r"},
        "value": 1.0,
        "values": [1.0],
        "unit": "mmag",
        "baseline_median": 1.5,
        "relative_difference": -0.33,
        "effect_size": -4.0,
        "p_value": 0.001,
        "verdict": verdict,
        "kind": "level",
        "reason": None,
        "specifications": [],
    }
    return {**found, **fields}


def test_markdown_of_a_report_without_regression() -> None:
    text = markdown_summary(_report(verdicts=[_verdict("improvement")]))
    assert text.startswith("## ✅ Vigil: no regression")
    assert "tickets/DM-1 at `abcdef1234` against main before the job: 1 improvement" in text
    assert (
        "| 🟢 improvement | `a.b` | d | band=r | 1 mmag | 1.5 | -33.0 % | -4.0 sigma | 0.001 |"
        in text
    )


def test_markdown_never_ticks_what_was_not_judged() -> None:
    not_judged = _verdict(
        "not judged", kind=None, reason="too few baseline points: 2 finite baseline values"
    )
    text = markdown_summary(
        _report(verdict="not judged", verdicts=[not_judged], job_ids=[None, None])
    )
    assert text.startswith("## ❔ Vigil: not judged")
    assert "✅" not in text and "🟢" not in text
    assert "(2 re-runs judged together)" in text
    assert "| ❔ | `a.b` | d | band=r | too few baseline points: 2 finite baseline values |" in text


def test_markdown_cells_keep_their_table() -> None:
    odd = _verdict("not judged", kind=None, dataset="a|b", reason="line one\nline | two")
    text = markdown_summary(_report(verdict="not judged", verdicts=[odd]))
    assert "| ❔ | `a.b` | a\\|b | band=r | line one line \\| two |" in text


@pytest.mark.parametrize(
    ("series", "missing", "overall"),
    [
        (["change", "no change"], False, "regression"),  # no direction known: it blocks
        (["improvement", "not judged"], False, "no regression"),
        (["not judged", "not judged"], False, "not judged"),
        (["no change"], True, "not judged"),
        ([], False, "not judged"),
    ],
)
def test_the_overall_verdict(series: list[str], missing: bool, overall: str) -> None:
    assert overall_verdict(series, baseline_missing=missing) == overall
