"""The log search page: a time window, and lines labelled by their exposure and unit."""

from __future__ import annotations

import re
from typing import Any

from fastapi.testclient import TestClient

from monitor._events import Runner


def _processings(client: TestClient, auth_headers: dict[str, str]) -> list[dict[str, Any]]:
    runner = Runner()
    for exposure in ("00000101", "00000102"):
        _, events = runner.processing(
            exposure, ["b0", "r0"], lines={"r0": [f"ValueError: bad fibre in {exposure}"]}
        )
        response = client.post(
            "/api/monitor/events", json=runner.batch(events), headers=auth_headers
        )
        assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = client.get(
        "/api/monitor/processings", params={"order": "asc"}
    ).json()["items"]
    return items


def _search(client: TestClient, **params: str) -> Any:
    return client.get("/monitor/logs", params=params, headers={"Accept": "text/html"})


def test_a_time_window_finds_the_lines_labelled_by_exposure(
    client: TestClient, auth_headers: dict[str, str]
) -> None:
    processings = _processings(client, auth_headers)
    lines = client.get("/api/logs/lines", params={"q": "bad fibre", "order": "asc"}).json()["items"]
    assert [line["run_title"] for line in lines] == ["ql exposure 00000101", "ql exposure 00000102"]
    # From the second processing's bad line on: only that one, named by its exposure and
    # unit (not by the processing's key).
    page = _search(client, q="bad fibre", since=lines[1]["time"])
    assert page.status_code == 200, page.text[:300]
    labels = re.findall(r'data-testid="line-run"[^>]*>([^<]*)</a>', page.text)
    assert labels == ["ql exposure 00000102 · r0"]
    assert 'title="monitor/ql/' in page.text and processings[1]["exposure"] == "00000102"
    assert 'value="' + lines[1]["time"] + '"' in page.text
    # A window alone is a search; its JSON twin says the same.
    twin = client.get(
        "/monitor/logs", params={"until": lines[1]["time"], "level": "ERROR", "format": "json"}
    ).json()
    assert [(x["run_title"], x["unit"]) for x in twin["search"]["items"]] == [
        ("ql exposure 00000101", "r0")
    ]
    window = client.get(
        "/monitor/logs",
        params={"since": lines[0]["time"], "until": lines[1]["time"], "format": "json"},
    ).json()
    times = [x["time"] for x in window["search"]["items"]]
    assert times and all(lines[0]["time"] <= t < lines[1]["time"] for t in times)
    ids = {x["id"] for x in window["search"]["items"]}
    assert lines[0]["id"] in ids and lines[1]["id"] not in ids


def test_a_bad_time_is_named_on_the_page(client: TestClient) -> None:
    bad = _search(client, since="last night")
    assert bad.status_code == 400
    assert "since: &#39;last night&#39; is not an ISO 8601 time" in bad.text
    backwards = _search(client, since="2026-05-02", until="2026-05-01")
    assert backwards.status_code == 400 and "must be after since" in backwards.text
