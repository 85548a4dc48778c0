"""Deleting a job or a metric (administrators): all or nothing, recorded in the audit log,
regressions re-anchored and their series analysed again, no cache serving what is gone.

Runs on SQLite and PostgreSQL (the ``db_url`` fixtures of ``tests/server/conftest.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select, text

from vigil.server.config import Settings
from vigil.server.dbschema import SqlAnalysisQueueItem, SqlMeasurement, SqlSeries
from vigil.server.domain import Role
from vigil.server.domain.audit import Actor
from vigil.server.domain.regressions import RegressionFilter
from vigil.server.factory import Factory
from vigil.server.storage.dashboard import DashboardStore

from ._support import history, ingest, make_job

PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000001e221bc330000000049454e44ae426082"
)


@pytest.fixture
def admin(factory: Factory) -> dict[str, str]:
    users = factory.create_user_service()
    users.create_user("root", is_admin=True)
    return {"Authorization": f"Bearer {users.create_token('root').text}"}


def _regression(factory: Factory, metric: str = "validate_drp.PA1") -> Any:
    page = factory.create_regression_service().list_regressions(
        RegressionFilter(kind="regression", metric=metric), limit=10
    )
    assert len(page.items) == 1, page.items
    return page.items[0]


def _count(factory: Factory, stmt: Any) -> int:
    try:
        return int(factory.session.scalar(stmt) or 0)
    finally:
        factory.session.rollback()


def test_deleting_a_job_moves_its_regressions_and_queues_its_series(
    client: TestClient,
    factory: Factory,
    admin: dict[str, str],
    auth_headers: dict[str, str],
    run_worker: Callable[[], Any],
    settings: Settings,
) -> None:
    ids = ingest(factory, history())
    run_worker()
    found = _regression(factory)
    first_bad = found.first_bad.id
    assert first_bad == ids[20]
    triaged = client.patch(
        f"/api/regressions/{found.id}", json={"status": "acknowledged"}, headers=auth_headers
    )
    assert triaged.status_code == 200
    upload = client.post(
        f"/api/jobs/{first_bad}/artifacts",
        files={"files": ("residuals.png", PNG, "image/png")},
        headers=auth_headers,
    )
    assert upload.status_code == 201
    store = Path(settings.effective_artifact_url)
    assert [p for p in store.rglob("*") if p.is_file()]
    dashboard = DashboardStore(factory.session)
    series_id = factory.session.scalar(
        select(SqlSeries.id).where(SqlSeries.metric_name == "validate_drp.PA1")
    )
    assert series_id is not None
    versions = (dashboard.data_version(), dashboard.series_version(series_id))
    factory.session.rollback()

    assert client.delete(f"/api/jobs/{first_bad}", headers=auth_headers).status_code == 403
    answer = client.delete(f"/api/jobs/{first_bad}", headers=admin)
    assert answer.status_code == 200, answer.text
    entry = answer.json()
    assert (entry["action"], entry["actor"], entry["target"]) == (
        "job.delete",
        "root",
        f"job {first_bad}",
    )
    summary = entry["summary"]
    assert summary["measurements"] == 2 and summary["artifacts"] == 1
    assert summary["regressions_moved"] == 1 and summary["regressions_removed"] == 0

    assert client.get(f"/api/jobs/{first_bad}").status_code == 404
    assert _count(factory, select(func.count()).where(SqlMeasurement.job_id == first_bad)) == 0
    assert [p for p in store.rglob("*") if p.is_file() and not p.name.startswith(".")] == []
    moved = factory.create_regression_service().get(found.id)
    assert moved.regression.first_bad.id == ids[21]
    assert moved.regression.status == "acknowledged"  # the triage is kept
    assert "Job" in (moved.events[-1].note or "") and moved.events[-1].action == "moved"
    # Every series of the (main-line) job waits for analysis, which then runs cleanly.
    queued = _count(factory, select(func.count()).select_from(SqlAnalysisQueueItem))
    assert queued == 2
    report = run_worker()
    assert report.analysis.series == 2
    again = _regression(factory)
    assert again.id == found.id and again.first_bad.id in (ids[21], ids[19])
    # Versions the dashboard caches are keyed on changed, though the newest ids did not.
    assert (dashboard.data_version(), dashboard.series_version(series_id)) != versions
    factory.session.rollback()

    audit = client.get("/api/audit", headers=admin).json()["items"]
    assert audit[0]["action"] == "job.delete" and audit[0]["summary"] == summary
    assert client.get("/api/audit", headers=auth_headers).status_code == 403
    assert client.delete(f"/api/jobs/{first_bad}", headers=admin).status_code == 404


def test_deleting_a_metric_takes_its_series_measurements_specs_and_regressions(
    client: TestClient,
    factory: Factory,
    admin: dict[str, str],
    auth_headers: dict[str, str],
    run_worker: Callable[[], Any],
) -> None:
    spec = {
        "name": "validate_drp.PA1.design",
        "metric": "validate_drp.PA1",
        "threshold": {"operator": "<=", "value": 11.0, "unit": "mmag"},
        "tags": [],
    }
    jobs = history()
    jobs[0]["specs"] = [spec]
    # This process learns the series ids and definitions as it stores jobs.
    for job in jobs[:-1]:
        assert client.post("/api/jobs", json=job, headers=auth_headers).status_code == 201
    run_worker()
    assert _regression(factory).series.metric_name == "validate_drp.PA1"
    job_count = client.get("/api/jobs?limit=100").json()["items"]

    # Another process (here a factory of its own, like `vigil metric delete`) deletes it.
    with Factory.standalone(factory.settings) as other:
        entry = other.create_deletion_service().delete_metric(
            "validate_drp.PA1", Actor("cli:someone")
        )
    assert entry.summary == {
        "definition": True,
        "specifications": 1,
        "series": 1,
        "measurements": 25,
        "jobs": 25,
        "regressions": 1,  # the change point, with the specification it makes fail inside
    }
    assert client.get("/api/metrics/validate_drp.PA1").status_code == 404
    assert client.get("/api/specifications/validate_drp.PA1.design").status_code == 404
    assert client.get("/api/series?metric=validate_drp.PA1").json()["items"] == []
    assert client.get("/api/regressions?metric=validate_drp.PA1").json()["items"] == []
    assert client.get("/api/metrics/validate_drp.AM1").status_code == 200  # the other stays
    assert len(client.get("/api/jobs?limit=100").json()["items"]) == len(job_count)
    # The server process must not reuse the ids it remembered: a new job measuring the
    # metric stores it afresh, definition included.
    stored = client.post("/api/jobs", json=jobs[-1], headers=auth_headers)
    assert stored.status_code == 201, stored.text
    metric = client.get("/api/metrics/validate_drp.PA1")
    assert metric.status_code == 200 and metric.json()["unit"] == "mmag"
    assert len(client.get("/api/series?metric=validate_drp.PA1").json()["items"]) == 1

    # Through the API: administrators only; unknown names are 404.
    assert client.delete("/api/metrics/validate_drp.AM1", headers=auth_headers).status_code == 403
    assert client.delete("/api/metrics/nothing.here", headers=admin).status_code == 404
    done = client.delete("/api/metrics/validate_drp.AM1", headers=admin)
    assert done.status_code == 200 and done.json()["summary"]["measurements"] == 26
    actions = [e["action"] for e in client.get("/api/audit", headers=admin).json()["items"]]
    assert actions[:2] == ["metric.delete", "metric.delete"]


def test_a_deletion_that_fails_half_way_leaves_everything(
    factory: Factory, run_worker: Callable[[], Any], db_url: str
) -> None:
    ids = ingest(factory, history(baseline=8, after=0))
    postgres = db_url.startswith("postgresql")
    bind = factory.session.get_bind()
    assert isinstance(bind, Engine)
    with bind.begin() as connection:
        if postgres:
            connection.execute(
                text(
                    "CREATE FUNCTION refuse_delete() RETURNS trigger AS"
                    " $$ BEGIN RAISE EXCEPTION 'refused by the test'; END $$ LANGUAGE plpgsql"
                )
            )
            connection.execute(
                text(
                    "CREATE TRIGGER refuse BEFORE DELETE ON jobs FOR EACH ROW"
                    " EXECUTE FUNCTION refuse_delete()"
                )
            )
        else:
            connection.execute(
                text(
                    "CREATE TRIGGER refuse BEFORE DELETE ON jobs"
                    " BEGIN SELECT RAISE(ABORT, 'refused by the test'); END"
                )
            )
    try:
        with pytest.raises(Exception, match="refused by the test|nothing was deleted"):
            factory.create_deletion_service().delete_job(ids[3], Actor("test"))
        measurements = _count(factory, select(func.count()).where(SqlMeasurement.job_id == ids[3]))
        assert measurements == 2
        assert factory.create_audit_service().list(limit=5).items == []
    finally:
        with bind.begin() as connection:
            connection.execute(text("DROP TRIGGER refuse" + (" ON jobs" if postgres else "")))
            if postgres:
                connection.execute(text("DROP FUNCTION refuse_delete()"))


def test_a_branch_job_leaves_the_analysis_alone(
    factory: Factory, run_worker: Callable[[], Any]
) -> None:
    ingest(factory, history(baseline=8, after=0))
    (branch_job,) = ingest(factory, [make_job(9, {"validate_drp.PA1": 10.0}, branch="u/x")])
    run_worker()
    entry = factory.create_deletion_service().delete_job(branch_job, Actor("test"))
    assert entry.summary["series"] == 1 and entry.summary["series_reanalysed"] == 0
    assert Role.ADMIN.value == "admin"
