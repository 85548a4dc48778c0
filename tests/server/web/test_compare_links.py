"""The compare page's rows name their series, its noise comes from the same period, and
its package table lists the commits from A to B with their authors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import orjson
import pytest
from fastapi.testclient import TestClient

from vigil.server.factory import Factory
from vigil.verify import Job, Metric

JUNE = datetime(2026, 6, 1, 3, 0, tzinfo=UTC)
SEPTEMBER = datetime(2026, 9, 1, 3, 0, tzinfo=UTC)
REPO = "https://github.com/lsst/scarlet_lite"


def store(
    factory: Factory,
    name: str,
    *,
    at: datetime,
    branch: str,
    values: dict[str, float],
    sha: str | None = None,
    author: str | None = None,
    data_ids: dict[str, dict[str, Any]] | None = None,
) -> int:
    """One deblender job: ``values`` by metric (``data_ids`` gives one a dataId)."""
    job = Job(
        metrics=[Metric("deblend.runtime", unit="s", direction="lower")],
        meta={
            "dataset": "cosmos",
            "instrument": "HSC",
            "env": {"env_name": "github-actions", "date": at.isoformat()},
            "git": {"branch": branch, "commit": sha, "author": author},
            "packages": {
                "scarlet_lite": {
                    "name": "scarlet_lite",
                    "git_url": f"{REPO}.git",
                    "git_sha": sha,
                    "eups_version": f"1.0+g{(sha or '0')[:7]}",
                },
                "numpy": {"name": "numpy", "eups_version": "2.0"},
            },
        },
        identifier=name,
    )
    for key, value in values.items():
        metric = key.partition("#")[0]
        job.measure(metric, value, data_id=(data_ids or {}).get(key))
    return factory.create_job_service().ingest(job.to_dict(), None).id


def twin(client: TestClient, url: str) -> Any:
    response = client.get(url + ("&" if "?" in url else "?") + "format=json")
    assert response.status_code == 200, response.text
    return response.json()


def test_rows_link_to_their_own_series(client: TestClient, factory: Factory) -> None:
    data_ids = {"deblend.runtime#blend": {"blend": "cosmos-091", "band": "i"}}
    ids = [
        store(
            factory,
            f"main-{n}",
            at=JUNE + timedelta(days=n),
            branch="main",
            values={"deblend.runtime": 10.0 + n, "deblend.runtime#blend": 1.0 + n / 10},
            data_ids=data_ids,
        )
        for n in range(2)
    ]
    page = twin(client, f"/compare?a={ids[0]}&b={ids[1]}")
    rows = {orjson.dumps(d["data_id"], option=orjson.OPT_SORT_KEYS): d for d in page["deltas"]}
    blend = rows[b'{"band":"i","blend":"cosmos-091"}']
    aggregate = rows[b"{}"]
    assert blend["dataset"] == "cosmos"
    for row, data_id in ((blend, {"band": "i", "blend": "cosmos-091"}), (aggregate, {})):
        url = urlsplit(row["metric_url"])
        query = parse_qs(url.query)
        assert url.path == "/metrics/deblend.runtime"
        assert query["dataset"] == ["cosmos"]
        assert orjson.loads(query["data_id"][0]) == data_id
        # The link opens the metric page on exactly that series.
        metric_page = twin(client, row["metric_url"])
        assert metric_page["series"]["data_id"] == data_id
        assert metric_page["points"]["value"] == pytest.approx([row["a"], row["b"]])

    html = client.get(f"/compare?a={ids[0]}&b={ids[1]}", headers={"Accept": "text/html"}).text
    assert "data_id=%7B%22band%22%3A%22i%22%2C%22blend%22%3A%22cosmos-091%22%7D" in html


def test_the_noise_comes_from_the_baselines_own_period(
    client: TestClient, factory: Factory
) -> None:
    """Main changed in September; a June branch is judged against June's main line,
    even when September's jobs were received first."""
    september = [
        store(
            factory,
            f"main-sep-{n}",
            at=SEPTEMBER + timedelta(days=n),
            branch="main",
            values={"deblend.runtime": 5.0 + (n % 2) * 2.0},
        )
        for n in range(8)
    ]
    june_values = [10.0, 10.1, 9.9, 10.05, 9.95, 10.1, 9.9, 10.0]
    june = [
        store(
            factory,
            f"main-jun-{n}",
            at=JUNE + timedelta(days=n),
            branch="main",
            values={"deblend.runtime": value},
        )
        for n, value in enumerate(june_values)
    ]
    branch = store(
        factory,
        "branch",
        at=JUNE + timedelta(days=8, hours=6),
        branch="tickets/DM-7",
        values={"deblend.runtime": 10.05},
    )
    page = twin(client, "/compare?branch=tickets/DM-7")
    # The baseline is main's last job before the branch's, not the newest main job.
    assert page["a"]["id"] == june[-1] and page["b"]["id"] == branch
    assert max(september) < min(june)
    (row,) = page["deltas"]
    # The noise of June's main line alone: September's jumps of 2 s are not in it.
    assert row["history"] == len(june_values)
    assert row["sigma"] < 0.3
    assert row["change"] == "within noise"

    # A history window ending at a June job never reaches into September either.
    pair = twin(client, f"/compare?a={june[3]}&b={branch}&history=5")
    (row,) = pair["deltas"]
    assert row["history"] == 4  # June's first four jobs: fewer than 5 points
    assert row["sigma"] is None


