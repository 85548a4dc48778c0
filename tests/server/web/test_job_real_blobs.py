"""The job page of the real validate_drp job that ``dispatch_verify.py`` posted (2018).

Its 25 blobs with arrays repeat ``AM1``'s and ``AM2``'s arrays in twelve ``AD``/``AF``
blobs and keep two-value ``magRange`` and ``annulus`` parameters in every astrometry
blob: the page draws what those arrays mean, once, and lists the rest.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

import pytest
from fastapi.testclient import TestClient

from vigil.plots.blob import blob_plot
from vigil.server.handlers.web import _blob_plots

from ._web_data import HTML
from .test_metric_page import column_length, models_of, plot_item, source_named

JSON = {"Content-Type": "application/json"}
FIGURE = re.compile(
    r'<div id="blob-\d+" data-testid="blob-figure">.*?<strong>(.*?)</strong>.*?'
    r'data-bokeh-item="(blob-plot-\d+)"',
    re.S,
)


@pytest.fixture
def job_id(client: TestClient, auth_headers: dict[str, str], verify_job_bytes: bytes) -> int:
    posted = client.post("/api/jobs", content=verify_job_bytes, headers={**auth_headers, **JSON})
    assert posted.status_code in (200, 201), posted.text
    return int(posted.json()["id"])


@pytest.fixture
def drawn(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The titles of the blob figures Vigil draws from now on."""
    titles: list[str] = []
    real = blob_plot

    def counting(data: Any, **kwargs: Any) -> Any:
        titles.append(kwargs["title"])
        return real(data, **kwargs)

    monkeypatch.setattr(_blob_plots, "blob_plot", counting)
    _blob_plots._DRAWN.clear()
    return titles


def figures(html: str) -> dict[str, dict[str, Any]]:
    """The page's drawn blob figures by blob name."""
    return {name: plot_item(html, target) for name, target in FIGURE.findall(html)}


def axis_labels(item: dict[str, Any]) -> list[str]:
    return [m["attributes"]["axis_label"] for m in models_of(item, "LinearAxis")]


def resolve(datum: Any, arrays: dict[str, list[Any]]) -> Any:
    if isinstance(datum, dict) and set(datum) == {"array"}:
        return arrays[datum["array"]]
    if isinstance(datum, dict) and isinstance(datum.get("value"), dict):
        return {**datum, "value": resolve(datum["value"], arrays)}
    return datum


def nan_as_none(value: Any) -> Any:
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, list):
        return [nan_as_none(v) for v in value]
    if isinstance(value, dict):
        return {k: nan_as_none(v) for k, v in value.items()}
    return value


def test_the_json_twin_sends_each_array_once_and_draws_nothing(
    client: TestClient, job_id: int, verify_job_bytes: bytes, drawn: list[str]
) -> None:
    answer = client.get(f"/jobs/{job_id}?format=json")
    assert answer.status_code == 200
    assert drawn == []  # no figure built for the twin
    assert '"doc"' not in answer.text and "bokeh" not in answer.text.lower()
    body = answer.json()
    sent = {b["name"]: b for b in body["blobs"]}
    source = json.loads(verify_job_bytes)["blobs"]
    assert len(sent) == len(source) == 33
    # Every datum comes back whole once its references are resolved.
    for blob in source:
        data = {k: resolve(v, body["arrays"]) for k, v in sent[blob["name"]]["data"].items()}
        assert data == nan_as_none(blob["data"]), blob["name"]
    # AM1's rmsDistMas is the same array in AD1_design and AF1_design: one key.
    keys = {
        name: sent[name]["data"]["rmsDistMas"]["value"]["array"]
        for name in ("validate_drp.AM1", "validate_drp.AD1_design", "validate_drp.AF1_design")
    }
    assert len(set(keys.values())) == 1
    refs = [
        v["value"]["array"]
        for b in body["blobs"]
        for v in b["data"].values()
        if isinstance(v, dict) and isinstance(v.get("value"), dict)
    ]
    assert len(body["arrays"]) == len(set(refs)) < len(refs)
    assert body["truncated_arrays"] == []


