"""The monitor's pages: HTML and JSON twin of each, forms behind a log-in."""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.testclient import TestClient

from monitor._events import Runner


@pytest.fixture
def stored(client: TestClient, auth_headers: dict[str, str]) -> dict[str, Any]:
    runner = Runner()
    announce = {
        "type": "pipeline",
        "time": "2026-05-01T00:00:00Z",
        "pipeline": "ql",
        "description": {"units": ["b0", "r0"], "flavors": {}, "trends": []},
    }
    _, first = runner.processing(
        "00000001",
        ["b0", "r0"],
        fail={"r0": 2},
        qa={("b0", "NOISE_AMP"): ("warning", 4.2)},
        lines={"r0": ["ValueError: planted failure in r0"]},
        airmass=1.2,
        seeing=0.9,
        sky_brightness=21.0,
        observed_at="2026-05-01T03:00:00Z",
        program="dark",
    )
    _, second = runner.processing(
        "00000002",
        ["b0", "r0"],
        flavor="flat",
        airmass=1.5,
        seeing=1.4,
        sky_brightness=20.1,
        observed_at="2026-05-01T03:20:00Z",
        end=False,
    )
    for events in ([announce], first, second):
        assert (
            client.post(
                "/api/monitor/events", json=runner.batch(events), headers=auth_headers
            ).status_code
            == 200
        )
    history = client.get("/api/monitor/processings", params={"order": "asc"}).json()["items"]
    return {"first": history[0], "second": history[1]}


def _html(client: TestClient, url: str, **params: Any) -> str:
    response = client.get(url, params=params, headers={"Accept": "text/html"})
    assert response.status_code == 200, response.text[:500]
    assert response.headers["content-type"].startswith("text/html")
    html: str = response.text
    return html


def test_the_live_page_embeds_its_state_and_loads_the_live_client(
    client: TestClient, stored: dict[str, Any]
) -> None:
    html = _html(client, "/monitor")
    assert (
        'data-monitor="live"' in html
        and "/static/monitor.js" in html
        and "/static/monitor.css" in html
    )
    state = re.search(
        r'<script type="application/json" id="monitor-state">(.*?)</script>', html, re.S
    )
    assert state and '"exposure":"00000002"' in state.group(1)
    twin = client.get("/monitor", params={"format": "json"}).json()
    assert twin["pipeline"] == "ql" and twin["current"]["processing"]["exposure"] == "00000002"
    assert twin["current"]["processing"]["status"] == "running"
    assert [a["kind"] for a in twin["alerts"]] == ["failed", "warning"]
    assert 'href="/login?next=/monitor"' in html  # not logged in: no start/stop button
    assert client.get("/static/monitor.js").status_code == 200
    # A JSON client of /monitor still gets SQuaSH's monitor feed.
    assert "value" in client.get("/monitor", headers={"Accept": "application/json"}).json()


def test_history_page(client: TestClient, stored: dict[str, Any]) -> None:
    html = _html(client, "/monitor/processings", sort="exposure", order="asc")
    rows = re.findall(r'data-testid="history-row" data-id="\d+" data-exposure="(\d+)"', html)
    assert rows == ["00000001", "00000002"]
    assert 'data-testid="qa-bad"' in html  # the warning of the first processing
    assert 'data-testid="sort-airmass"' in html
    twin = client.get("/monitor/processings", params={"format": "json", "flavor": "flat"}).json()
    assert [p["exposure"] for p in twin["items"]] == ["00000002"] and twin["filters"] == {
        "flavor": "flat"
    }
    assert twin["choices"]["flavor"] == ["flat", "science"]
    paged = client.get(
        "/monitor/processings", params={"format": "json", "limit": 1, "offset": 1}
    ).json()
    assert paged["total"] == 2 and [p["exposure"] for p in paged["items"]] == ["00000001"]
    assert 'data-testid="page-prev"' in _html(client, "/monitor/processings", limit=1, offset=1)


