"""The metric page chooses the richest series, drops stale filters, and shows a selected
point's code changes."""

from __future__ import annotations

import re
from typing import Any

from fastapi.testclient import TestClient

from vigil.server.factory import Factory

from ..regressions._support import make_job
from ._web_data import HTML

PA1 = "validate_drp.PA1"


def job(
    night: int, data_id: dict[str, Any] | None, *, branch: str = "main", value: float = 10.0
) -> dict[str, Any]:
    """A job measuring PA1 for *data_id* (none: the aggregate without dataId)."""
    body = make_job(night, {PA1: value}, branch=branch)
    body["identifier"] += f"-{sorted((data_id or {}).items())}"
    if data_id is not None:
        body["measurements"][0]["data_id"] = data_id
    sha = body["meta"]["git"]["commit"]
    # validate_drp is built from the job's commit; afw changes every 5 nights.
    body["meta"]["packages"] = {
        "validate_drp": {
            "git_sha": sha,
            "git_url": "https://github.com/lsst/validate_drp.git",
            "eups_version": f"v{night}",
        },
        "afw": {
            "git_sha": f"{night // 5:040x}",
            "git_url": "https://github.com/lsst/afw.git",
            "eups_version": f"w.{night // 5}",
        },
    }
    return body


def test_the_page_opens_on_the_series_with_most_main_line_points(
    client: TestClient, factory: Factory
) -> None:
    jobs = factory.create_job_service()
    # The aggregate (no dataId) measured once, the r band every night, the i band on a
    # branch many times but twice on main.
    jobs.ingest(job(0, None), None)
    for night in range(1, 9):
        jobs.ingest(job(night, {"band": "r"}), None)
    for night in range(1, 3):
        jobs.ingest(job(night, {"band": "i"}), None)
    for night in range(3, 15):
        jobs.ingest(job(night, {"band": "i"}, branch="tickets/DM-7"), None)

    body = client.get(f"/metrics/{PA1}?format=json").json()
    assert body["series"]["data_id"] == {"band": "r"}
    assert body["point_count"] == 8
    # The picker offers the others, the richest first, with their point counts.
    html = client.get(f"/metrics/{PA1}", headers=HTML).text
    picker = re.search(r'data-testid="series-picker">(.*?)</details>', html, re.S)
    assert picker is not None
    # r (8 on main), i (2 on main, 14 in all), the aggregate (1).
    counts = re.findall(r"([\d,]+) points?</span>", picker.group(1))
    assert counts == ["8", "14", "1"]


def test_a_choice_drops_the_filters_it_makes_impossible(
    client: TestClient, factory: Factory
) -> None:
    jobs = factory.create_job_service()
    for night in range(4):
        jobs.ingest(job(night, {"band": "r"}), None)
    other = job(9, {"band": "g"})
    other["meta"]["dataset"] = "validation_data_cfht"
    other["meta"]["git"].pop("branch")  # a job without branch: the "(no branch)" line
    jobs.ingest(other, None)

    asked = "dataset=validation_data_hsc&band=g&branch=%28no+branch%29"
    body = client.get(f"/metrics/{PA1}?{asked}&format=json").json()
    assert body["series"]["data_id"] == {"band": "r"}
    assert body["point_count"] == 4
    assert body["state"]["band"] is None and body["state"]["branch"] is None
    html = client.get(f"/metrics/{PA1}?{asked}", headers=HTML).text
    assert 'data-testid="dropped-filters"' in html
    assert "band=g" in html and "branch=(no branch)" in html
    # The permalink and the page's links leave the dropped filters out.
    replace = re.search(r'<meta name="vigil-replace-url" content="([^"]+)">', html)
    assert replace is not None
    assert "dataset=validation_data_hsc" in replace.group(1)
    assert "band" not in replace.group(1) and "branch" not in replace.group(1)
    link = re.search(r'<a href="([^"]+)" class="" data-testid="xaxis-commit"', html)
    assert link is not None and "branch" not in link.group(1)

    # A filter the chosen series has is kept, with no notice.
    kept = client.get(f"/metrics/{PA1}?dataset=validation_data_hsc&branch=main", headers=HTML)
    assert 'data-testid="dropped-filters"' not in kept.text


def test_a_selected_point_shows_its_job_value_and_code_changes(
    client: TestClient, factory: Factory
) -> None:
    jobs = factory.create_job_service()
    ids = [jobs.ingest(job(night, {"band": "r"}, value=2.5e-5), None).id for night in range(4, 7)]
    body = client.get(f"/metrics/{PA1}?format=json").json()
    key = body["series"]["series_key"]
    html = client.get(f"/metrics/{PA1}", headers=HTML).text
    assert 'data-testid="point-panel"' in html and f"series={key}" in html

    # Night 5 after night 4: afw moved (4 // 5 = 0 to 1) and validate_drp's commit.
    url = f"/metrics/{PA1}/point?series={key}&job={ids[1]}&base={ids[0]}"
    point = client.get(url + "&format=json").json()
    assert point["job"]["id"] == ids[1] and point["base"]["id"] == ids[0]
    assert point["value"] == 2.5e-5
    packages = {p["name"]: p for p in point["packages"]}
    assert set(packages) == {"afw", "validate_drp"}
    assert packages["validate_drp"]["author"] == "Chen"  # the author of night 5's commit
    assert packages["afw"]["author"] is None
    assert packages["afw"]["compare_url"] == (
        f"https://github.com/lsst/afw/compare/{0:040x}...{1:040x}"
    )
    page = client.get(url, headers=HTML).text
    assert 'id="point-detail"' in page and "2.500e-05" in page
    assert f'href="/jobs/{ids[1]}"' in page
    assert "https://github.com/lsst/afw/compare/" in page

    # Without a base: the previous comparable job; the first one has none.
    assert (
        client.get(f"/metrics/{PA1}/point?job={ids[2]}&format=json").json()["base"]["id"]
        == (ids[1])
    )
    first = client.get(f"/metrics/{PA1}/point?job={ids[0]}", headers=HTML).text
    assert "nothing to compare with" in first
    missing = client.get(f"/metrics/{PA1}/point?job=999999&format=json")
    assert missing.status_code == 404
