"""The compare page over HTTP: pairs of jobs, a branch against its baseline, images, errors."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from vigil.demo import encode_png
from vigil.server.factory import Factory
from vigil.verify import Job, Metric, ThresholdSpecification

START = datetime(2026, 1, 1, 3, 0, tzinfo=UTC)
HTML = {"Accept": "text/html"}

# Baseline noise of about 0.1 around 10 (lower is better) and around 50 (no direction).
MAIN_VALUES = [10.0, 10.1, 9.9, 10.05, 9.95, 10.1, 9.9, 10.0, 10.15, 9.85]


def image(seed: int, bright: tuple[int, int] | None = None) -> bytes:
    pixels = np.full((16, 16, 3), 200, dtype=np.uint8)
    pixels[4:8, 4:8] = (seed * 40) % 256
    if bright is not None:
        pixels[bright] = (255, 0, 0)
    return encode_png(pixels)


def store(
    factory: Factory,
    name: str,
    *,
    branch: str,
    night: int,
    values: dict[str, float | None],
    dataset: str = "data_a",
    environment: str = "jenkins",
    images: dict[str, bytes] | None = None,
    packages: dict[str, str] | None = None,
) -> int:
    """Store one job of the test history (values by ``metric`` or ``metric@band``)."""
    job = Job(
        metrics=[
            Metric("pkg.rms", unit="mmag", direction="lower"),
            Metric("pkg.count", unit=""),
            Metric("pkg.flux", unit="%"),
            Metric("pkg.other", unit=""),
        ],
        specs=[ThresholdSpecification("pkg.flux.design", threshold_value=5.0, operator="<=")],
        meta={
            "instrument": "HSC",
            "filter_name": "r",
            "dataset": dataset,
            "env": {"env_name": environment, "date": (START + timedelta(days=night)).isoformat()},
            "git": {"branch": branch, "commit": f"{night:040x}"},
            "packages": {
                pkg: {"name": pkg, "eups_version": version}
                for pkg, version in (packages or {"afw": "1.0"}).items()
            },
        },
        identifier=name,
    )
    for key, value in values.items():
        metric, _, band = key.partition("@")
        job.measure(
            metric,
            float("nan") if value is None else value,
            data_id={"band": band} if band else None,
        )
    job_id = factory.create_job_service().ingest(job.to_dict(), None).id
    for file_name, content in (images or {}).items():
        factory.create_artifact_service().upload(
            job_id, file_name, io.BytesIO(content), "image/png"
        )
    return job_id


@pytest.fixture
def history(factory: Factory) -> dict[str, int]:
    """Ten main jobs, a branch job after them, and a main job after the branch's."""
    ids: dict[str, int] = {}
    for night, value in enumerate(MAIN_VALUES):
        ids[f"main{night}"] = store(
            factory,
            f"main-{night}",
            branch="main",
            night=night,
            values={
                "pkg.rms": value,
                "pkg.count": 50.0 + (value - 10.0),
                "pkg.flux@r": 3.0 + (value - 10.0) / 10,
                "pkg.flux@i": 3.1,
            },
            images={"res/a.png": image(1), "res/same.png": image(9)},
        )
    ids["branch"] = store(
        factory,
        "branch-1",
        branch="tickets/DM-1",
        night=10,
        values={"pkg.rms": 12.0, "pkg.count": 49.9, "pkg.flux@r": None, "pkg.flux@i": 3.1},
        images={"res/a.png": image(1, bright=(2, 2)), "res/same.png": image(9)},
        packages={"afw": "1.1", "numpy": "2.0"},
    )
    # Runs after the branch job: never its baseline.
    ids["later"] = store(factory, "main-later", branch="main", night=11, values={"pkg.rms": 100.0})
    # Another dataset on main: never the branch's baseline either.
    ids["other"] = store(
        factory,
        "other-data",
        branch="main",
        night=10,
        dataset="data_b",
        values={"pkg.other": 1.0},
    )
    return ids


def json_url(url: str) -> str:
    return url + ("&" if "?" in url else "?") + "format=json"


def twin(client: TestClient, url: str) -> Any:
    response = client.get(json_url(url))
    assert response.status_code == 200, response.text
    return response.json()


