"""The job page: environment, code changes, verdicts, drill-down plots, artifacts."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from vigil.server.factory import Factory

from ._web_data import HTML, History, make_job, store_history
from .test_metric_page import column_length, models_of, plot_item, source_named


@pytest.fixture
def history(factory: Factory) -> History:
    return store_history(factory)


def rows_by_metric(body: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(m["metric"], str(sorted(m["data_id"].items()))): m for m in body["measurements"]}


def test_verdicts_follow_vigil_verify(client: TestClient, history: History) -> None:
    night3 = history.main[3]  # rms 5.5 mmag
    body = client.get(f"/jobs/{night3}?format=json").json()
    rms = rows_by_metric(body)[("demo.rms", "[('band', 'r')]")]
    verdicts = {v["spec"]: v["status"] for v in rms["verdicts"]}
    # design 5 mmag fails; minimum 0.008 mag (8 mmag) passes after conversion;
    # cfht_only does not apply to an HSC job (metadata_query).
    assert verdicts == {"demo.rms.design": "fail", "demo.rms.minimum": "pass"}
    assert rms["status"] == "fail"
    patch5 = rows_by_metric(body)[
        ("demo.patch_rms", "[('band', 'r'), ('patch', 5), ('tract', 9813)]")
    ]
    assert patch5["status"] == "fail"
    nan = rows_by_metric(body)[("demo.allnan", "[]")]
    assert nan["value"] is None and nan["status"] == "none" and nan["verdicts"] == []
    assert body["status_counts"] == {"fail": 4, "pass": 4, "none": 1}
    html = client.get(f"/jobs/{night3}", headers=HTML).text
    assert 'data-testid="job-measurements"' in html
    assert html.count('<span class="badge fail">fail</span>') == 4


def test_nan_value_with_an_applicable_spec_has_no_verdict(
    client: TestClient, factory: Factory
) -> None:
    job_id = factory.create_job_service().ingest(make_job(0, rms=float("nan")).to_dict(), None).id
    body = client.get(f"/jobs/{job_id}?format=json").json()
    rms = rows_by_metric(body)[("demo.rms", "[('band', 'r')]")]
    assert {v["status"] for v in rms["verdicts"]} == {"nan"}
    assert rms["status"] == "none"


def test_code_changes_since_the_previous_comparable_job(
    client: TestClient, history: History
) -> None:
    body = client.get(f"/jobs/{history.main[3]}?format=json").json()
    assert body["previous"]["id"] == history.main[2]
    changes = body["changes"]
    assert [c["name"] for c in changes["changed"]] == ["afw"]
    assert changes["changed"][0]["before"]["version"] == "1.0"
    assert changes["changed"][0]["after"]["version"] == "2.0"
    assert changes["added"] == [] and changes["removed"] == []
    last = client.get(f"/jobs/{history.main[5]}?format=json").json()
    assert [p["name"] for p in last["changes"]["added"]] == ["meas"]
    html = client.get(f"/jobs/{history.main[3]}", headers=HTML).text
    # Linked to the commits, the CI run and the tested commit.
    assert f"https://github.com/lsst/afw/compare/{1:040x}...{2:040x}" in html
    assert "https://ci.example.org/job/nightly/103" in html
    assert f"https://github.com/example/pipe/commit/{3:040x}" in html
    assert f'href="/compare?a={history.main[2]}&amp;b={history.main[3]}"' in html
    # The branch's first job compares with nothing: another branch is not comparable.
    first = client.get(f"/jobs/{history.branch[0]}?format=json").json()
    assert first["previous"] is None and first["changes"] is None
    assert "nothing to compare with" in client.get(f"/jobs/{history.branch[0]}", headers=HTML).text
    second = client.get(f"/jobs/{history.branch[1]}?format=json").json()
    assert second["previous"]["id"] == history.branch[0]


def test_blob_drill_down_and_artifacts(client: TestClient, history: History) -> None:
    last = history.main[-1]
    body = client.get(f"/jobs/{last}?format=json").json()
    assert [b["name"] for b in body["blobs"]] == ["demo.rms"]
    assert {a["name"]: a["inline"] for a in body["artifacts"]} == {
        "logs/run.txt": False,
        "residuals/a.png": True,
    }
    html = client.get(f"/jobs/{last}", headers=HTML).text
    scatter = plot_item(html, "blob-plot-0")
    data = source_named(scatter, "blob")
    assert column_length(data, "x") == 4
    assert f'<img loading="lazy" src="/api/jobs/{last}/artifacts/residuals/a.png"' in html
    assert f'href="/api/jobs/{last}/artifacts/logs/run.txt" download' in html
    assert client.get(f"/api/jobs/{last}/artifacts/residuals/a.png").status_code == 200
    # The arrays drawn are chosen in the query string: a histogram of one.
    blob_id = body["blobs"][0]["identifier"]
    hist_html = client.get(
        f"/jobs/{last}?blob_x.{blob_id}=rms&blob_y.{blob_id}=", headers=HTML
    ).text
    hist = plot_item(hist_html, "blob-plot-0")
    assert models_of(hist, "Quad") and not models_of(hist, "Scatter")
    bad = client.get(f"/jobs/{last}?blob_x.{blob_id}=mag&blob_y.{blob_id}=nope", headers=HTML)
    assert bad.status_code == 200 and "not a numeric array" in bad.text


def test_a_branch_job_links_to_its_comparison_with_the_main_line(
    client: TestClient, history: History
) -> None:
    branch_job = client.get(f"/jobs/{history.branch[-1]}", headers=HTML).text
    assert 'data-testid="compare-branch"' in branch_job
    assert "/compare?branch=tickets/DM-1" in branch_job
    main_job = client.get(f"/jobs/{history.main[3]}", headers=HTML).text
    assert 'data-testid="compare-branch"' not in main_job
