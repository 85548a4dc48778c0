"""The overlay page: series matched by partial dataIds, grouped into lines with ranges."""

from __future__ import annotations

import json
import statistics
from datetime import timedelta
from typing import Any
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient

from vigil.server.factory import Factory
from vigil.server.middleware import BOKEH_POLICY
from vigil.verify import Job, Metric

from ._web_data import HTML, START
from .test_metric_page import models_of, plot_item, source_named

METRIC = "ovl.rms"
NIGHTS = 6
BANDS = ("g", "r", "i")
PATCHES = (40, 41)
HOSTILE = '</script><script>alert("x")</script>'


def level(data_id: dict[str, Any], night: int) -> float:
    """The value of a series on a night: known, so that the ranges are known."""
    band = 10.0 * (1 + BANDS.index(data_id["band"])) if data_id.get("band") in BANDS else 50.0
    patch = data_id.get("patch")
    return band + (patch - 39 if isinstance(patch, int) else 0) + (night % 3) / 10


DATA_IDS: list[dict[str, Any]] = [
    *({"band": b} for b in BANDS),
    *({"tract": 9813, "patch": p, "band": b} for p in PATCHES for b in BANDS),
    # A string "40" is not the number 40.
    {"tract": 9813, "patch": "40", "band": "r"},
    {"band": HOSTILE},
]


def job(night: int, *, dataset: str = "data_a", branch: str = "main") -> dict[str, Any]:
    j = Job(
        metrics=[Metric(METRIC, unit="mmag", description="Overlaid")],
        meta={
            "instrument": "HSC",
            "dataset": dataset,
            "env": {"env_name": "jenkins", "date": (START + timedelta(days=night)).isoformat()},
            "git": {"branch": branch, "commit": f"{night + 1:040x}"},
        },
        identifier=f"overlay-{dataset}-{branch}-{night}",
    )
    for data_id in DATA_IDS if dataset == "data_a" else [{"band": "r"}]:
        j.measure(METRIC, level(data_id, night), data_id=data_id)
    return j.to_dict()


@pytest.fixture
def stored(factory: Factory) -> None:
    jobs = factory.create_job_service()
    for night in range(NIGHTS):
        jobs.ingest(job(night), None)
    jobs.ingest(job(1, dataset="data_b"), None)
    jobs.ingest(job(NIGHTS, branch="tickets/DM-9"), None)


def overlay(client: TestClient, **params: Any) -> dict[str, Any]:
    query = {k: json.dumps(v) if isinstance(v, dict) else v for k, v in params.items()}
    response = client.get(f"/metrics/{METRIC}/overlay", params={**query, "format": "json"})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_by_band_draws_each_band_aggregate_with_its_range(client: TestClient, stored: None) -> None:
    body = overlay(client, by="band")
    assert [line["label"] for line in body["lines"]] == ["g", "r", "i", HOSTILE]
    assert body["state"]["dataset"] == "data_a"
    assert body["state"]["branch"] == "main"
    for line in body["lines"][:3]:
        band = line["label"]
        assert line["series"]["data_id"] == {"band": band}
        values = [level({"band": band}, n) for n in range(NIGHTS)]
        assert line["points"]["value"] == values
        # Each band also has per-patch series, not drawn (r also has the "40" one).
        assert line["others"] == len(PATCHES) + (band == "r")
        expected = line["expected"]
        assert expected["centre"] == pytest.approx(statistics.median(values))
        assert expected["count"] == NIGHTS
        assert expected["low"] < expected["centre"] < expected["high"]
        assert line["url"] == (
            f"/metrics/{METRIC}?data_id="
            + quote(json.dumps({"band": band}, separators=(",", ":")))
            + "&dataset=data_a"
        )


def test_partial_data_id_matches_like_the_api(client: TestClient, stored: None) -> None:
    body = overlay(client, by="band", data_id={"patch": 40})
    assert [line["label"] for line in body["lines"]] == list(BANDS)
    for line in body["lines"]:
        assert line["series"]["data_id"] == {"tract": 9813, "patch": 40, "band": line["label"]}
    assert body["matched"] == len(BANDS)
    api = client.get("/api/series", params={"metric": METRIC, "data_id": '{"patch": 40}'})
    api_keys = {s["series_key"] for s in api.json()["items"] if s["dataset"] == "data_a"}
    assert {line["series"]["series_key"] for line in body["lines"]} == api_keys
    # The string "40" matches only itself.
    body = overlay(client, by="band", data_id={"patch": "40"})
    assert [line["series"]["data_id"]["patch"] for line in body["lines"]] == ["40"]
    # Several keys must all match.
    body = overlay(client, by="patch", data_id={"band": "i", "tract": 9813})
    assert [line["label"] for line in body["lines"]] == ["patch=40", "patch=41"]


