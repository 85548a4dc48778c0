"""The metric page: series choice, filters, thresholds and failing points in the plot."""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient

from vigil.server.factory import Factory

from ._web_data import BRANCH, BRANCH_RMS, HTML, MAIN_RMS, History, make_job, store_history


@pytest.fixture
def history(factory: Factory) -> History:
    return store_history(factory)


def plot_item(html: str, target: str = "metric-plot") -> dict[str, Any]:
    """The Bokeh JSON item embedded in a page for *target*."""
    match = re.search(
        rf'<script type="application/json" data-bokeh-item="{target}">(.*?)</script>',
        html,
        re.S,
    )
    assert match is not None, f"no plot {target}"
    item: dict[str, Any] = json.loads(match.group(1).replace("<\\/", "</"))
    return item


def models_of(item: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    """Every model of type *kind* in a Bokeh JSON item."""
    found: list[dict[str, Any]] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") == "object" and node.get("name") == kind:
                found.append(node)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(item["doc"])
    return found


def source_named(item: dict[str, Any], name: str) -> dict[str, Any]:
    for cds in models_of(item, "ColumnDataSource"):
        if cds["attributes"].get("name") == name:
            data: dict[str, Any] = cds["attributes"]["data"]
            return data
    raise AssertionError(f"no source {name}")


def column_length(data: dict[str, Any], column: str) -> int:
    entries = dict(data["entries"])
    value = entries[column]
    if isinstance(value, dict) and value.get("type") == "ndarray":
        return int(value["shape"][0])
    return len(value)


def test_default_series_thresholds_and_failing_points(client: TestClient, history: History) -> None:
    body = client.get("/metrics/demo.rms?format=json").json()
    assert body["series"]["data_id"] == {"band": "r"}
    assert body["point_count"] == len(MAIN_RMS) + len(BRANCH_RMS)
    assert body["branches"] == ["main", BRANCH]
    thresholds = {t["spec"]["name"]: t for t in body["thresholds"]}
    # cfht_only's metadata_query does not match these HSC jobs; minimum converts mag.
    assert set(thresholds) == {"demo.rms.design", "demo.rms.minimum"}
    assert thresholds["demo.rms.minimum"]["value"] == pytest.approx(8.0)
    assert (
        thresholds["demo.rms.design"]["selected"] and not thresholds["demo.rms.minimum"]["selected"]
    )
    # design <= 5: main 5.5 and 6.0, branch 7.0 and 7.5 fail.
    assert body["failing_count"] == 4
    assert body["points"]["value"][: len(MAIN_RMS)] == MAIN_RMS
    assert body["points"]["branch"].count(BRANCH) == 2
    # Package changes: afw changed before night 3, meas added on night 5.
    changed = dict(zip(body["points"]["job_id"], body["points"]["packages_changed"], strict=True))
    assert [changed[j] for j in history.main] == [None, 0, 0, 1, 0, 1]

    item = plot_item(client.get("/metrics/demo.rms", headers=HTML).text)
    spans = models_of(item, "Span")
    assert [s["attributes"]["location"] for s in spans] == [5.0]
    assert column_length(source_named(item, "failing"), "value") == 4
    assert column_length(source_named(item, "branch:main"), "value") == len(MAIN_RMS)
    assert column_length(source_named(item, f"branch:{BRANCH}"), "value") == 2
    (tap,) = models_of(item, "TapTool")
    callback = tap["attributes"]["callback"]
    assert dict(callback["attributes"]["args"]["entries"])["job_url"] == "/jobs/@job_id"


def test_choosing_specifications_changes_lines_and_failures(
    client: TestClient, history: History
) -> None:
    body = client.get("/metrics/demo.rms?spec=minimum&format=json").json()
    assert [t["spec"]["name"] for t in body["thresholds"] if t["selected"]] == ["demo.rms.minimum"]
    assert body["failing_count"] == 0
    item = plot_item(client.get("/metrics/demo.rms?spec=minimum&spec=design", headers=HTML).text)
    assert sorted(s["attributes"]["location"] for s in models_of(item, "Span")) == [5.0, 8.0]


PATCH4 = {"tract": 9813, "patch": 4, "band": "r"}


def test_filters_round_trip_through_the_query_string(client: TestClient, history: History) -> None:
    url = (
        "/metrics/demo.patch_rms?dataset=data_a&band=r&environment=jenkins&period=all"
        f"&x=commit&branch=main&data_id={quote(json.dumps(PATCH4))}"
    )
    body = client.get(url + "&format=json").json()
    assert body["state"] == {
        "dataset": "data_a",
        "data_id": {"tract": 9813, "patch": 4, "band": "r"},
        "band": "r",
        "environment": "jenkins",
        "period": "all",
        "x": "commit",
        "view": "time",
        "branch": ["main"],
        "spec": None,
        "last": 10,
    }
    assert body["points"]["value"] == [7.0] * len(MAIN_RMS)
    assert body["failing_count"] == len(MAIN_RMS)  # 7 > 5.5
    html = client.get(url, headers=HTML).text
    # The page shows the state it was given: the permalink restores it.
    assert '<option value="data_a" selected>' in html
    assert '<option value="jenkins" selected>' in html
    assert 'class="on" data-testid="xaxis-commit"' in html
    assert 'data-points="6"' in html
    assert "patch=4" in html
    # The x-axis switch keeps every other filter.
    time_link = re.search(r'<a href="([^"]+)" class="" data-testid="xaxis-time"', html)
    assert time_link is not None
    assert "x=" not in time_link.group(1) and "environment=jenkins" in time_link.group(1)


def test_environment_and_branch_filters(client: TestClient, history: History) -> None:
    ci = client.get("/metrics/demo.rms?environment=github-actions&format=json").json()
    assert ci["points"]["value"] == BRANCH_RMS
    main = client.get("/metrics/demo.rms?branch=main&format=json").json()
    assert main["points"]["value"] == MAIN_RMS
    assert main["branches"] == ["main", BRANCH]  # what the control offers


def test_by_branch_view(client: TestClient, history: History) -> None:
    html = client.get("/metrics/demo.rms?view=branch&last=3", headers=HTML).text
    item = plot_item(html)
    boxes = source_named(item, "boxes")
    assert dict(boxes["entries"])["branch"] == ["main", BRANCH, f"main ({BRANCH})"]
    # Points: main's last 3 and the branch's 2; main over the branch's period is a box.
    assert column_length(source_named(item, "points"), "value") == 3 + 2
    assert dict(boxes["entries"])["n"] == [3, 2, 3]
    assert [s["attributes"]["location"] for s in models_of(item, "Span")] == [5.0]


@pytest.mark.parametrize(
    ("metric", "message", "points"),
    [
        ("demo.allnan", "All 6 values are NaN", 6),
        ("demo.once", "Only one measurement", 1),
        ("demo.never", "has no measurements yet", 0),
    ],
)
def test_degenerate_series_render_and_say_so(
    client: TestClient, history: History, metric: str, message: str, points: int
) -> None:
    page = client.get(f"/metrics/{metric}", headers=HTML)
    assert page.status_code == 200
    assert message in page.text
    body = client.get(f"/metrics/{metric}?format=json").json()
    assert message in body["message"] and body["point_count"] == points
    if metric == "demo.once":
        assert plot_item(page.text)  # one point is still drawn


def test_no_series_for_the_filters(client: TestClient, history: History) -> None:
    body = client.get("/metrics/demo.rms?dataset=elsewhere&format=json").json()
    assert body["series"] is None and "matches these filters" in body["message"]
    assert client.get("/metrics/demo.rms?dataset=elsewhere", headers=HTML).status_code == 200


def test_a_new_job_shows_at_once_though_pages_are_drawn_from_a_cache(
    client: TestClient, factory: Factory, history: History
) -> None:
    before = client.get("/metrics/demo.rms?format=json").json()
    plot_before = plot_item(client.get("/metrics/demo.rms", headers=HTML).text)
    # The same request again comes from the process's caches, unchanged.
    assert client.get("/metrics/demo.rms?format=json").json() == before
    job = make_job(len(MAIN_RMS), rms=4.25).to_dict()
    job_id = factory.create_job_service().ingest(job, None).id
    after = client.get("/metrics/demo.rms?format=json").json()
    assert after["point_count"] == before["point_count"] + 1
    assert after["points"]["job_id"][-1] == job_id and after["points"]["value"][-1] == 4.25
    plot_after = plot_item(client.get("/metrics/demo.rms", headers=HTML).text)
    main = "branch:main"
    assert column_length(source_named(plot_before, main), "value") == len(MAIN_RMS)
    assert column_length(source_named(plot_after, main), "value") == len(MAIN_RMS) + 1