def row(page: dict[str, Any], metric: str, band: str | None = None) -> dict[str, Any]:
    data_id = {"band": band} if band else {}
    return next(d for d in page["deltas"] if d["metric"] == metric and d["data_id"] == data_id)


def test_a_branch_against_its_baseline(client: TestClient, history: dict[str, int]) -> None:
    page = twin(client, "/compare?branch=tickets/DM-1")
    assert page["mode"] == "branch"
    assert page["b"]["id"] == history["branch"]
    # The latest main job on the same data, environment and filter, run before the branch.
    assert page["a"]["id"] == history["main9"]
    assert page["history_branch"] == "main"
    assert page["permalink"] == f"/compare?a={history['main9']}&b={history['branch']}"
    assert page["total"] == 4

    rms = row(page, "pkg.rms")
    assert rms["a"] == pytest.approx(9.85) and rms["b"] == pytest.approx(12.0)
    assert rms["delta"] == pytest.approx(2.15)
    assert rms["percent"] == pytest.approx(100 * 2.15 / 9.85)
    assert rms["history"] == 10 and rms["sigma"] > 0
    # The delta is judged against the noise of a difference of two values.
    assert rms["sigma_delta"] == pytest.approx(rms["sigma"] * 2**0.5)
    assert rms["z"] > 3 and rms["p_value"] < 0.0027
    assert rms["change"] == "worse" and rms["unusual"] is True
    assert rms["direction"] == "lower"

    flux_r = row(page, "pkg.flux", "r")
    assert flux_r["b"] is None and flux_r["change"] == "became NaN"
    assert row(page, "pkg.flux", "i")["change"] == "unchanged"
    # Direction from the specification's operator, none for a metric without either.
    assert row(page, "pkg.flux", "i")["direction"] == "lower"
    assert row(page, "pkg.count")["direction"] is None
    assert row(page, "pkg.count")["change"] == "within noise"

    # Worst first: NaN, then the big rise.
    assert [d["metric"] for d in page["deltas"][:2]] == ["pkg.flux", "pkg.rms"]
    assert [d["rank"] for d in page["deltas"]] == [0, 1, 2, 3]
    assert page["counts"]["worse"] == 1 and page["counts"]["became NaN"] == 1

    assert [p["name"] for p in page["images"]] == ["res/a.png"]
    assert page["identical_images"] == ["res/same.png"]
    pair = page["images"][0]
    assert pair["a_sha256"] != pair["b_sha256"]
    for url in (pair["a_url"], pair["b_url"]):
        response = client.get(url)
        assert response.status_code == 200
        assert response.headers["content-type"] == "image/png"

    changes = {p["name"]: p for p in page["packages"]}
    assert changes["afw"]["change"] == "changed"
    assert (changes["afw"]["before"], changes["afw"]["after"]) == ("1.0", "1.1")
    assert changes["numpy"]["change"] == "added"


def test_two_jobs_and_the_html_page(client: TestClient, history: dict[str, int]) -> None:
    a, b = history["main5"], history["branch"]
    page = twin(client, f"/compare?a={a}&b={b}")
    assert page["mode"] == "jobs"
    assert (page["a"]["id"], page["b"]["id"]) == (a, b)
    # The noise comes from main up to and including job a: six points.
    assert row(page, "pkg.rms")["history"] == 6

    response = client.get(f"/compare?a={a}&b={b}", headers=HTML)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    html = response.text
    assert 'data-testid="delta-table"' in html
    # Six points say little about the noise: the rise of pkg.rms is judged with that
    # uncertainty (a Student t of few degrees of freedom), and the page shows the verdict.
    assert "became NaN" in html and f">{row(page, 'pkg.rms')['change']}<" in html
    assert "1 identical image (same SHA-256 in both jobs)" in html
    assert f"/api/jobs/{a}/artifacts/res/a.png" in html
    assert "/static/compare.js" in html and "/static/compare.css" in html
    assert html.count('data-testid="image-pair"') == 1


def test_history_parameter_limits_the_noise_window(
    client: TestClient, history: dict[str, int]
) -> None:
    page = twin(client, f"/compare?a={history['main9']}&b={history['branch']}&history=5")
    assert row(page, "pkg.rms")["history"] == 5
    assert page["filters"]["history"] == 5
    assert "history=5" in page["permalink"]