def test_package_table_lists_commits_and_authors(client: TestClient, factory: Factory) -> None:
    shas = [f"{n:x}" * 40 for n in range(1, 6)]
    authors = ["Ada Lovelace", "Grace Hopper", "Katherine Johnson", "Mary Jackson", "Annie Easley"]
    ids = [
        store(
            factory,
            f"main-{n}",
            at=JUNE + timedelta(days=n),
            branch="main",
            values={"deblend.runtime": 10.0},
            sha=sha,
            author=author,
        )
        for n, (sha, author) in enumerate(zip(shas, authors, strict=True))
    ]
    page = twin(client, f"/compare?a={ids[1]}&b={ids[4]}")
    (package,) = [p for p in page["packages"] if p["name"] == "scarlet_lite"]
    assert package["change"] == "changed"
    assert package["compare_url"] == f"{REPO}/compare/{shas[1]}...{shas[4]}"
    # The commits after A's, up to B's, newest first, each with its author.
    assert [(c["sha"], c["author"]) for c in package["commits"]] == [
        (shas[4], authors[4]),
        (shas[3], authors[3]),
        (shas[2], authors[2]),
    ]
    assert package["commits"][0]["url"] == f"{REPO}/commit/{shas[4]}"
    assert package["commits_complete"] is True

    html = client.get(f"/compare?a={ids[1]}&b={ids[4]}", headers={"Accept": "text/html"}).text
    for author in authors[2:]:
        assert author in html
    assert authors[1] not in html.split('data-testid="packages"')[1]


def test_a_branch_lists_its_own_commits(client: TestClient, factory: Factory) -> None:
    base = store(
        factory,
        "main",
        at=JUNE,
        branch="main",
        values={"deblend.runtime": 10.0},
        sha="a" * 40,
        author="Main Author",
    )
    pushes = [
        store(
            factory,
            f"push-{n}",
            at=JUNE + timedelta(hours=n + 1),
            branch="tickets/DM-9",
            values={"deblend.runtime": 10.0},
            sha=sha,
            author="<b>Pat</b> O'Brien",
        )
        for n, sha in enumerate(["b" * 40, "c" * 40])
    ]
    page = twin(client, "/compare?branch=tickets/DM-9")
    assert (page["a"]["id"], page["b"]["id"]) == (base, pushes[-1])
    (package,) = [p for p in page["packages"] if p["name"] == "scarlet_lite"]
    assert [c["sha"][0] for c in package["commits"]] == ["c", "b"]
    # The branch was read back to its first job: no commit of it is missing.
    assert package["commits_complete"] is True
    assert {c["author"] for c in package["commits"]} == {"<b>Pat</b> O'Brien"}
    html = client.get("/compare?branch=tickets/DM-9", headers={"Accept": "text/html"}).text
    assert "<b>Pat</b>" not in html and "&lt;b&gt;Pat&lt;/b&gt;" in html
