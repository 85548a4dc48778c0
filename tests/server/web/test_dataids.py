"""The per-dataId page of a metric: table and colour-coded grid."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from vigil.server.factory import Factory

from ._web_data import HTML, History, store_history
from .test_metric_page import column_length, models_of, plot_item, source_named


@pytest.fixture
def history(factory: Factory) -> History:
    return store_history(factory)


def test_values_per_patch_of_the_newest_job(client: TestClient, history: History) -> None:
    body = client.get("/metrics/demo.patch_rms/dataids?format=json").json()
    assert body["job"]["id"] == history.main[-1]
    assert (body["row_key"], body["col_key"]) == ("tract", "patch")
    assert body["threshold"]["spec"]["name"] == "demo.patch_rms.design"
    statuses = {r["data_id"].get("patch"): r["status"] for r in body["rows"]}
    assert statuses == {
        None: "pass",
        0: "pass",
        1: "pass",
        2: "pass",
        3: "fail",
        4: "fail",
        5: "fail",
    }
    html = client.get("/metrics/demo.patch_rms/dataids", headers=HTML).text
    assert 'data-testid="dataid-table"' in html
    item = plot_item(html, "dataid-plot")
    cells = source_named(item, "cells")
    assert column_length(cells, "value") == 6  # the aggregate stays in the table only
    mapper = models_of(item, "LinearColorMapper")[0]["attributes"]
    assert mapper["low"] + mapper["high"] == pytest.approx(11.0)  # centred on 5.5


def test_an_older_job_and_a_missing_job(client: TestClient, history: History) -> None:
    body = client.get(f"/metrics/demo.patch_rms/dataids?job={history.main[0]}&format=json").json()
    assert body["job"]["id"] == history.main[0]
    aggregate = [r for r in body["rows"] if "patch" not in r["data_id"]]
    assert aggregate[0]["value"] == 4.0
    page = client.get("/metrics/demo.patch_rms/dataids?job=999999", headers=HTML)
    assert page.status_code == 404 and "999999" in page.text


def test_a_metric_without_a_varying_dataid(client: TestClient, history: History) -> None:
    page = client.get("/metrics/demo.once/dataids", headers=HTML)
    assert page.status_code == 200
    assert "nothing to lay on a grid" in page.text
    never = client.get("/metrics/demo.never/dataids?format=json").json()
    assert never["job"] is None and "No job has measured" in never["message"]