def test_default_plots_follow_what_the_blobs_mean(
    client: TestClient, job_id: int, drawn: list[str]
) -> None:
    html = client.get(f"/jobs/{job_id}", headers=HTML).text
    shown = figures(html)
    # One figure per distinct meaningful drawing: 25 blobs with arrays, 6 figures.
    assert set(shown) == {
        "MatchedMultiVisitDataset",
        "validate_drp.AM1",
        "validate_drp.AM2",
        "validate_drp.PA1",
        "validate_drp.TE1",
        "validate_drp.TE2",
    }
    assert sorted(drawn) == sorted(shown)
    for item in shown.values():  # no two-point parameter is drawn by default
        assert not any("annulus" in a or "magRange" in a for a in axis_labels(item))
    # validate_drp's own plots: RMS against magnitude, PA1's differences of pairs
    # (its first random sample), the correlation function against radius.
    assert set(axis_labels(shown["MatchedMultiVisitDataset"])) == {
        # validate_drp's labels hold the filter datum's value and description
        # ("RMS(r\nFilter name)"): drawn on one line.
        "RMS(r) [mag]",
        "r [mag]",
    }
    matched = source_named(shown["MatchedMultiVisitDataset"], "blob")
    assert column_length(matched, "x") == 4894
    pa1 = source_named(shown["validate_drp.PA1"], "blob")
    assert column_length(pa1, "x") == 266
    assert any("row 1 of 50" in a for a in axis_labels(shown["validate_drp.PA1"]))
    assert set(axis_labels(shown["validate_drp.TE1"])) == {"radius [arcmin]", "xip"}
    # AM1: the distribution of the metric's own quantity (marcsec), a histogram.
    am1 = shown["validate_drp.AM1"]
    assert models_of(am1, "Quad") and not models_of(am1, "Scatter")
    assert "RMS [marcsec]" in axis_labels(am1)
    # The blobs holding the same arrays are named under AM1's figure, each a link.
    same = re.search(r'data-testid="blob-same-as">(.*?)</p>', html, re.S)
    assert same is not None
    for name in ("AD1_design", "AF1_design", "AD1_minimum", "AF1_stretch"):
        assert f"validate_drp.{name}</a>" in same.group(1)
    # AM3 and its specifications' blobs have only parameters: listed, one click away.
    undrawn = re.search(r'data-testid="blobs-not-drawn">(.*?)</div>', html, re.S)
    assert undrawn is not None
    assert "validate_drp.AM3" in undrawn.group(1) and "magRange: 2 values" in undrawn.group(1)
    # Scalars (PhotometricErrorModel's m5, AM1's D) are in the values table.
    assert re.search(r"<td>PhotometricErrorModel</td><td class=\"mono\">m5</td>", html)


def test_a_listed_blob_is_drawn_by_its_link(
    client: TestClient, job_id: int, drawn: list[str]
) -> None:
    html = client.get(f"/jobs/{job_id}", headers=HTML).text
    body = client.get(f"/jobs/{job_id}?format=json").json()
    am3 = next(b["identifier"] for b in body["blobs"] if b["name"] == "validate_drp.AM3")
    # The arrays by name, whatever order the database keeps the blob's keys in.
    link = re.search(rf'href="([^"]*blob_x\.{am3}=annulus&amp;blob_y\.{am3}=magRange)"', html)
    assert link is not None
    again = client.get(link.group(1).replace("&amp;", "&"), headers=HTML).text
    item = figures(again)["validate_drp.AM3"]
    assert column_length(source_named(item, "blob"), "x") == 2


def test_figures_are_drawn_once_per_job_and_choice(
    client: TestClient, job_id: int, drawn: list[str]
) -> None:
    first = client.get(f"/jobs/{job_id}", headers=HTML).text
    count = len(drawn)
    assert count == 6
    second = client.get(f"/jobs/{job_id}", headers=HTML).text
    assert len(drawn) == count and figures(second) == figures(first)
    body = client.get(f"/jobs/{job_id}?format=json").json()
    te1 = next(b["identifier"] for b in body["blobs"] if b["name"] == "validate_drp.TE1")
    chosen = client.get(f"/jobs/{job_id}?blob_x.{te1}=xip_err&blob_y.{te1}=", headers=HTML)
    assert chosen.status_code == 200 and len(drawn) == 2 * count
    assert models_of(figures(chosen.text)["validate_drp.TE1"], "Quad")


def test_every_kind_of_datum_chosen_answers(client: TestClient, job_id: int) -> None:
    body = client.get(f"/jobs/{job_id}?format=json").json()
    # A null array, parameters, scalars, a table of samples, text and a boolean.
    picks = {"validate_drp.AM3", "validate_drp.PA1", "MatchedMultiVisitDataset"}
    for blob in (b for b in body["blobs"] if b["name"] in picks):
        for name in blob["data"]:
            ident = blob["identifier"]
            page = client.get(f"/jobs/{job_id}?blob_x.{ident}={name}", headers=HTML)
            assert page.status_code == 200, (blob["name"], name)
            assert "blob-plot-" in page.text