def test_processing_page_and_a_comment_through_the_form(
    client: TestClient, stored: dict[str, Any], token: str
) -> None:
    first = stored["first"]["id"]
    html = _html(client, f"/monitor/processings/{first}")
    assert 'data-testid="failed-units"' in html and "ValueError: boom" in html
    assert f'href="/login?next=/monitor/processings/{first}"' in html
    twin = client.get(f"/monitor/processings/{first}", params={"format": "json"}).json()
    assert twin["processing"]["failed_count"] == 1
    missing = client.get("/monitor/processings/999", headers={"Accept": "text/html"})
    assert missing.status_code == 404 and "No processing has the id 999" in missing.text

    # Log in with the token, then comment with the page's CSRF token.
    login_page = client.get("/login", headers={"Accept": "text/html"}).text
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', login_page).group(1)  # type: ignore[union-attr]
    assert (
        client.post(
            "/login", data={"token": token, "csrf_token": csrf}, follow_redirects=False
        ).status_code
        == 303
    )
    page = _html(client, f"/monitor/processings/{first}")
    assert 'data-testid="comment-form"' in page
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    sent = client.post(
        f"/monitor/processings/{first}/comments",
        data={"text": "Shutter stuck on r0.", "csrf_token": csrf},
        follow_redirects=False,
    )
    assert sent.status_code == 303
    assert "Shutter stuck on r0." in _html(client, f"/monitor/processings/{first}")
    forged = client.post(
        f"/monitor/processings/{first}/comments", data={"text": "x", "csrf_token": "nope"}
    )
    assert forged.status_code == 403

    # The live page now offers to stop the pipeline, and stopping it works.
    live = _html(client, "/monitor")
    assert 'data-testid="state-form"' in live and "Stop pipeline" in live
    assert (
        client.post(
            "/monitor/pipelines/ql/state",
            data={"state": "stopped", "csrf_token": csrf},
            follow_redirects=False,
        ).status_code
        == 303
    )
    assert client.get("/api/monitor/pipelines/ql").json()["desired_state"] == "stopped"
    assert "Start pipeline" in _html(client, "/monitor")


def test_exposures_trends_and_logs_pages(client: TestClient, stored: dict[str, Any]) -> None:
    html = _html(client, "/monitor/exposures")
    assert html.count('data-testid="exposure-row"') == 2
    assert (
        client.get("/monitor/exposures", params={"format": "json", "flavor": "flat"}).json()[
            "total"
        ]
        == 1
    )

    trends = _html(client, "/monitor/trends", key="NOISE_AMP", preset="all")
    assert (
        'data-bokeh-item="trend-plot"' in trends
        and 'data-bokeh-item="conditions-scatter"' in trends
    )
    assert "/static/bokeh/js/bokeh.min.js" in trends
    twin = client.get(
        "/monitor/trends",
        params={
            "format": "json",
            "key": "NOISE_AMP",
            "preset": "all",
            "x": "airmass",
            "y": "seeing",
        },
    ).json()
    assert {s["unit"] for s in twin["trend"]["series"]} == {"b0", "r0"}
    assert len(twin["conditions"]["points"]) == 2 and twin["units"] == ["b0", "r0"]

    logs = _html(client, "/monitor/logs", regex="planted failure")
    assert 'data-testid="search-results"' in logs and "ValueError: planted failure in r0" in logs
    assert 'data-testid="failed-process"' in logs
    bad = client.get(
        "/monitor/logs", params={"regex": "(unclosed"}, headers={"Accept": "text/html"}
    )
    assert bad.status_code == 400 and "does not compile" in bad.text
    run = stored["first"]["log_run_id"]
    page = _html(client, f"/monitor/logs/{run}", unit="r0")
    assert 'data-monitor="run"' in page and "checkpoint" in page and "planted failure" in page
    twin_run = client.get(
        f"/monitor/logs/{run}", params={"format": "json", "checkpoints": "true"}
    ).json()
    assert twin_run["run"]["units"] == ["b0", "r0"]
    assert all(line["checkpoint"] for line in twin_run["lines"]["items"])
