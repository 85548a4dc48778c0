"""The overview: key metrics as small multiples, failures per metric, open regressions by
commit; HTML and JSON twin carry the same content."""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient

from vigil.demo import generate_history
from vigil.server.domain.regressions import RegressionFilter
from vigil.server.factory import Factory
from vigil.verify import Job, Metric

from ._web_data import HTML, MAIN_RMS, History, make_job, store_history


@pytest.fixture
def history(factory: Factory) -> History:
    return store_history(factory)


def _overview(client: TestClient) -> dict[str, Any]:
    body: dict[str, Any] = client.get("/?format=json").json()
    return body


def _meta(dataset: str, night: int) -> dict[str, Any]:
    """A main-line job's meta on *dataset*, one a night."""
    return {
        "dataset": dataset,
        "env": {"env_name": "local", "date": f"2026-03-0{night + 1}T02:00:00+00:00"},
        "git": {"branch": "main", "commit": f"{night:040x}"},
    }


def _cards(html: str) -> dict[str, str]:
    """The key metric cards of the page, by metric."""
    found = re.findall(r'<a class="spark-card[^"]*" href="([^"]*)" data-metric="([^"]*)"', html)
    return {metric: href.replace("&amp;", "&") for href, metric in found}


def test_key_metrics_are_those_with_requirements_and_their_main_line(
    client: TestClient, history: History
) -> None:
    body = _overview(client)
    keys = {k["metric"]: k for k in body["key_metrics"]}
    # demo.once has no specification: the metrics with a design one are key.
    assert list(keys) == ["demo.rms", "demo.patch_rms"]
    assert body["key_metric_total"] == 2
    rms = keys["demo.rms"]
    # The main line only (the branch's 7.0 and 7.5 are not in it), oldest first.
    assert rms["points"]["value"] == MAIN_RMS
    assert rms["points"]["job_id"] == history.main
    assert (rms["latest"], rms["latest_job_id"], rms["unit"]) == (4.2, history.main[-1], "mmag")
    # The design specification is the main one; the CFHT one does not apply to HSC jobs.
    assert rms["spec"]["name"] == "demo.rms.design"
    assert (rms["spec"]["threshold"], rms["status"], rms["requirement"]) == (5.0, "pass", True)
    # Seven series have six points each: the aggregate stands for the patches.
    patch = keys["demo.patch_rms"]
    assert patch["data_id"] == {"band": "r"} and patch["point_count"] == 6
    assert patch["latest"] == pytest.approx(4.5)

    html = client.get("/", headers=HTML).text
    assert html.count('data-testid="sparkline"') == 2
    cards = _cards(html)
    assert list(cards) == ["demo.rms", "demo.patch_rms"]
    # A click opens the metric page on that very series.
    assert cards["demo.patch_rms"] == patch["url"]
    query = parse_qs(urlsplit(patch["url"]).query)
    assert urlsplit(patch["url"]).path == "/metrics/demo.patch_rms"
    assert json.loads(query["data_id"][0]) == {"band": "r"}
    assert query["dataset"] == ["data_a"]
    page = client.get(patch["url"] + "&format=json").json()
    assert page["series"]["series_key"] == patch["series_key"]
    # The sparkline: six points, the threshold line in range, the latest dot passing.
    svg = html[html.index('data-metric="demo.rms"') :].split("</svg>", 1)[0]
    points = re.search(r'<polyline class="spark-line" points="([^"]*)"', svg)
    assert points is not None and len(points.group(1).split()) == len(MAIN_RMS)
    assert 'class="spark-spec"' in svg and 'class="spark-last pass"' in svg


def test_without_requirements_the_most_measured_metrics_are_key(
    client: TestClient, factory: Factory
) -> None:
    metrics = [Metric("x.often", unit="s"), Metric("x.rarely", unit="s"), Metric("x.nan")]
    jobs = factory.create_job_service()
    for night in range(3):
        job = Job(
            metrics=metrics,
            meta=_meta("d", night),
            identifier=f"plain-{night}",
        )
        job.measure("x.often", 1.0 + night)
        if night == 2:
            job.measure("x.rarely", 5.0)
        job.measure("x.nan", float("nan"))
        jobs.ingest(job.to_dict(), None)
    keys = _overview(client)["key_metrics"]
    assert [k["metric"] for k in keys] == ["x.often", "x.rarely"]
    assert [k["point_count"] for k in keys] == [3, 1]
    assert all(k["spec"] is None and k["status"] == "none" for k in keys)
    html = client.get("/", headers=HTML).text
    assert "The most measured metrics" in html
    assert 'class="spark-last none"' in html


def test_failures_are_summarised_per_metric_by_level(
    client: TestClient, factory: Factory, history: History
) -> None:
    factory.create_job_service().ingest(make_job(len(MAIN_RMS), rms=6.0).to_dict(), None)
    body = _overview(client)
    per_metric = {m["metric"]: m for m in body["failing_metrics"]}
    # 6.0 mmag fails design (5 mmag) and passes minimum (0.008 mag = 8 mmag).
    rms = per_metric["demo.rms"]
    assert (rms["failing_level"], rms["passing_level"]) == ("design", "minimum")
    assert rms["headline"]["name"] == "demo.rms.design"
    assert rms["passing_spec"] == "demo.rms.minimum"
    assert rms["specifications"] == ["demo.rms.design"]
    # Patches 3, 4 and 5 fail the only level demo.patch_rms has.
    patch = per_metric["demo.patch_rms"]
    assert (patch["failing_level"], patch["passing_level"]) == ("design", None)
    assert (patch["worst_value"], patch["failing_count"]) == (8.0, 1)
    # The twin keeps every failing specification too.
    names = {f["spec"] for f in body["failing_specifications"]}
    assert names == {"demo.rms.design", "demo.patch_rms.design"}
    html = client.get("/", headers=HTML).text
    table = html[html.index('data-testid="failing-specs"') :].split("</table>", 1)[0]
    assert table.count("<details>") == len(per_metric) == 2
    row = table[table.index('data-metric="demo.rms"') :].split("</tr>", 1)[0]
    assert ">design</span>" in row and ">minimum</span>" in row


