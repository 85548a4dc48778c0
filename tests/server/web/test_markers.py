"""Regressions found by the background analysis are marked on the metric page's plot."""

from __future__ import annotations

import json

from fastapi.testclient import TestClient

from vigil.server.domain.regressions import RegressionFilter
from vigil.server.factory import Factory
from vigil.server.services.dashboard import MetricQuery

from ..regressions._support import make_job


def test_a_found_regression_is_marked_and_linked(client: TestClient, factory: Factory) -> None:
    jobs = factory.create_job_service()
    for night in range(40):
        level = 10.0 if night < 25 else 13.0  # +30 % from night 25
        jobs.ingest(make_job(night, {"validate_drp.PA1": level}), None)
    factory.create_worker_service().run_once()
    found = factory.create_regression_service().list_regressions(RegressionFilter(), limit=10)
    (record,) = found.items

    page = client.get("/metrics/validate_drp.PA1")
    assert page.status_code == 200
    assert '"markers"' in page.text and f"#{record.id} regression" in page.text
    assert "/regressions/@id" in page.text  # a click on the marker opens the record

    without = client.get("/metrics/validate_drp.AM1")
    assert "regression / improvement" not in without.text


def test_markers_in_the_plot_functions() -> None:
    import pandas as pd

    from vigil import plots

    frame = pd.DataFrame(
        {
            "value": [1.0, 1.1, 2.0, 2.1],
            "time": pd.to_datetime(["2026-01-01", "2026-01-02", "2026-01-03", "2026-01-04"]),
            "branch": ["main"] * 4,
            "job_id": [1, 2, 3, 4],
        }
    )
    data = plots.series_data(frame, markers=[plots.Marker(3, "regression", "#7 regression", 7)])
    assert data.sources["markers"]["id"] == [7]
    assert data.sources["markers"]["value"] == [2.0]
    hidden = plots.series_data(frame, markers=[plots.Marker(99, "regression", "gone", 8)])
    assert hidden.sources["markers"]["id"] == []
    fig = plots.series_plot(frame, markers=[plots.Marker(3, "improvement", "#7", 7)])
    assert any(r.name == "markers" for r in fig.renderers)
    json.dumps(data.layout)  # the layout stays a plain, hashable description


def test_many_branches_show_main_and_the_most_recent(client: TestClient, factory: Factory) -> None:
    jobs = factory.create_job_service()
    for night in range(5):
        jobs.ingest(make_job(night, {"validate_drp.PA1": 10.0}), None)
    for i in range(12):
        jobs.ingest(make_job(10 + i, {"validate_drp.PA1": 10.0}, branch=f"tickets/DM-{i}"), None)
    view = client.get("/metrics/validate_drp.PA1", params={"format": "json"}).json()
    text = json.dumps(view)
    assert "tickets/DM-11" in text and "tickets/DM-4" in text
    shown = (
        factory.create_dashboard_service()
        .metric_view("validate_drp.PA1", MetricQuery())
        .shown_branches
    )
    assert shown[0] == "main" and len(shown) == 9
    assert "tickets/DM-0" not in shown and "tickets/DM-11" in shown
