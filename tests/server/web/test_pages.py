"""Every dashboard page: HTML and its JSON twin, permalinks, 404 pages, no CDN."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from vigil.server.factory import Factory
from vigil.server.handlers.squash import ENDPOINTS

from ._web_data import BRANCH, HTML, MAIN_RMS, History, make_job, store_history


@pytest.fixture
def history(factory: Factory) -> History:
    return store_history(factory)


def page_urls(history: History) -> list[str]:
    last = history.main[-1]
    return [
        "/",
        "/metrics",
        "/metrics?q=patch",
        "/metrics/demo.rms",
        "/metrics/demo.rms?x=commit",
        "/metrics/demo.rms?view=branch&last=3",
        "/metrics/demo.patch_rms/dataids",
        "/jobs",
        f"/jobs?branch={BRANCH}",
        f"/jobs/{last}",
        f"/jobs/{history.branch[0]}",
    ]


_ASSET = re.compile(r"""<(?:script|img|link|source|iframe)\b[^>]*?\b(?:src|href)=["']([^"']+)""")


def test_every_page_and_its_json_twin(client: TestClient, history: History) -> None:
    for url in page_urls(history):
        page = client.get(url, headers=HTML)
        assert page.status_code == 200, (url, page.text[:500])
        assert page.headers["content-type"].startswith("text/html")
        assert "<nav" in page.text and 'data-testid="page-title"' in page.text
        sep = "&" if "?" in url else "?"
        twin = client.get(f"{url}{sep}format=json")
        assert twin.status_code == 200, (url, twin.text[:500])
        assert twin.headers["content-type"].startswith("application/json")
        assert isinstance(twin.json(), dict)


def test_pages_load_nothing_from_the_internet(client: TestClient, history: History) -> None:
    for url in page_urls(history):
        html = client.get(url, headers=HTML).text
        assets = _ASSET.findall(html)
        assert assets, url
        remote = [a for a in assets if a.startswith(("http:", "https:", "//"))]
        assert remote == [], (url, remote)
        for asset in assets:
            if asset.startswith("/static/"):
                assert client.get(asset).status_code == 200, asset
    bokeh = client.get("/metrics/demo.rms", headers=HTML).text
    assert "/static/bokeh/js/bokeh.min.js" in bokeh
    # Absolute URLs appear only as links to CI runs and commits, never as assets.
    job = client.get(f"/jobs/{history.main[-1]}", headers=HTML).text
    links = re.findall(r'<a [^>]*href="(https?://[^"]+)"', job)
    assert links and all(
        u.startswith(("https://ci.example.org/", "https://github.com/")) for u in links
    ), links


def test_root_keeps_the_squash_endpoint_map_for_json_clients(
    client: TestClient, history: History
) -> None:
    for accept in ("application/json", "application/json; version=1.0", "*/*"):
        answer = client.get("/", headers={"Accept": accept})
        assert answer.status_code == 200
        assert set(answer.json()) == set(ENDPOINTS)
    assert "Overview" in client.get("/", headers=HTML).text
    assert client.get("/?format=json").json()["counts"]["jobs"] == len(history.main) + 2
    # The other paths the SQuaSH API shares keep its answers too.
    assert "ids" in client.get("/jobs", headers={"Accept": "application/json"}).json()
    assert "metrics" in client.get("/metrics", headers={"Accept": "application/json"}).json()


def test_private_server_pages_need_a_token_and_root_still_maps(
    make_app: Callable[..., FastAPI], history: History
) -> None:
    with TestClient(make_app(public_read=False)) as private:
        assert set(private.get("/", headers={"Accept": "application/json"}).json()) == set(
            ENDPOINTS
        )
        page = private.get("/", headers=HTML)
        assert page.status_code == 401
        assert "token" in page.text
        assert private.get("/metrics/demo.rms?format=json").status_code == 401


@pytest.mark.parametrize(
    ("url", "code", "named", "back"),
    [
        ("/metrics/demo.nope", "metric_not_found", "demo.nope", "/metrics"),
        ("/metrics/demo.nope/dataids", "metric_not_found", "demo.nope", "/metrics"),
        ("/jobs/999999", "job_not_found", "999999", "/jobs"),
        ("/jobs?branch=no-such-branch", "branch_not_found", "no-such-branch", "/jobs"),
        ("/metrics/demo.rms?branch=no-such-branch", "branch_not_found", "no-such-branch", "/jobs"),
    ],
)
def test_not_found_pages_say_what_and_link_back(
    client: TestClient, history: History, url: str, code: str, named: str, back: str
) -> None:
    page = client.get(url, headers=HTML)
    assert page.status_code == 404
    assert page.headers["content-type"].startswith("text/html")
    assert named in page.text
    assert f'href="{back}"' in page.text
    sep = "&" if "?" in url else "?"
    twin = client.get(f"{url}{sep}format=json")
    assert twin.status_code == 404
    assert twin.json()["detail"]["code"] == code
    assert named in twin.json()["detail"]["message"]


def test_bad_query_values_are_400_pages(client: TestClient, history: History) -> None:
    for url in (
        "/metrics/demo.rms?period=fortnight",
        "/metrics/demo.rms?x=sideways",
        '/metrics/demo.rms?data_id=["band"]',
        "/jobs/abc",
    ):
        page = client.get(url, headers=HTML)
        assert page.status_code in (400, 422), url
        assert "text/html" in page.headers["content-type"]
        assert client.get(url, headers={"Accept": "application/json"}).json()["detail"]["code"]


def test_a_refused_value_is_named_where_it_was(client: TestClient, history: History) -> None:
    path = client.get("/jobs/abc", headers={"Accept": "application/json"}).json()["detail"]
    assert path["message"].startswith("Path parameter `job_id` is invalid")
    query = client.get("/compare?a=x", headers={"Accept": "application/json"})
    assert query.json()["detail"]["message"].startswith("Query parameter `a` is invalid")
    squash = client.get("/jobs?limit=x", headers={"Accept": "application/json"}).json()
    assert squash["message"].startswith("Query parameter `limit` is invalid")


def test_overview_counts_latest_jobs_and_failing_specs(
    client: TestClient, history: History
) -> None:
    body: dict[str, Any] = client.get("/?format=json").json()
    assert body["counts"]["jobs"] == 8
    assert body["counts"]["metrics"] == 5
    assert body["counts"]["branches"] == 2
    assert body["latest_jobs"][0]["id"] == max(history.main + history.branch)
    failing = {f["spec"]: f for f in body["failing_specifications"]}
    # The newest main job: rms 4.2 passes; patches 3, 4, 5 fail demo.patch_rms.design.
    assert "demo.rms.design" not in failing
    assert failing["demo.patch_rms.design"]["failing"] == 3
    assert failing["demo.patch_rms.design"]["worst_value"] == 8.0
    assert failing["demo.patch_rms.design"]["worst_job_id"] == history.main[-1]
    html = client.get("/", headers=HTML).text
    assert "demo.patch_rms" in html and f"/jobs/{history.main[-1]}" in html


def test_the_overview_follows_a_new_job_at_once(
    client: TestClient, factory: Factory, history: History
) -> None:
    before = client.get("/?format=json").json()
    assert client.get("/?format=json").json() == before  # served again from the cache
    assert "demo.rms.design" not in {f["spec"] for f in before["failing_specifications"]}
    new = make_job(len(MAIN_RMS), rms=6.0).to_dict()
    job_id = factory.create_job_service().ingest(new, None).id
    after = client.get("/?format=json").json()
    assert after["counts"]["jobs"] == before["counts"]["jobs"] + 1
    assert after["counts"]["measurements"] > before["counts"]["measurements"]
    assert after["latest_jobs"][0]["id"] == job_id
    failing = {f["spec"]: f for f in after["failing_specifications"]}
    assert failing["demo.rms.design"]["worst_job_id"] == job_id


def test_metric_list_groups_by_package_and_searches(client: TestClient, history: History) -> None:
    body = client.get("/metrics?format=json").json()
    assert [p["package"] for p in body["packages"]] == ["demo"]
    entries = {m["name"]: m for m in body["packages"][0]["metrics"]}
    assert entries["demo.patch_rms"]["series_count"] == 7
    assert entries["demo.rms"]["spec_count"] == 3
    found = client.get("/metrics?q=PATCH&format=json").json()
    assert [m["name"] for p in found["packages"] for m in p["metrics"]] == ["demo.patch_rms"]
    none = client.get("/metrics?q=zzz", headers=HTML)
    assert "No metric matches" in none.text


def test_job_list_filters_round_trip(client: TestClient, history: History) -> None:
    url = f"/jobs?branch={BRANCH}&environment=github-actions&limit=1"
    body = client.get(url + "&format=json").json()
    assert body["filters"] == {"branch": BRANCH, "environment": "github-actions"}
    assert [j["id"] for j in body["jobs"]] == [history.branch[-1]]
    assert body["next_cursor"] is not None
    html = client.get(url, headers=HTML).text
    assert f'<option value="{BRANCH}" selected>' in html
    # The "older" link keeps every filter and adds the cursor.
    older = re.search(r'href="(/jobs\?[^"]*cursor=[^"]+)"', html)
    assert older is not None
    page2 = client.get(older.group(1).replace("&amp;", "&") + "&format=json").json()
    assert [j["id"] for j in page2["jobs"]] == [history.branch[0]]
    assert client.get("/jobs?pull_request=%237&format=json").json()["filters"] == {
        "pull_request": 7
    }