def test_real_validate_drp_job_opens_on_summaries(
    client: TestClient, auth_headers: dict[str, str], verify_job_bytes: bytes
) -> None:
    posted = client.post(
        "/api/jobs",
        content=verify_job_bytes,
        headers={**auth_headers, "Content-Type": "application/json"},
    )
    assert posted.status_code in (200, 201), posted.text[:300]
    body = _overview(client)
    keys = body["key_metrics"]
    # Every finite validate_drp metric has SRD specifications; PA1 has the most.
    assert len(keys) == 12 and body["key_metric_total"] == 23
    pa1 = keys[0]
    assert pa1["metric"] == "validate_drp.PA1"
    assert pa1["spec"]["name"] == "validate_drp.PA1.design_gri"
    assert pa1["latest"] == pytest.approx(16.72336186802337)
    assert (pa1["status"], pa1["unit"]) == ("fail", "mmag")
    # Its series is the aggregate: the card names it as one ({}) rather than leaving the
    # choice to the metric page's default, and opens that very series.
    assert json.loads(parse_qs(urlsplit(pa1["url"]).query)["data_id"][0]) == {}
    page = client.get(pa1["url"] + "&format=json").json()
    assert page["series"]["series_key"] == pa1["series_key"]
    assert all(k["requirement"] for k in keys)
    assert "validate_drp.AM3" not in {k["metric"] for k in keys}  # NaN only
    # 16.7 mmag fails even the minimum level: one row, not every release variant.
    failing = body["failing_metrics"]
    assert len({m["metric"] for m in failing}) == len(failing)
    assert len(failing) < len(body["failing_specifications"])
    row = next(m for m in failing if m["metric"] == "validate_drp.PA1")
    assert (row["failing_level"], row["passing_level"]) == ("minimum", None)
    assert "minimum" in row["headline"]["tags"]
    # Its six failing variants (gri, uzy at each level) are one click away.
    assert len(row["specifications"]) == 6
    assert all(s.startswith("validate_drp.PA1.") for s in row["specifications"])
    # Failures of the loosest level first; AM1 fails only stretch and passes design.
    assert failing[0]["failing_level"] == "minimum"
    am1 = next(m for m in failing if m["metric"] == "validate_drp.AM1")
    assert (am1["failing_level"], am1["passing_level"]) == ("stretch", "design")
    html = client.get("/", headers=HTML).text
    assert html.count('data-testid="sparkline"') == 12
    table = html[html.index('data-testid="failing-specs"') :].split("</table>", 1)[0]
    assert table.count("<details>") == len(failing)


def test_open_regressions_are_grouped_by_commit_and_follow_triage(
    client: TestClient, factory: Factory, auth_headers: dict[str, str]
) -> None:
    jobs = factory.create_job_service()
    for job in generate_history(days=20):
        jobs.ingest(job, None)
    service = factory.create_regression_service()
    for series_id in service.series_ids():
        service.analyse(series_id)
    groups, _ = service.group_regressions(RegressionFilter(status="open"), "commit")
    assert groups
    body = _overview(client)
    shown = body["open_regressions"]
    assert [g["key"] for g in shown] == [g.key for g in groups]
    assert [[r["id"] for r in g["regressions"]] for g in shown] == [
        [r.id for r in g.regressions] for g in groups
    ]
    assert not body["open_regressions_truncated"]
    html = client.get("/", headers=HTML).text
    count = sum(len(g.regressions) for g in groups)
    assert f'data-testid="open-regression-count">{count}<' in html
    for r in groups[0].regressions:
        assert f'href="/regressions/{r.id}"' in html
    # Triage is seen at once, with no new job (the regressions are not cached).
    for r in groups[0].regressions:
        answer = client.patch(
            f"/api/regressions/{r.id}", json={"status": "acknowledged"}, headers=auth_headers
        )
        assert answer.status_code == 200
    after = _overview(client)["open_regressions"]
    assert [g["key"] for g in after] == [g.key for g in groups[1:]]


def test_hostile_dataset_and_metric_strings_are_escaped(
    client: TestClient, factory: Factory
) -> None:
    hostile = '"><img src=x onerror=alert(1)>'
    metrics = [Metric("x.m", unit="s", description=hostile)]
    jobs = factory.create_job_service()
    for night in range(2):
        job = Job(
            metrics=metrics,
            meta=_meta(hostile, night),
            identifier=f"hostile-{night}",
        )
        job.measure("x.m", 1.0 + night, data_id={"band": hostile})
        jobs.ingest(job.to_dict(), None)
    html = client.get("/", headers=HTML).text
    assert "<img src=x" not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    href = _cards(html)["x.m"]
    data_id = json.loads(parse_qs(urlsplit(href).query)["data_id"][0])
    assert data_id == {"band": hostile}


def test_empty_server_overview(client: TestClient) -> None:
    body = _overview(client)
    assert body["key_metrics"] == [] and body["failing_metrics"] == []
    assert body["open_regressions"] == []
    html = client.get("/", headers=HTML)
    assert html.status_code == 200 and "No main-line" in html.text