def test_by_patch_orders_numbers_and_keeps_labels_apart(client: TestClient, stored: None) -> None:
    body = overlay(client, by="patch", data_id={"band": "r"})
    labels = [line["label"] for line in body["lines"]]
    assert labels[:2] == ["patch=40", "patch=41"]
    # The text "40" comes after the numbers, with a label of its own.
    assert labels[2].startswith("patch=40 (#") and labels[2].endswith(")")
    # The aggregate {"band": "r"} has no patch.
    assert body["without_key"] == 1
    assert "without 'patch' is not drawn" in body["message"]


def test_by_dataset_and_by_series(client: TestClient, stored: None) -> None:
    body = overlay(client, by="dataset", data_id={"band": "r"})
    assert [line["label"] for line in body["lines"]] == ["data_a", "data_b"]
    assert body["state"]["dataset"] is None
    assert body["lines"][1]["points"]["value"] == [level({"band": "r"}, 1)]
    body = overlay(client, by="series", data_id={"tract": 9813, "band": "g"})
    assert [line["label"] for line in body["lines"]] == [
        "band=g, patch=40, tract=9813",
        "band=g, patch=41, tract=9813",
    ]
    assert body["options"]["keys"] == ["dataset", "band", "patch", "tract", "series"]


def test_branch_and_commit_order(client: TestClient, stored: None) -> None:
    body = overlay(client, by="band", branch="tickets/DM-9", x="commit")
    assert [len(line["points"]["job_id"]) for line in body["lines"]] == [1, 1, 1, 1]
    # Ranges are the main line's: none when another branch is drawn.
    assert all(line["expected"] is None for line in body["lines"])
    html = client.get(f"/metrics/{METRIC}/overlay?x=commit", headers=HTML).text
    item = plot_item(html, "overlay-plot")
    ticks = source_named(item, "ticks")
    assert dict(ticks["entries"])["x"]["shape"] == [NIGHTS]


def test_page_draws_one_legend_entry_per_line(client: TestClient, stored: None) -> None:
    response = client.get(f"/metrics/{METRIC}/overlay?data_id=%7B%22patch%22%3A40%7D", headers=HTML)
    assert response.status_code == 200
    # BokehJS compiles the plot's callbacks: the page gets the policy that allows it.
    assert response.headers["content-security-policy"] == BOKEH_POLICY
    item = plot_item(response.text, "overlay-plot")
    labels = [m["attributes"]["label"]["value"] for m in models_of(item, "LegendItem")]
    assert labels == list(BANDS)
    for i in range(len(BANDS)):
        assert source_named(item, f"band:{i}")
    # The form keeps the partial dataId, escaped for its attribute.
    assert 'value="{&#34;patch&#34;:40}"' in response.text
    assert 'data-testid="overlay-lines"' in response.text


def test_hostile_values_are_escaped(client: TestClient, stored: None) -> None:
    html = client.get(f"/metrics/{METRIC}/overlay", headers=HTML).text
    assert HOSTILE not in html
    assert "&lt;/script&gt;&lt;script&gt;alert" in html
    labels = [
        m["attributes"]["label"]["value"]
        for m in models_of(plot_item(html, "overlay-plot"), "LegendItem")
    ]
    assert labels[-1] == HOSTILE
    # A quote in a dataId value is a value, not SQL.
    body = overlay(client, data_id={"band": "r' OR '1'='1"})
    assert body["lines"] == [] and body["matched"] == 0
    assert "No series of ovl.rms whose dataId contains" in body["message"]


def test_nothing_to_draw_and_errors(client: TestClient, stored: None) -> None:
    body = overlay(client, by="visit")
    assert body["lines"] == []
    assert "has a dataId key 'visit'" in body["message"]
    html = client.get(f"/metrics/{METRIC}/overlay?by=visit", headers=HTML).text
    assert 'data-testid="overlay-plot" data-points="0"' in html
    missing = client.get("/metrics/no.such/overlay?format=json")
    assert missing.status_code == 404
    assert missing.json()["detail"]["code"] == "metric_not_found"
    assert client.get("/metrics/no.such/overlay", headers=HTML).status_code == 404
    bad = client.get(f"/metrics/{METRIC}/overlay?format=json&data_id=%5B40%5D")
    assert bad.status_code == 400 and bad.json()["detail"]["field"] == "data_id"
    bad = client.get(f"/metrics/{METRIC}/overlay?format=json&period=2d")
    assert bad.status_code == 400 and bad.json()["detail"]["field"] == "period"


def test_period_limits_points(client: TestClient, stored: None) -> None:
    body = overlay(client, by="band", period="7d")
    assert body["since"] is not None
    assert len(body["lines"][0]["points"]["job_id"]) == NIGHTS
    body = overlay(client, by="band", period="all")
    assert body["since"] is None


def test_metric_page_links_here_and_draws_the_main_line_band(
    client: TestClient, stored: None
) -> None:
    html = client.get(f"/metrics/{METRIC}", headers=HTML).text
    assert f'href="/metrics/{METRIC}/overlay?dataset=data_a"' in html
    item = plot_item(html)
    assert "centre" in dict(source_named(item, "expected")["entries"])
    labels = [m["attributes"]["label"]["value"] for m in models_of(item, "LegendItem")]
    assert "expected range" in labels