def test_not_enough_history(client: TestClient, history: dict[str, int]) -> None:
    page = twin(client, f"/compare?a={history['main2']}&b={history['branch']}")
    rms = row(page, "pkg.rms")
    assert rms["history"] == 3 and rms["sigma"] is None and rms["z"] is None
    assert rms["unusual"] is None
    html = client.get(f"/compare?a={history['main2']}&b={history['branch']}", headers=HTML)
    assert "not enough history" in html.text


def test_filters_and_sort_are_in_the_query_string(
    client: TestClient, history: dict[str, int]
) -> None:
    base = f"/compare?a={history['main9']}&b={history['branch']}"
    only = twin(client, base + "&unusual=true")
    assert {d["change"] for d in only["deltas"]} <= {"worse", "became NaN", "better", "changed"}
    assert only["total"] == 4 and len(only["deltas"]) == 2
    text = twin(client, base + "&q=band%3Di")
    assert [(d["metric"], d["data_id"]) for d in text["deltas"]] == [("pkg.flux", {"band": "i"})]
    by_b = twin(client, base + "&sort=b&dir=desc")
    assert [d["b"] for d in by_b["deltas"]] == [49.9, 12.0, 3.1, None]
    assert by_b["filters"] == {
        "q": None,
        "unusual": False,
        "sort": "b",
        "dir": "desc",
        "history": 30,
    }
    assert by_b["permalink"].endswith("&sort=b&dir=desc")
    html = client.get(base + "&q=rms&unusual=true", headers=HTML).text
    assert 'name="q" value="rms"' in html
    assert "checked" in html


def test_jobs_with_nothing_in_common(client: TestClient, history: dict[str, int]) -> None:
    url = f"/compare?a={history['other']}&b={history['branch']}"
    page = twin(client, url)
    assert page["in_common"] is False and page["deltas"] == []
    assert page["only_in_a"] == 1 and page["only_in_b"] == 4
    html = client.get(url, headers=HTML).text
    assert "These jobs have nothing in common" in html
    assert "compare tickets/DM-1 with its baseline" in html


@pytest.mark.parametrize(
    ("url", "status", "code", "words"),
    [
        ("/compare?a=1&b=999999", 404, "job_not_found", "No job has the id 999999"),
        ("/compare?branch=no-such-branch", 404, "branch_not_found", "'no-such-branch'"),
        ("/compare?branch=tickets/DM-1&baseline=release", 404, "not_found", "'release'"),
        ("/compare?a=1", 400, "invalid_request", "`b` is missing"),
        ("/compare?a=one&b=2", 400, "invalid_request", "`a`"),
        ("/compare?a=1&b=2&sort=colour", 400, "invalid_request", "colour"),
        ("/compare?a=1&b=2&history=1", 400, "invalid_request", "history"),
    ],
)
def test_bad_input(
    client: TestClient,
    history: dict[str, int],
    url: str,
    status: int,
    code: str,
    words: str,
) -> None:
    response = client.get(json_url(url))
    assert response.status_code == status
    assert response.json()["detail"]["code"] == code
    assert words in response.json()["detail"]["message"]
    page = client.get(url, headers=HTML)
    assert page.status_code == status
    assert page.headers["content-type"].startswith("text/html")
    assert words.replace("'", "&#39;") in page.text or words in page.text


def test_no_baseline_before_the_branch_job(client: TestClient, factory: Factory) -> None:
    store(factory, "early-branch", branch="feature", night=0, values={"pkg.rms": 1.0})
    store(factory, "late-main", branch="main", night=5, values={"pkg.rms": 1.0})
    response = client.get("/compare?branch=feature&format=json")
    assert response.status_code == 404
    message = response.json()["detail"]["message"]
    assert "No job of the baseline branch 'main'" in message and "data_a" in message


def test_the_index_lists_branches(client: TestClient, history: dict[str, int]) -> None:
    page = twin(client, "/compare")
    assert page["baseline"] == "main"
    assert [b["name"] for b in page["branches"]] == ["tickets/DM-1"]
    assert page["branches"][0]["compare_url"] == "/compare?branch=tickets%2FDM-1"
    html = client.get("/compare", headers=HTML).text
    assert "tickets/DM-1" in html and 'data-testid="branch-form"' in html
